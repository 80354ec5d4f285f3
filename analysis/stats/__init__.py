"""Statistics over instances: bootstrap intervals and summary tables (:mod:`.bootstrap`)."""

from analysis.stats.bootstrap import bootstrap_ci, summarize_agreement

__all__ = ["bootstrap_ci", "summarize_agreement"]
