"""Statistics over instances: intervals and the agreement summary (:mod:`.intervals`), paired
comparisons (:mod:`.paired`) and the tests that decide published claims (:mod:`.hypothesis`)."""

from analysis.stats.intervals import interval, mean_interval, median_interval, proportion_interval, summarize_agreement

__all__ = ["interval", "mean_interval", "median_interval", "proportion_interval", "summarize_agreement"]
