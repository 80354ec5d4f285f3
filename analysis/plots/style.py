"""One place for the look of every figure: readable names, stable colours, the theme.

Figures never show internal names such as ``loo_mask`` or ``kendall_tau``: they go
through :func:`method_label`, :data:`PAIR_KIND_LABELS` and :func:`metric_label`, so a
reader who knows the literature recognises each method and knows which direction of
a metric means "more agreement". Colours are assigned from a colour-blind-safe
palette (seaborn ``"colorblind"``, after Wong 2011) in a fixed order, so a method has
the same colour in every figure of a report, whichever subset of methods it shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib as mpl
import seaborn as sns

# --------------------------------------------------------------------------- methods

METHOD_LABELS: dict[str, str] = {
    "attention_last_mean": "Attention (last layer, head mean)",
    "attention_all_mean": "Attention (all layers mean)",
    "attention_rollout": "Attention rollout",
    "rnn_attention": "Attention",
    "saliency": "Saliency (‖∇‖)",
    "grad_x_input": "Gradient × input",
    "integrated_gradients": "Integrated gradients",
    "jw_gradient": "Gradient, attention fixed (J&W)",
    "loo_delete": "Leave-one-out (delete)",
    "loo_mask": "Leave-one-out ([MASK])",
    "random": "Random",
    "attention_flow": "Attention flow",
    "attention_norm_last": "Attention norm ‖αf(x)‖ (last layer)",
    "attention_norm_all": "Attention norm ‖αf(x)‖ (all layers)",
    "value_zeroing": "Value zeroing",
    "attention_x_gradient": "Attention × gradient",
    "alti": "ALTI",
}
"""Internal method name -> the name readers of the attention/attribution literature know."""

METHOD_ORDER: tuple[str, ...] = (
    "attention_last_mean",
    "attention_all_mean",
    "attention_rollout",
    "rnn_attention",
    "saliency",
    "grad_x_input",
    "integrated_gradients",
    "jw_gradient",
    "loo_delete",
    "loo_mask",
    "random",
    "attention_flow",
    "attention_norm_last",
    "attention_norm_all",
    "value_zeroing",
    "attention_x_gradient",
    "alti",
)
"""Fixed order of the known methods: attention first, then gradients, ablations, random.

