"""Figures of the study and their shared look.

:mod:`analysis.plots.figures` holds pure functions from a tidy table (columns as in
:mod:`analysis.records`) to a matplotlib Figure; :mod:`analysis.plots.style` holds the
readable labels, the colour-blind-safe colours and the theme. The figures are drawn
on matplotlib's non-interactive Agg canvas without pyplot, so importing this package
neither needs a display nor changes the caller's matplotlib backend.
"""

from analysis.plots.figures import (
    MAX_WORDS_PER_PANEL,
    NO_DATA_TEXT,
    accuracy_bars,
    agreement_by_length,
    agreement_distributions,
    agreement_matrix,
    token_heatmaps,
)
from analysis.plots.style import (
    PAIR_KIND_COLORS,
    PAIR_KIND_LABELS,
    apply_style,
    method_label,
    method_palette,
    metric_label,
)

__all__ = [
    "MAX_WORDS_PER_PANEL",
    "NO_DATA_TEXT",
    "PAIR_KIND_COLORS",
    "PAIR_KIND_LABELS",
    "accuracy_bars",
    "agreement_by_length",
    "agreement_distributions",
    "agreement_matrix",
    "apply_style",
    "method_label",
    "method_palette",
    "metric_label",
    "token_heatmaps",
]
