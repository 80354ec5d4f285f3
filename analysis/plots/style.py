"""One place for the look of every figure: readable names, stable colours, the theme.

Figures never show internal names such as ``loo_mask`` or ``kendall_tau``: they go
through :func:`method_label`, :data:`PAIR_KIND_LABELS` and :func:`metric_label`, which
read the labels that methods and metrics declare where they are registered, so a
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

from analysis.metrics.agreement import METRICS

# --------------------------------------------------------------------------- methods
# Every method declares its label, short label, family and display order on its class
# (analysis.importance.base.ImportanceMethod); the functions below only read them.


def _registered_methods() -> dict[str, Any]:
    """The registered method classes by name (imported here: importing registers every built-in method)."""
    from analysis.importance import IMPORTANCE_METHODS

    return dict(IMPORTANCE_METHODS.items())


def _method_order() -> tuple[str, ...]:
    methods = _registered_methods()
    return tuple(sorted(methods, key=lambda name: (methods[name].order, name)))


def __getattr__(name: str) -> Any:
    # METHOD_ORDER is read from the registry when asked for, so methods registered later count too
    if name == "METHOD_ORDER":
        return _method_order()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    # Paul Tol's remaining "muted" and "high-contrast" colours, for the methods declared after ALTI
    "#DDCC77",  # sand
    "#88CCEE",  # cyan
    "#004488",  # dark blue
    "#DDAA33",  # ochre
    "#BB5566",  # dark red
)
"""Colours handed out to methods by their position in the declared order (random excepted)."""

RANDOM_COLOR: str = _NEUTRAL_GREY
"""The random baseline is always grey: it is a floor, not a method under study."""


def method_label(name: str) -> str:
    """Return the declared label of a method, or a readable version of an unregistered name.

    Registered methods declare ``label`` on their class. Other names are split at
    underscores, common abbreviations are spelled out (``loo`` -> leave-one-out, ``ig`` ->
    IG) and the first letter is capitalised, e.g. ``"loo_unk"`` -> ``"Leave-one-out [UNK]"``.
    """
    name = str(name)
    method = _registered_methods().get(name)
    if method is not None:
        return method.label
    words = [w for w in re.split(r"[_\s]+", name.strip()) if w]
    if not words:
        return name
    spelled = [_WORD_LABELS.get(w.lower(), w) for w in words]
    text = " ".join(spelled)
    return text[0].upper() + text[1:]


def method_short_label(name: str) -> str:
    """The declared short label of a method (e.g. ``"LOO [MASK]"``); :func:`method_label` for other names."""
    method = _registered_methods().get(str(name))
    return method.short_label if method is not None else method_label(name)


def method_rank(name: str) -> tuple[int, str]:
    """Sort key: registered methods in their declared ``order``, unregistered ones after, by name."""
    order = _method_order()
    if name in order:
        return (order.index(name), "")
    return (len(order), str(name))


def sort_methods(methods: Iterable[str]) -> list[str]:
    """Return the distinct ``methods`` in the stable figure order (see :func:`method_rank`)."""
    return sorted(set(methods), key=method_rank)


def method_palette(methods: Iterable[str]) -> dict[str, str]:
    """Map each method to a hex colour that does not depend on which other methods are shown.

    Registered methods take colours from :data:`METHOD_COLOR_CYCLE` by their position in
    the declared order (a method of family ``random`` is always grey), so e.g. integrated
    gradients has the same colour in every figure. Unregistered methods take the
    following colours of the cycle, in sorted order of their names (wrapping around if
    there are many); their colours are therefore stable for a given set of them.
    """
    registered = _registered_methods()
    order = _method_order()
    palette: dict[str, str] = {}
    unknown_index = 0
    for name in sort_methods(methods):
        if name in registered and registered[name].family == "random":
            palette[name] = RANDOM_COLOR
        elif name in registered:
            palette[name] = METHOD_COLOR_CYCLE[order.index(name) % len(METHOD_COLOR_CYCLE)]
        else:
            palette[name] = METHOD_COLOR_CYCLE[(len(order) + unknown_index) % len(METHOD_COLOR_CYCLE)]
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
# Every agreement metric declares its label, short label, range and direction
# (analysis.metrics.agreement.METRICS); the functions below only read them.

VARIANT_LABELS: dict[str, str] = {
    "abs": "|attribution|",
    "signed": "signed attribution",
}
"""Agreement variant -> short text: attention compared with absolute or signed scores."""


def metric_kind(metric: str) -> str:
    """Return ``"correlation"``, ``"divergence"`` or ``"overlap"`` for a metric name.

    For a registered metric this follows from its declared direction and range: lower
    is more agreement -> divergence; a range reaching below 0 -> correlation (in [-1, 1],
    0 = chance); otherwise overlap (in [0, 1], higher = more agreement). A name outside
    the registry (a column of someone else's table) is classified from its words
    (tau/rho/corr -> correlation, jsd/divergence/tvd/distance -> divergence, anything
    else -> overlap).
    """
    if metric in METRICS:
        declared = METRICS.get(metric)
        if not declared.higher_is_better:
            return "divergence"
        return "correlation" if declared.range[0] < 0 else "overlap"
    lowered = str(metric).lower()
    if any(word in lowered for word in ("tau", "rho", "corr", "kendall", "spearman", "pearson")):
        return "correlation"
    if any(word in lowered for word in ("jsd", "divergence", "tvd", "distance", "kl")):
        return "divergence"
    return "overlap"


def higher_is_more_agreement(metric: str) -> bool:
    """The metric's declared direction (unregistered names: true unless a divergence)."""
    if metric in METRICS:
        return METRICS.get(metric).higher_is_better
    return metric_kind(metric) != "divergence"


def metric_title(metric: str) -> str:
    """The declared label of a metric, without the direction text, for titles (e.g. ``"Kendall τ"``)."""
    if metric in METRICS:
        return METRICS.get(metric).label
    readable = str(metric).replace("_", " ")
    return readable[:1].upper() + readable[1:]


def metric_label(metric: str) -> str:
    """Axis label of a metric, always with its direction ("higher/lower = more agreement")."""
    direction = "higher" if higher_is_more_agreement(metric) else "lower"
    return f"{metric_title(metric)} ({direction} = more agreement)"


def metric_short_label(metric: str) -> str:
    """The declared short label of a metric, for running text and table headers (e.g. ``"weighted τ"``).

    An unregistered name is returned as it is.
    """
    return METRICS.get(metric).short_label if metric in METRICS else str(metric)


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
