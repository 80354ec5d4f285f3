"""Figures of the study and their shared look.

:mod:`analysis.plots.figures` holds pure functions from a tidy table (columns as in
:mod:`analysis.records`) to a matplotlib Figure; :mod:`analysis.plots.style` holds the
readable labels, the colour-blind-safe colours and the theme; :mod:`analysis.plots.kit` is the
plotting kit every analysis's figures use (the width rule, compact dot grids, forest plots,
highlighted curves), exported here. The figures are drawn
on matplotlib's non-interactive Agg canvas without pyplot, so importing this package
neither needs a display nor changes the caller's matplotlib backend.
"""

from analysis.plots.figures import (
    MAX_WORDS_PER_PANEL,
    NO_DATA_TEXT,
    accuracy_bars,
    agreement_by_length,
    agreement_distributions,
    agreement_forest,
    agreement_matrix,
    token_heatmaps,
)
from analysis.plots.kit import (
    STORED_WIDTH_PX,
    dot_grid,
    forest,
    highlighted_lines,
    new_figure,
    no_data_figure,
    robust_limits,
    save_figure,
    styled,
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
    "STORED_WIDTH_PX",
    "accuracy_bars",
    "agreement_by_length",
    "agreement_distributions",
    "agreement_forest",
    "agreement_matrix",
    "apply_style",
    "dot_grid",
    "forest",
    "highlighted_lines",
    "method_label",
    "method_palette",
    "metric_label",
    "new_figure",
    "no_data_figure",
    "robust_limits",
    "save_figure",
    "styled",
    "token_heatmaps",
]