Used for colours and for the order of rows and columns in figures."""

# Words that the fallback label spells specially (unknown method names only).
_WORD_LABELS: dict[str, str] = {
    "loo": "leave-one-out",
    "ig": "IG",
    "jw": "J&W",
    "lime": "LIME",
    "shap": "SHAP",
    "kernelshap": "KernelSHAP",
    "deeplift": "DeepLift",
    "gradshap": "GradientSHAP",
    "alti": "ALTI",
    "rnn": "RNN",
    "cls": "[CLS]",
    "mask": "[MASK]",
    "unk": "[UNK]",
    "x": "×",
}

# seaborn "colorblind" (Wong 2011) without its grey, which is reserved for the random
# baseline, plus black: ten distinguishable colours for the ten non-random methods.
_COLORBLIND = sns.color_palette("colorblind").as_hex()
_NEUTRAL_GREY = _COLORBLIND[7]
METHOD_COLOR_CYCLE: tuple[str, ...] = (
    _COLORBLIND[0],  # blue
    _COLORBLIND[1],  # orange
    _COLORBLIND[2],  # green
    _COLORBLIND[3],  # vermillion
    _COLORBLIND[4],  # reddish purple
    _COLORBLIND[5],  # brown
    _COLORBLIND[9],  # sky blue
    "#000000",  # black
    _COLORBLIND[6],  # pink
    _COLORBLIND[8],  # yellow (last: weakest contrast on white)
    # Paul Tol's "muted" scheme (colour-blind safe), for the attention variants after random
    "#332288",  # indigo
    "#117733",  # dark green
    "#882255",  # wine
    "#44AA99",  # teal
    "#999933",  # olive
    "#AA4499",  # purple
    "#CC6677",  # rose
)
"""Colours handed out to methods in :data:`METHOD_ORDER` order (random excepted)."""

RANDOM_COLOR: str = _NEUTRAL_GREY
"""The random baseline is always grey: it is a floor, not a method under study."""


def method_label(name: str) -> str:
    """Return the readable label of a method, or a readable version of an unknown name.

    Known names come from :data:`METHOD_LABELS`. Unknown ones are split at underscores,
    common abbreviations are spelled out (``loo`` -> leave-one-out, ``ig`` -> IG) and the
    first letter is capitalised, e.g. ``"attention_flow"`` -> ``"Attention flow"``.
    """
    name = str(name)
    if name in METHOD_LABELS:
        return METHOD_LABELS[name]
    words = [w for w in re.split(r"[_\s]+", name.strip()) if w]
    if not words:
        return name
    spelled = [_WORD_LABELS.get(w.lower(), w) for w in words]
    text = " ".join(spelled)
    return text[0].upper() + text[1:]


def method_rank(name: str) -> tuple[int, str]:
    """Sort key: known methods in :data:`METHOD_ORDER` order, unknown ones after, by name."""
    if name in METHOD_ORDER:
        return (METHOD_ORDER.index(name), "")
    return (len(METHOD_ORDER), str(name))


def sort_methods(methods: Iterable[str]) -> list[str]:
    """Return the distinct ``methods`` in the stable figure order (see :func:`method_rank`)."""
    return sorted(set(methods), key=method_rank)


def method_palette(methods: Iterable[str]) -> dict[str, str]:
    """Map each method to a hex colour that does not depend on which other methods are shown.

    Known methods take colours from :data:`METHOD_COLOR_CYCLE` by their position in
    :data:`METHOD_ORDER` (``random`` is always grey), so e.g. integrated gradients has the
    same colour in every figure. Unknown methods take the following colours of the
    cycle, in sorted order of their names (wrapping around if there are many); their
    colours are therefore stable for a given set of unknown methods.
    """
    names = sort_methods(methods)
    palette: dict[str, str] = {}
    n_known_coloured = sum(1 for m in METHOD_ORDER if m != "random")
    unknown_index = 0
    for name in names:
        if name == "random":
            palette[name] = RANDOM_COLOR
        elif name in METHOD_ORDER:
            palette[name] = METHOD_COLOR_CYCLE[METHOD_ORDER.index(name) % len(METHOD_COLOR_CYCLE)]
        else:
            palette[name] = METHOD_COLOR_CYCLE[(n_known_coloured + unknown_index) % len(METHOD_COLOR_CYCLE)]
            unknown_index += 1
    return palette


def pair_label(method_a: str, method_b: str) -> str:
    """Readable label of a method pair, e.g. ``"Integrated gradients vs Leave-one-out (delete)"``."""
    return f"{method_label(method_a)} vs {method_label(method_b)}"


# ------------------------------------------------------------------------ pair kinds

PAIR_KIND_ORDER: tuple[str, ...] = (
    "causal_vs_causal",
    "attention_vs_causal",
    "attention_vs_attention",
    "random_vs_causal",
    "random_vs_attention",
)
"""Order of pair kinds in figures: the ceiling first, the question, then the floors."""

PAIR_KIND_LABELS: dict[str, str] = {
    "causal_vs_causal": "Causal vs causal (ceiling)",
    "attention_vs_causal": "Attention vs causal",
    "attention_vs_attention": "Attention vs attention",
    "random_vs_causal": "Random vs causal (floor)",
    "random_vs_attention": "Random vs attention (floor)",
}
"""Pair kind -> legend text; ceilings and floors say so."""

PAIR_KIND_COLORS: dict[str, str] = {
    "causal_vs_causal": _COLORBLIND[2],  # green: the ceiling
    "attention_vs_causal": _COLORBLIND[0],  # blue: the question of the study
    "attention_vs_attention": _COLORBLIND[4],  # reddish purple
    "random_vs_causal": _NEUTRAL_GREY,  # greys: the floors
    "random_vs_attention": "#c8c8c8",
}
"""Pair kind -> colour (colour-blind safe; floors are grey)."""

PAIR_KIND_LINESTYLES: dict[str, str] = {
    "causal_vs_causal": "--",
    "attention_vs_causal": "-",
    "attention_vs_attention": "-.",
    "random_vs_causal": ":",
    "random_vs_attention": ":",
}
"""Pair kind -> line style for line plots, where colour already encodes the method pair."""


def pair_kind_label(kind: str) -> str:
    """Readable label of a pair kind, falling back to the name with spaces."""
    return PAIR_KIND_LABELS.get(kind, str(kind).replace("_", " ").capitalize())


def pair_kind_color(kind: str) -> str:
    """Colour of a pair kind (dark grey for kinds this module does not know)."""
    return PAIR_KIND_COLORS.get(kind, "#4d4d4d")


def pair_kind_rank(kind: str) -> int:
    """Sort key of a pair kind: position in :data:`PAIR_KIND_ORDER`, unknown kinds last."""
    return PAIR_KIND_ORDER.index(kind) if kind in PAIR_KIND_ORDER else len(PAIR_KIND_ORDER)


# --------------------------------------------------------------------------- metrics

METRIC_LABELS: dict[str, str] = {
    "kendall_tau": "Kendall τ (higher = more agreement)",
    "weighted_tau": "Weighted Kendall τ (higher = more agreement)",
    "jsd": "Jensen–Shannon divergence (lower = more agreement)",
    "top1_overlap": "Top-1 overlap (higher = more agreement)",
    "top3_overlap": "Top-3 overlap (higher = more agreement)",
    "top5_overlap": "Top-5 overlap (higher = more agreement)",
    "top20pct_overlap": "Top-20% overlap (higher = more agreement)",
}
"""Metric name -> axis label that states which direction means more agreement."""

METRIC_KINDS: dict[str, str] = {
    "kendall_tau": "correlation",
    "weighted_tau": "correlation",
    "jsd": "divergence",
    "top1_overlap": "overlap",
    "top3_overlap": "overlap",
    "top5_overlap": "overlap",
    "top20pct_overlap": "overlap",
}
"""Metric name -> ``"correlation"`` (in [-1, 1], 0 = chance), ``"divergence"`` (>= 0,
lower = more agreement) or ``"overlap"`` (in [0, 1], higher = more agreement)."""

VARIANT_LABELS: dict[str, str] = {
    "abs": "|attribution|",
    "signed": "signed attribution",
}
"""Agreement variant -> short text: attention compared with absolute or signed scores."""


def metric_kind(metric: str) -> str:
    """Return ``"correlation"``, ``"divergence"`` or ``"overlap"`` for a metric name.

    Unknown names are classified from their words (tau/rho/corr -> correlation,
    jsd/divergence/tvd/distance -> divergence, anything else -> overlap-like score in
    [0, 1] where higher means more agreement).
    """
    if metric in METRIC_KINDS:
        return METRIC_KINDS[metric]
    lowered = str(metric).lower()
    if any(word in lowered for word in ("tau", "rho", "corr", "kendall", "spearman", "pearson")):
        return "correlation"
    if any(word in lowered for word in ("jsd", "divergence", "tvd", "distance", "kl")):
        return "divergence"
    return "overlap"


def higher_is_more_agreement(metric: str) -> bool:
    """True unless the metric is a divergence (where lower values mean more agreement)."""
    return metric_kind(metric) != "divergence"


def metric_label(metric: str) -> str:
    """Axis label of a metric, always with its direction ("higher/lower = more agreement")."""
    if metric in METRIC_LABELS:
        return METRIC_LABELS[metric]
    direction = "higher" if higher_is_more_agreement(metric) else "lower"
    readable = str(metric).replace("_", " ")
    readable = readable[:1].upper() + readable[1:]
    return f"{readable} ({direction} = more agreement)"


def metric_short_label(metric: str) -> str:
    """Metric label without the direction text, for titles (e.g. ``"Kendall τ"``)."""
    return metric_label(metric).split(" (")[0]


def variant_label(variant: str) -> str:
    """Readable text of an agreement variant (``"abs"`` -> ``"|attribution|"``)."""
    return VARIANT_LABELS.get(variant, str(variant))


# ----------------------------------------------------------------------------- theme

FIGURE_DPI = 150
"""Resolution of saved figures (dots per inch); enough for print at column width."""


def style_rc() -> dict[str, Any]:
    """Return the matplotlib rc settings of the house style (white grid, readable sizes).

    seaborn's ``whitegrid`` axes style and ``notebook`` sizes (12 pt labels, 11 pt ticks),
    the colour-blind-safe colour cycle, 150 dpi and tight bounding boxes when saving.
    """
    rc: dict[str, Any] = {}
    rc.update(sns.axes_style("whitegrid"))
    rc.update(sns.plotting_context("notebook"))
    rc.update(
        {
            "axes.prop_cycle": mpl.cycler(color=_COLORBLIND),
            "axes.titlesize": 12,
            "axes.titleweight": "normal",
            "figure.dpi": FIGURE_DPI,
            "savefig.dpi": FIGURE_DPI,
            "savefig.bbox": "tight",
            "savefig.facecolor": "white",
            "figure.facecolor": "white",
            "legend.frameon": False,
            "pdf.fonttype": 42,  # embed TrueType fonts: text stays editable in print workflows
            "ps.fonttype": 42,
        }
    )
    return rc


@contextmanager
def style_context() -> Iterator[None]:
    """Apply the house style inside a ``with`` block only; global settings are restored after.

    The figure functions build every figure inside this context, so they look the same
    whether or not the caller ran :func:`apply_style`, and they leave no global trace.
    """
    with mpl.rc_context(style_rc()):
        yield


def apply_style() -> None:
    """Set the house style globally (seaborn white-grid theme, readable fonts, 150 dpi).

    For notebooks and ad hoc figures; the functions in :mod:`analysis.plots.figures`
    do not need it.
    """
    sns.set_theme(style="whitegrid", context="notebook", palette="colorblind")
    mpl.rcParams.update(style_rc())
