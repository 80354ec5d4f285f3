"""Per-layer and per-head analysis of transformer attention.

Does any single layer or head of [CLS] attention agree with causal importance better
than the usual summaries (last-layer mean, all-layer mean)? Every layer's and head's
[CLS] row is compared with each causal method (:mod:`analysis.heads.agreement`), shown
as layer x head heatmaps (:mod:`analysis.heads.figures`), and "the best head" is chosen
on a held-out selection split disjoint from the explained examples and evaluated on
the explained examples, beside the optimistic post-hoc choice made on the explained
examples themselves (:mod:`analysis.heads.selection`).
"""

from analysis.heads.agreement import head_agreement, head_units, summarize_heads
from analysis.heads.selection import optimism_interval, select_units, selection_set

__all__ = ["head_agreement", "head_units", "optimism_interval", "select_units", "selection_set", "summarize_heads"]
