"""Agreement between two word-importance vectors of the same example.

Every metric is an :class:`AgreementMetric` registered in :data:`METRICS` under the
name that configs use. A metric declares its readable label and short label, its
range, its direction, its family, a citation and whether the study tests differences
in it (``compared``), so tables, plots and reports read those declarations instead of
hard-coding them.

Speed: ``scipy.stats.kendalltau``, ``spearmanr`` and ``weightedtau`` cost 0.2-0.3 ms a
call, which for a few thousand examples x 45 method pairs x 2 variants is minutes. The
metrics here therefore work on a :class:`PairBatch` (an examples x methods x words
array of examples of equal length, plus the method pairs to compare) and compute every
pair at once from shared intermediates (one sign Gram matrix serves Kendall tau,
Spearman's ranks and weighted tau). They reproduce the SciPy functions, p-values
included; the tests check that against SciPy.

The random floor: one random ranking per example makes "above the floor" hang on one
seed, so :func:`compute_agreement` scores every pair with a method of family ``random``
on ``floor_draws`` random rankings of the example and keeps the mean (see
:class:`_FloorDraws`). The extra rankings are further rows of the same batch, so they
share its intermediates and cost no Python loop over metrics.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import special

from analysis.records import AGREEMENT_COLUMNS, CAUSAL_FAMILIES, FAMILIES, IMPORTANCE_COLUMNS, require_columns
from analysis.registry import Registry
from analysis.seeding import derive_seed
from analysis.stats.divergence import JSD_MAX, JSD_UNIT, jensen_shannon

VARIANTS = ("abs", "signed")
PAIR_SELECTIONS = ("all", "with_causal")

# Order of families inside a pair: the attention/random method becomes method_a and the
# causal one method_b; among causal methods gradients come before ablation (the
# "gradient vs leave-one-out" ceiling of the study guide).
_FAMILY_ORDER = {family: i for i, family in enumerate(("random", "attention", *CAUSAL_FAMILIES))}
if set(_FAMILY_ORDER) != set(FAMILIES):
    raise RuntimeError(f"every method family {FAMILIES} needs a place in a pair, got {list(_FAMILY_ORDER)}")

# Largest exact-distribution case for Kendall's p-value, as in scipy.stats.kendalltau.
_KENDALL_EXACT_MAX_N = 33

DEFAULT_BLOCK_ELEMENTS = 2**22


# --------------------------------------------------------------------------- variants


def _apply_variant(scores: np.ndarray, variant: str) -> np.ndarray:
    if variant == "abs":
        return np.abs(scores)
    if variant == "signed":
        return scores
    raise ValueError(f"unknown agreement variant {variant!r}; choose one of: {', '.join(VARIANTS)}")


def prepare_pair(a: np.ndarray, b: np.ndarray, variant: str) -> tuple[np.ndarray, np.ndarray]:
    """The two score vectors as the ``variant`` compares them.

    ``"abs"`` (the default of the study) compares magnitudes ``|a|`` and ``|b|``:
    attention weights are non-negative and only say *how much* a word matters, while
    gradient and ablation attributions are signed (for or against the predicted class).
    Ranked by signed value, a word that strongly opposes the prediction lands at the
    bottom although it matters a lot, so attention and a signed attribution would
    "disagree" merely because one of them has no sign. ``"signed"`` compares the raw
    values; it is reported too, because between two signed causal methods the direction
    is part of the explanation.

    Parameters
    ----------
    a, b
        One-dimensional score vectors over the same words.
    variant
        ``"abs"`` or ``"signed"``.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return _apply_variant(a, variant), _apply_variant(b, variant)


# --------------------------------------------------------------------------- batches


class PairBatch:
    """Scores of several methods on examples of equal length, and the method pairs to compare.

    Shared intermediates (sign Gram matrices, ranks, top-k order, distributions) are
    computed once, on first use, and serve every metric and every pair. Pair-level
    arrays are flattened example-major: entry ``e * n_pairs_per_example + p`` is pair
    ``p`` of example ``e``.

    Parameters
    ----------
    scores
        ``(examples, methods, words)`` array, or one example as ``(methods, words)``;
        columns aligned by word.
    rows_a, rows_b
        Method (row) indices of the two methods of each pair (equal length), the same
        for every example of the batch.
    block_elements
        Memory knob: sign matrices are built in blocks of about this many elements
        (8 bytes each), so long documents never need ``methods x words^2`` at once.
    """

    def __init__(
        self,
        scores: np.ndarray,
        rows_a: Sequence[int] | np.ndarray,
        rows_b: Sequence[int] | np.ndarray,
        *,
        block_elements: int = DEFAULT_BLOCK_ELEMENTS,
    ) -> None:
        scores = np.asarray(scores, dtype=float)
        if scores.ndim == 2:
            scores = scores[None]
        if scores.ndim != 3:
            raise ValueError(f"scores must be (examples, methods, words), got shape {scores.shape}")
        finite = np.isfinite(scores)
        self.valid = finite.all(axis=2)
        # Non-finite rows are computed on zeros and their pairs set to NaN afterwards.
        self.scores = np.where(finite, scores, 0.0)
        self.rows_a = np.asarray(rows_a, dtype=np.intp)
        self.rows_b = np.asarray(rows_b, dtype=np.intp)
        if self.rows_a.shape != self.rows_b.shape or self.rows_a.ndim != 1:
            raise ValueError("rows_a and rows_b must be one-dimensional and of equal length")
        self.block_elements = int(block_elements)

    @classmethod
    def from_pair(cls, a: np.ndarray, b: np.ndarray) -> PairBatch:
        """A batch holding the single pair ``(a, b)``."""
        a = np.asarray(a, dtype=float).ravel()
        b = np.asarray(b, dtype=float).ravel()
        if a.shape != b.shape:
            raise ValueError(f"score vectors differ in length: {a.size} and {b.size} words")
        return cls(np.stack([a, b]), [0], [1])

    @property
    def n_words(self) -> int:
        return self.scores.shape[2]

    @property
    def n_pairs(self) -> int:
        """Number of (example, pair) entries, the length of every metric output."""
        return self.scores.shape[0] * self.rows_a.size

    def pairs_of(self, per_method: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Method-level ``(examples, methods, ...)`` values as flattened pair-level (a, b) arrays."""
        tail = per_method.shape[2:]
        return (per_method[:, self.rows_a].reshape(-1, *tail), per_method[:, self.rows_b].reshape(-1, *tail))

    @cached_property
    def pair_valid(self) -> np.ndarray:
        valid_a, valid_b = self.pairs_of(self.valid)
        return valid_a & valid_b

    @cached_property
    def rank_defined(self) -> np.ndarray:
        """Pairs for which a rank correlation exists (two or more words, neither vector constant)."""
        if self.n_words < 2:
            return np.zeros(self.n_pairs, dtype=bool)
        constant = (self.scores == self.scores[:, :, :1]).all(axis=2)
        constant_a, constant_b = self.pairs_of(constant)
        return ~(constant_a | constant_b)

    @cached_property
    def _sign_summary(self) -> tuple[np.ndarray, np.ndarray]:
        """Sign Gram matrices ``G`` (examples, words, methods, methods) and sign row sums (examples, methods, words).

        With ``s_m[i, j] = sign(x_m[i] - x_m[j])``: ``G[e, i, a, b] = sum_j s_a[i, j] s_b[i, j]``,
        so ``sum_i G[e, i, a, b]`` is twice (concordant - discordant pairs) and ``G[e, i, m, m]``
        is the number of words whose value differs from word ``i``; ``sum_j s_m[i, j]``
        is twice the centred average rank of word ``i``.
        """
        x = self.scores
        n_examples, n_methods, n = x.shape
        gram = np.empty((n_examples, n, n_methods, n_methods))
        sign_sums = np.empty(x.shape)
        step = max(1, self.block_elements // max(1, n_examples * n_methods * n))
        for start in range(0, n, step):
            stop = min(n, start + step)
            signs = np.sign(x[:, :, start:stop, None] - x[:, :, None, :])  # (examples, methods, block, words)
            sign_sums[:, :, start:stop] = signs.sum(axis=3)
            per_word = np.ascontiguousarray(signs.transpose(0, 2, 1, 3))  # (examples, block, methods, words)
            gram[:, start:stop] = per_word @ per_word.transpose(0, 1, 3, 2)
        return gram, sign_sums

    @cached_property
    def concordance(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per pair and word: signed concordance with all other words, and untied counts of a and b."""
        gram = self._sign_summary[0]
        n = self.n_words
        per_word = gram[:, :, self.rows_a, self.rows_b].transpose(0, 2, 1).reshape(-1, n)
        untied_a = gram[:, :, self.rows_a, self.rows_a].transpose(0, 2, 1).reshape(-1, n)
        untied_b = gram[:, :, self.rows_b, self.rows_b].transpose(0, 2, 1).reshape(-1, n)
        return per_word, untied_a, untied_b

    @cached_property
    def centred_ranks(self) -> np.ndarray:
        """Average ranks (ties share the mean rank) minus their mean; exact multiples of 1/2."""
        return self._sign_summary[1] / 2.0

    def top_membership(self, size: int) -> np.ndarray:
        """Per method and word, the probability of being among the ``size`` highest scores when ties are
        broken at random (:func:`top_k_membership`)."""
        return top_k_membership(self.scores, size)

    @cached_property
    def distributions(self) -> np.ndarray:
        """Rows as probability distributions: ``|x| / sum|x|``, uniform where all zero."""
        mass = np.abs(self.scores)
        total = mass.sum(axis=2, keepdims=True)
        uniform = np.full_like(mass, 1.0 / max(1, self.n_words))
        return np.where(total > 0, mass / np.where(total > 0, total, 1.0), uniform)


# --------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class AgreementMetric:
    """An agreement metric between two importance vectors and what it declares.

    Attributes
    ----------
    name
        Registry name used in configs and in the ``metric`` column.
    label
        Readable name for titles and axes, e.g. ``"Weighted Kendall τ"``; axis labels add
        the direction (see :func:`analysis.plots.style.metric_label`).
    short_label
        Compact name for running text and table headers, e.g. ``"weighted τ"``.
    range
        ``(low, high)`` of possible values.
    higher_is_better
        Whether larger values mean more agreement.
    family
        ``"rank correlation"``, ``"top-k overlap"`` or ``"distribution distance"``.
    description
        One line with the citation.
    has_p_value
        Whether the metric gives a p-value (NaN otherwise).
    compared
        Whether the agreement stage runs paired comparisons with the ceiling and the
        floor in this metric (:func:`analysis.stats.comparisons.compare_methods`): the
        rank correlations, whose differences the study tests.
    compute
        ``PairBatch -> (values, p_values)``, one entry per (example, pair) of the batch.
    """

    name: str
    label: str
    short_label: str
    range: tuple[float, float]
    higher_is_better: bool
    family: str
    description: str
    has_p_value: bool
    compared: bool
    compute: Callable[[PairBatch], tuple[np.ndarray, np.ndarray]] = field(repr=False, compare=False)

    def evaluate(self, batch: PairBatch) -> tuple[np.ndarray, np.ndarray]:
        """Values and p-values for every (example, pair) of ``batch``, flattened example-major.

        Pairs where either vector has a non-finite score get NaN.
        """
        if batch.n_pairs == 0:
            return np.empty(0), np.empty(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            values, p_values = self.compute(batch)
        values = np.asarray(values, dtype=float)
        p_values = np.asarray(p_values, dtype=float)
        bad = ~batch.pair_valid
        if bad.any():
            values = np.where(bad, np.nan, values)
            p_values = np.where(bad, np.nan, p_values)
        return values, p_values

    def __call__(self, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
        """``(value, p_value)`` between two one-dimensional score vectors (p NaN where none)."""
        values, p_values = self.evaluate(PairBatch.from_pair(a, b))
        return float(values[0]), float(p_values[0])


METRICS: Registry[AgreementMetric] = Registry("agreement metric")


def _register(metric: AgreementMetric) -> AgreementMetric:
    METRICS.add(metric.name, metric)
    return metric


@functools.cache
def _inversion_cdf(n: int) -> np.ndarray:
    """P(a random permutation of ``n`` items has <= c inversions), for every c (exact counts)."""
    counts = [1]
    for size in range(2, n + 1):  # inserting item `size` adds 0..size-1 inversions
        prefix = [0]
        for count in counts:
            prefix.append(prefix[-1] + count)
        length = len(counts) + size - 1
        counts = [prefix[min(c, len(counts) - 1) + 1] - prefix[max(0, c - size + 1)] for c in range(length)]
    total = math.factorial(n)
    cumulative, running = [], 0
    for count in counts:
        running += count
        cumulative.append(running / total)
    table = np.asarray(cumulative)
    table.flags.writeable = False  # cached and shared
    return table


def _kendall_exact_p(n: int, discordant: np.ndarray) -> np.ndarray:
    """Two-sided exact p-value of Kendall's tau without ties (as ``scipy.stats.kendalltau``)."""
    total = n * (n - 1) // 2
    tail = np.minimum(discordant, total - discordant).astype(np.int64)
    if n <= _KENDALL_EXACT_MAX_N:
        p = 2.0 * _inversion_cdf(n)[tail]
    else:  # SciPy uses the exact test beyond 33 words only when 0 or 1 pairs are out of order
        # Integer division by the exact factorial underflows to 0.0 instead of overflowing.
        p = np.where(tail == 0, 2 / math.factorial(n), 2 / math.factorial(n - 1))
    return np.clip(p, 0.0, 1.0)


def _kendall_tau(batch: PairBatch) -> tuple[np.ndarray, np.ndarray]:
    n = batch.n_words
    values = np.full(batch.n_pairs, np.nan)
    p_values = np.full(batch.n_pairs, np.nan)
    ok = batch.rank_defined
    if not ok.any():
        return values, p_values
    per_word, untied_a, untied_b = (part[ok] for part in batch.concordance)
    con_minus_dis = per_word.sum(axis=1) / 2.0
    total = n * (n - 1) / 2.0
    tau = con_minus_dis / np.sqrt(untied_a.sum(axis=1) / 2.0) / np.sqrt(untied_b.sum(axis=1) / 2.0)
    values[ok] = np.clip(tau, -1.0, 1.0)

    # Tie statistics from each word's tie-group size t_i (a group of t adds t terms of f(t)/t).
    tied_a = n - untied_a
    tied_b = n - untied_b
    ties_a = ((tied_a - 1) / 2.0).sum(axis=1)
    ties_b = ((tied_b - 1) / 2.0).sum(axis=1)
    no_ties = (ties_a == 0) & (ties_b == 0)
    discordant = np.rint((total - con_minus_dis) / 2.0)
    exact = no_ties & ((n <= _KENDALL_EXACT_MAX_N) | (np.minimum(discordant, total - discordant) <= 1))
    p = np.empty(con_minus_dis.size)
    if exact.any():
        p[exact] = _kendall_exact_p(n, discordant[exact])
    if (~exact).any():
        m = n * (n - 1.0)
        x0 = ((tied_a - 1) * (tied_a - 2)).sum(axis=1)
        y0 = ((tied_b - 1) * (tied_b - 2)).sum(axis=1)
        x1 = ((tied_a - 1) * (2 * tied_a + 5)).sum(axis=1)
        y1 = ((tied_b - 1) * (2 * tied_b + 5)).sum(axis=1)
        third = np.where(x0 * y0 == 0, 0.0, x0 * y0 / (9 * m * max(n - 2, 1)))
        variance = (m * (2 * n + 5) - x1 - y1) / 18 + 2 * ties_a * ties_b / m + third
        z = con_minus_dis / np.sqrt(variance)
        p[~exact] = (2 * special.ndtr(-np.abs(z)))[~exact]
    p_values[ok] = p
    return values, p_values


def _spearman(batch: PairBatch) -> tuple[np.ndarray, np.ndarray]:
    values = np.full(batch.n_pairs, np.nan)
    p_values = np.full(batch.n_pairs, np.nan)
    ok = batch.rank_defined
    if not ok.any():
        return values, p_values
    a, b = (ranks[ok] for ranks in batch.pairs_of(batch.centred_ranks))
    # Centred average ranks are multiples of 1/2, so these sums are exact and identical
    # rankings give exactly 1.
    rho = np.clip((a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1)), -1.0, 1.0)
    dof = batch.n_words - 2
    t = rho * np.sqrt((dof / ((rho + 1.0) * (1.0 - rho))).clip(0))
    values[ok] = rho
    p_values[ok] = 2 * special.stdtr(dof, -np.abs(t))
    return values, p_values


def _hyperbolic_weights(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """Weights ``1 / (1 + rank)``, rank 0 for the largest (primary, secondary), per row."""
    n = primary.shape[1]
    ascending = np.lexsort((secondary, primary), axis=-1)
    rank = np.empty_like(ascending)
    np.put_along_axis(rank, ascending, np.broadcast_to(np.arange(n - 1, -1, -1), ascending.shape), axis=1)
    return 1.0 / (1.0 + rank)


def _weighted_tau(batch: PairBatch) -> tuple[np.ndarray, np.ndarray]:
    # Vigna's additive hyperbolic weighted tau with rank=True, as scipy.stats.weightedtau:
    # the average of the ranking by (a, then b) and by (b, then a). A pair of words
    # (i, j) weighs w_i + w_j, so every sum over pairs is a dot product with per-word sums.
    values = np.full(batch.n_pairs, np.nan)
    ok = batch.rank_defined
    if ok.any():
        per_word, untied_a, untied_b = (part[ok] for part in batch.concordance)
        x, y = (scores[ok] for scores in batch.pairs_of(batch.scores))
        halves = []
        for weights in (_hyperbolic_weights(x, y), _hyperbolic_weights(y, x)):
            numerator = (weights * per_word).sum(axis=1)
            tau = numerator / np.sqrt((weights * untied_a).sum(axis=1)) / np.sqrt((weights * untied_b).sum(axis=1))
            halves.append(np.clip(tau, -1.0, 1.0))
        values[ok] = (halves[0] + halves[1]) / 2
    return values, np.full(batch.n_pairs, np.nan)


def top_k_membership(scores: np.ndarray, size: int) -> np.ndarray:
    """The probability that each word is among the ``size`` highest scores of its row (last axis) when ties
    are broken uniformly at random: 1 above the size-th highest value, r / g for the g words tied at it
    with r places left, 0 below. Breaking ties by position instead would hand a constant vector (uniform
    attention) its first words as the top k; this way its top k is every word at k / n."""
    scores = np.asarray(scores, dtype=float)
    n = scores.shape[-1]
    if size <= 0 or n == 0:
        return np.zeros(scores.shape)
    size = min(size, n)
    boundary = -np.partition(-scores, size - 1, axis=-1)[..., size - 1:size]
    above = scores > boundary
    tied = scores == boundary
    places = size - above.sum(axis=-1, keepdims=True)
    return np.where(above, 1.0, np.where(tied, places / np.maximum(tied.sum(axis=-1, keepdims=True), 1), 0.0))


def top_k_size(n_words: int, *, k: int | None = None, percent: int | None = None) -> int:
    """Number of top words compared: ``min(k, n)``, or ``max(1, ceil(percent% of n))``."""
    if (k is None) == (percent is None):
        raise ValueError("give exactly one of k and percent")
    if k is not None:
        return min(k, n_words)
    return min(n_words, max(1, -(-n_words * percent // 100)))  # integer ceil: 0.2 * 15 is not 3 in floats


def _top_k_overlap(batch: PairBatch, *, k: int | None = None, percent: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    n = batch.n_words
    size = top_k_size(n, k=k, percent=percent)
    nan = np.full(batch.n_pairs, np.nan)
    if size == 0:
        return nan, nan
    top_a, top_b = batch.pairs_of(batch.top_membership(size))
    shared = (top_a * top_b).sum(axis=1)  # the expected overlap, ties broken independently at random
    return shared / size, nan


def _jensen_shannon(batch: PairBatch) -> tuple[np.ndarray, np.ndarray]:
    nan = np.full(batch.n_pairs, np.nan)
    if batch.n_words == 0:
        return nan, nan
    p, q = batch.pairs_of(batch.distributions)
    return jensen_shannon(p, q, axis=1), nan


KENDALL_TAU = _register(AgreementMetric(
    name="kendall_tau", label="Kendall τ", short_label="Kendall τ",
    range=(-1.0, 1.0), higher_is_better=True, family="rank correlation",
    description="Kendall tau-b with its p-value (Kendall 1945; as scipy.stats.kendalltau), used by Jain & Wallace 2019",
    has_p_value=True, compared=True, compute=_kendall_tau,
))
SPEARMAN = _register(AgreementMetric(
    name="spearman", label="Spearman ρ", short_label="Spearman ρ",
    range=(-1.0, 1.0), higher_is_better=True, family="rank correlation",
    description="Spearman rank correlation with t-test p-value (Spearman 1904; as scipy.stats.spearmanr)",
    has_p_value=True, compared=True, compute=_spearman,
))
WEIGHTED_TAU = _register(AgreementMetric(
    name="weighted_tau", label="Weighted Kendall τ", short_label="weighted τ",
    range=(-1.0, 1.0), higher_is_better=True, family="rank correlation",
    description="Weighted Kendall tau, additive hyperbolic weights, top ranks count more (Vigna 2015; "
                "as scipy.stats.weightedtau with rank=True)",
    has_p_value=False, compared=True, compute=_weighted_tau,
))
for _k in (1, 3, 5):
    _register(AgreementMetric(
        name=f"top{_k}_overlap", label=f"Top-{_k} overlap", short_label=f"top-{_k} overlap",
        range=(0.0, 1.0), higher_is_better=True, family="top-k overlap",
        description=f"Share of the top-{_k} words (k = min({_k}, n)) that both methods rank on top "
                    "(e.g. DeYoung et al. 2020, ERASER)",
        has_p_value=False, compared=False, compute=functools.partial(_top_k_overlap, k=_k),
    ))
_register(AgreementMetric(
    name="top20pct_overlap", label="Top-20% overlap", short_label="top-20% overlap",
    range=(0.0, 1.0), higher_is_better=True, family="top-k overlap",
    description="Share of the top 20% of words (k = max(1, ceil(0.2 n))) that both methods rank on top "
                "(e.g. DeYoung et al. 2020, ERASER)",
    has_p_value=False, compared=False, compute=functools.partial(_top_k_overlap, percent=20),
))
JSD = _register(AgreementMetric(
    name="jsd", label="Jensen–Shannon divergence", short_label="JSD",
    range=(0.0, JSD_MAX), higher_is_better=False, family="distribution distance",
    description=f"Jensen-Shannon divergence in {JSD_UNIT} (at most ln 2), between |scores| normalised to sum to one "
                "(Lin 1991; used for attention by Jain & Wallace 2019, in the same unit)",
    has_p_value=False, compared=False, compute=_jensen_shannon,
))


# --------------------------------------------------------------------------- pairs and buckets


def _check_family(family: str) -> None:
    if family not in _FAMILY_ORDER:
        raise ValueError(f"unknown method family {family!r}; choose one of: {', '.join(FAMILIES)}")


def pair_kind(family_a: str, family_b: str) -> str:
    """What a comparison between methods of these families measures (order does not matter).

    ``"attention_vs_causal"`` is the question of the study, ``"causal_vs_causal"`` its
    ceiling, ``"random_vs_causal"`` / ``"random_vs_attention"`` its floors and
    ``"attention_vs_attention"`` compares attention variants. Two random methods give
    ``"random_vs_random"``.
    """
    _check_family(family_a)
    _check_family(family_b)

    def role(family: str) -> str:
        return "causal" if family in CAUSAL_FAMILIES else family

    first, second = sorted((role(family_a), role(family_b)), key=("random", "attention", "causal").index)
    return f"{first}_vs_{second}"


def _validate_edges(edges: Sequence[int]) -> list[int]:
    edges = [int(e) for e in edges]
    if not edges or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"length bucket edges must be a non-empty, strictly increasing list of ints, got {edges}")
    return edges


def length_bucket_labels(edges: Sequence[int]) -> list[str]:
    """Labels of the buckets that ``edges`` define, shortest first (e.g. ``["1-10", ..., ">40"]``)."""
    edges = _validate_edges(edges)
    labels = []
    for low, high in zip(edges, edges[1:]):
        labels.append(str(high) if low + 1 == high else f"{low + 1}-{high}")
    labels.append(f">{edges[-1]}")
    return labels


def length_bucket(n_words: int, edges: Sequence[int]) -> str:
    """The length bucket of an example: bucket ``i`` covers ``(edges[i], edges[i+1]]``.

    >>> [length_bucket(n, [0, 10, 20, 40]) for n in (1, 10, 11, 40, 41)]
    ['1-10', '1-10', '11-20', '21-40', '>40']
    """
    edges = _validate_edges(edges)
    labels = length_bucket_labels(edges)
    if n_words <= edges[0]:
        raise ValueError(f"an example with {n_words} words lies below the first length bucket edge {edges[0]}; "
                         "lower the first edge (config key length_edges)")
    return labels[int(np.searchsorted(edges, n_words, side="left")) - 1]


# --------------------------------------------------------------------------- the table

_AGREEMENT_DTYPES = {
    "example_id": object, "method_a": object, "method_b": object, "family_a": object, "family_b": object,
    "pair_kind": object, "variant": object, "metric": object, "value": float, "p_value": float,
    "n_words": np.int64, "length_bucket": object, "predicted": np.int64,
}



def _method_families(frame: pd.DataFrame) -> dict[str, str]:
    families = frame.groupby("method", sort=True)["family"].unique()
    result = {}
    for method, values in families.items():
        if len(values) != 1:
            raise ValueError(f"method {method!r} has several families {list(values)} in the importance table")
        _check_family(values[0])
        result[str(method)] = str(values[0])
    return result


def _floor_draws(scores: np.ndarray, *, method: str, example_id: object, draws: int, seed: int) -> np.ndarray:
    """Draws ``1 .. draws - 1`` of the random floor of one example, ``(draws - 1, words)``.

    Draw ``d`` is the random method's own scores in a random order, the order seeded by
    ``derive_seed(seed, "random floor", method, example_id, d)``: the same draw whatever
    else is in the table and however many draws there are (draw 0 is the scores as they
    are). Permuting rather than drawing new values gives independent random rankings
    while keeping the method's own value distribution (which ``jsd`` reads), so this
    module need not know how the method draws its scores.
    """
    orders = [np.random.default_rng(derive_seed(seed, "random floor", method, example_id, d)).permutation(scores.size)
              for d in range(1, draws)]
    return scores[np.stack(orders)]


@dataclass(frozen=True)
class _FloorDraws:
    """The pairs of a batch that involve a random method, computed on several random rankings and averaged.

    A batch of ``n_methods`` rows gets ``draws - 1`` more rows per random method: row
    ``n_methods + i * (draws - 1) + d - 1`` holds draw ``d`` of the ``i``-th random row
    (see :func:`_floor_draws`). Its pairs are the batch's own, then draw ``d`` of every
    floor pair (the random side(s) replaced by their draw ``d``), draw-major.
    :meth:`average` turns the metric values of all those pairs back into one value per
    pair of the batch: the mean over draws for floor pairs, with p-value NaN (a mean
    over draws has no single p-value), and untouched values for the others. With
    ``draws == 1`` or no floor pair it changes nothing.
    """

    rows_a: np.ndarray
    rows_b: np.ndarray
    random_rows: np.ndarray
    floor_pairs: np.ndarray
    draws: int

    @classmethod
    def plan(cls, rows_a: np.ndarray, rows_b: np.ndarray, is_random: np.ndarray, draws: int) -> _FloorDraws:
        """Plan for pairs ``(rows_a, rows_b)`` over methods of which ``is_random`` (bool per row) are random."""
        floor_pairs = np.flatnonzero(is_random[rows_a] | is_random[rows_b])
        if draws == 1 or floor_pairs.size == 0:
            return cls(rows_a, rows_b, np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp), 1)
        random_rows = np.flatnonzero(is_random)
        draw_row = np.full(is_random.size, -1, dtype=np.intp)
        draw_row[random_rows] = is_random.size + np.arange(random_rows.size) * (draws - 1)
        offsets = np.arange(draws - 1)[:, None]  # (draw - 1, floor pair)

        def replaced(rows: np.ndarray) -> np.ndarray:
            rows = rows[floor_pairs]
            return np.where(is_random[rows], draw_row[rows] + offsets, rows).reshape(-1)

        return cls(np.r_[rows_a, replaced(rows_a)], np.r_[rows_b, replaced(rows_b)], random_rows, floor_pairs, draws)

    @property
    def n_pairs(self) -> int:
        """Pairs of the batch before the extra draws."""
        return self.rows_a.size - self.floor_pairs.size * (self.draws - 1)

    def extended(self, scores: np.ndarray, methods: Sequence[str], example_ids: Sequence[object],
                 seed: int) -> np.ndarray:
        """``(examples, methods, words)`` scores with the draw rows appended (``methods``: name per row)."""
        if self.draws == 1:
            return scores
        drawn = [[_floor_draws(scores[e, row], method=methods[row], example_id=example_id, draws=self.draws, seed=seed)
                  for row in self.random_rows] for e, example_id in enumerate(example_ids)]
        extra = np.asarray(drawn).reshape(scores.shape[0], -1, scores.shape[2])
        return np.concatenate([scores, extra], axis=1)

    def average(self, values: np.ndarray, p_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Metric output over the extended pairs (example-major) as one value per pair of the batch."""
        if self.draws == 1:
            return values, p_values
        values = values.reshape(-1, self.rows_a.size)
        p_values = p_values.reshape(values.shape)
        own, extra = values[:, :self.n_pairs].copy(), values[:, self.n_pairs:]
        per_draw = np.concatenate([own[:, None, self.floor_pairs],
                                   extra.reshape(own.shape[0], self.draws - 1, self.floor_pairs.size)], axis=1)
        own[:, self.floor_pairs] = per_draw.mean(axis=1)
        p_own = p_values[:, :self.n_pairs].copy()
        p_own[:, self.floor_pairs] = np.nan
        return own.reshape(-1), p_own.reshape(-1)


def _empty_agreement() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_AGREEMENT_DTYPES[c]) for c in AGREEMENT_COLUMNS})


def compute_agreement(
    importance: pd.DataFrame,
    *,
    metrics: Sequence[str],
    variants: Sequence[str],
    length_edges: Sequence[int],
    pairs: str = "all",
    floor_draws: int = 1,
    seed: int = 0,
    block_elements: int = DEFAULT_BLOCK_ELEMENTS,
) -> pd.DataFrame:
    """Agreement of every pair of methods on every example (the ``agreement`` table).

    Parameters
    ----------
    importance
        Long ``importance`` table (``records.IMPORTANCE_COLUMNS``), one row per example x
        method x word.
    metrics
        Names in :data:`METRICS`.
    variants
        ``"abs"`` and/or ``"signed"`` (see :func:`prepare_pair`).
    length_edges
        Edges of the length buckets (see :func:`length_bucket`), on ``n_words``.
    pairs
        ``"all"`` (every pair of distinct methods) or ``"with_causal"`` (pairs whose
        ``method_b`` is a gradient or ablation method).
    floor_draws
        Random rankings per example behind every pair with a method of family
        ``random`` (the floor; config key ``agreement.floor_draws``). Draw 0 is the
        method's own scores, draw ``d >= 1`` the same scores in an order seeded by
        ``derive_seed(seed, "random floor", method, example_id, d)``; ``value`` is the
        mean of the metric over the draws and ``p_value`` is NaN (a mean over draws has
        no single p-value). ``1`` compares the method's own scores only, with p-values.
        Other pairs are not affected.
    seed
        Base seed of the floor's extra draws (the run's seed).
    block_elements
        Memory knob: examples of equal length are computed together in batches whose
        intermediate arrays hold about this many elements (8 bytes each); see
        :class:`PairBatch`.

    Returns
    -------
    pandas.DataFrame
        Exactly ``records.AGREEMENT_COLUMNS``; rows ordered by example id, pair,
        variant, metric. Methods are ordered random, attention, gradient, ablation
        (then by name) and ``method_a`` comes first, so in mixed pairs the attention or
        random method is ``method_a`` and the causal one ``method_b``. Scores are
        aligned by ``word_index``; when a method lacks some words of an example, that
        pair is compared on the words both have. An example contributes only the pairs
        of methods present for it. ``n_words`` and ``length_bucket`` describe the
        example (its ``n_words`` in the importance table), not the compared words.
    """
    metric_objects = [METRICS.get(name, where="metrics") for name in metrics]
    variants = list(variants)
    for variant in variants:
        _apply_variant(np.zeros(1), variant)
    if pairs not in PAIR_SELECTIONS:
        raise ValueError(f"unknown pair selection {pairs!r}; choose one of: {', '.join(PAIR_SELECTIONS)}")
    if isinstance(floor_draws, bool) or not isinstance(floor_draws, (int, np.integer)) or floor_draws < 1:
        raise ValueError(f"floor_draws must be an integer >= 1 (config key agreement.floor_draws), got {floor_draws!r}")
    floor_draws = int(floor_draws)
    require_columns(importance, IMPORTANCE_COLUMNS, table="importance")
    _validate_edges(length_edges)
    if importance.empty or not metric_objects or not variants:
        return _empty_agreement()

    duplicated = importance.duplicated(["example_id", "method", "word_index"])
    if duplicated.any():
        row = importance[duplicated].iloc[0]
        raise ValueError(f"importance table has several scores for example {row['example_id']!r}, method "
                         f"{row['method']!r}, word_index {row['word_index']}; each method must score a word once")

    families = _method_families(importance)
    methods = sorted(families, key=lambda m: (_FAMILY_ORDER[families[m]], m))
    method_families = np.array([families[m] for m in methods], dtype=object)
    is_random = method_families == "random"
    kind_matrix = np.full((len(methods), len(methods)), "", dtype=object)  # kind of (method_a, method_b)
    wanted = np.zeros((len(methods), len(methods)), dtype=bool)
    for i in range(len(methods)):
        for j in range(i + 1, len(methods)):
            kind_matrix[i, j] = pair_kind(method_families[i], method_families[j])
            wanted[i, j] = pairs == "all" or method_families[j] in CAUSAL_FAMILIES

    example_codes, example_ids = pd.factorize(importance["example_id"], sort=True)
    method_codes = pd.Categorical(importance["method"], categories=methods).codes.astype(np.int64)
    word_index = importance["word_index"].to_numpy(dtype=np.int64)
    order = np.lexsort((word_index, method_codes, example_codes))
    example_codes, method_codes, word_index = example_codes[order], method_codes[order], word_index[order]
    scores = importance["score"].to_numpy(dtype=float)[order]
    starts = np.flatnonzero(np.r_[True, example_codes[1:] != example_codes[:-1]])
    stops = np.r_[starts[1:], example_codes.size]

    # Examples whose methods all score the same words are stacked by (length, methods)
    # and computed together; the rest (a method lacks some words) one pair at a time.
    stacks: dict[tuple[int, tuple[int, ...]], list[tuple[int, np.ndarray]]] = {}
    chunks: list[_AgreementChunk] = []
    for start, stop in zip(starts, stops):
        present_methods, method_pos = np.unique(method_codes[start:stop], return_inverse=True)
        if present_methods.size < 2 or not wanted[np.ix_(present_methods, present_methods)].any():
            continue
        words, word_pos = np.unique(word_index[start:stop], return_inverse=True)
        matrix = np.zeros((present_methods.size, words.size))
        matrix[method_pos, word_pos] = scores[start:stop]
        if stop - start == matrix.size:
            stacks.setdefault((words.size, tuple(present_methods)), []).append((start, matrix))
        else:
            present = np.zeros(matrix.shape, dtype=bool)
            present[method_pos, word_pos] = True
            floor = _PartialFloor([methods[m] for m in present_methods], is_random[present_methods],
                                  example_ids[example_codes[start]], floor_draws, seed)
            chunks.append(_partial_example(start, matrix, present, present_methods, wanted, metric_objects,
                                           variants, block_elements, floor))

    for (n_words, present), members in stacks.items():
        present_methods = np.array(present)
        rows_a, rows_b = np.nonzero(np.triu(wanted[np.ix_(present_methods, present_methods)], k=1))
        floor = _FloorDraws.plan(rows_a, rows_b, is_random[present_methods], floor_draws)
        n_rows = present_methods.size + floor.random_rows.size * (floor.draws - 1)
        # Bound the (examples, words, rows, rows) Gram and (examples, rows, words) arrays.
        per_example = n_words * n_rows * max(n_rows, n_words)
        size = max(1, block_elements // max(1, per_example))
        present_names = [methods[m] for m in present_methods]
        for first in range(0, len(members), size):
            part = members[first:first + size]
            stacked = floor.extended(np.stack([matrix for _, matrix in part]), present_names,
                                     [example_ids[example_codes[start]] for start, _ in part], seed)
            values = np.empty((len(part) * rows_a.size, len(variants), len(metric_objects)))
            p_values = np.empty_like(values)
            for v, variant in enumerate(variants):
                batch = PairBatch(_apply_variant(stacked, variant), floor.rows_a, floor.rows_b,
                                  block_elements=block_elements)
                for t, metric in enumerate(metric_objects):
                    values[:, v, t], p_values[:, v, t] = floor.average(*metric.evaluate(batch))
            chunks.append(_AgreementChunk(
                first_row=np.repeat([start for start, _ in part], rows_a.size),
                code_a=np.tile(present_methods[rows_a], len(part)),
                code_b=np.tile(present_methods[rows_b], len(part)),
                values=values,
                p_values=p_values,
            ))

    if not chunks:
        return _empty_agreement()
    first_row = np.concatenate([c.first_row for c in chunks])
    by_example = np.argsort(first_row, kind="stable")  # pairs of one example stay in order
    per_pair = len(variants) * len(metric_objects)
    first_row = np.repeat(first_row[by_example], per_pair)
    code_a = np.repeat(np.concatenate([c.code_a for c in chunks])[by_example], per_pair)
    code_b = np.repeat(np.concatenate([c.code_b for c in chunks])[by_example], per_pair)
    values = np.concatenate([c.values for c in chunks])[by_example].reshape(-1)
    p_values = np.concatenate([c.p_values for c in chunks])[by_example].reshape(-1)
    n_pairs = by_example.size

    n_words = importance["n_words"].to_numpy(dtype=np.int64)[order][first_row]
    lengths, length_pos = np.unique(n_words, return_inverse=True)
    buckets = [length_bucket(int(n), length_edges) for n in lengths]
    result = pd.DataFrame({
        "example_id": _strings(example_codes[first_row], [str(e) for e in example_ids]),
        "method_a": _strings(code_a, methods),
        "method_b": _strings(code_b, methods),
        "family_a": _strings(code_a, list(method_families)),
        "family_b": _strings(code_b, list(method_families)),
        "pair_kind": _strings(code_a * len(methods) + code_b, list(kind_matrix.reshape(-1))),
        "variant": _strings(np.tile(np.repeat(np.arange(len(variants)), len(metric_objects)), n_pairs), variants),
        "metric": _strings(np.tile(np.arange(len(metric_objects)), n_pairs * len(variants)),
                           [m.name for m in metric_objects]),
        "value": values,
        "p_value": p_values,
        "n_words": n_words,
        "length_bucket": _strings(length_pos.reshape(-1), buckets),
        "predicted": importance["predicted"].to_numpy(dtype=np.int64)[order][first_row],
    })
    return result[AGREEMENT_COLUMNS]


@dataclass
class _AgreementChunk:
    """Agreement of some (example, pair) entries: ``values[entry, variant, metric]``."""

    first_row: np.ndarray
    code_a: np.ndarray
    code_b: np.ndarray
    values: np.ndarray
    p_values: np.ndarray


@dataclass(frozen=True)
class _PartialFloor:
    """What :func:`_partial_example` needs for the random floor of its example."""

    methods: list[str]
    is_random: np.ndarray
    example_id: object
    draws: int
    seed: int

    def pair(self, matrix: np.ndarray, present: np.ndarray, a: int, b: int) -> np.ndarray:
        """Rows ``a`` and ``b`` as ``(draws, 2, words)``: draw 0 as they are, then the random side(s) redrawn.

        A random row is redrawn over the words it scores, as in :meth:`_FloorDraws.extended`,
        so its draws do not depend on which words the other method lacks.
        """
        draws = self.draws if self.is_random[[a, b]].any() else 1
        stack = np.repeat(matrix[None, [a, b]], draws, axis=0)
        for side, row in enumerate((a, b)):
            if draws > 1 and self.is_random[row]:
                own = np.flatnonzero(present[row])
                stack[1:, side, own] = _floor_draws(matrix[row, own], method=self.methods[row],
                                                    example_id=self.example_id, draws=draws, seed=self.seed)
        return stack


def _partial_example(
    first_row: int,
    matrix: np.ndarray,
    present: np.ndarray,
    present_methods: np.ndarray,
    wanted: np.ndarray,
    metric_objects: list[AgreementMetric],
    variants: list[str],
    block_elements: int,
    floor: _PartialFloor,
) -> _AgreementChunk:
    """Agreement for one example where some method lacks some words: each pair on its common words.

    Pairs with a random method are computed on all floor draws at once (one batch
    example per draw) and averaged, as in the stacked path.
    """
    rows_a, rows_b = np.nonzero(np.triu(wanted[np.ix_(present_methods, present_methods)], k=1))
    values = np.full((rows_a.size, len(variants), len(metric_objects)), np.nan)
    p_values = np.full_like(values, np.nan)
    for p, (a, b) in enumerate(zip(rows_a, rows_b)):
        common = present[a] & present[b]
        if not common.any():
            continue
        stack = floor.pair(matrix, present, a, b)[:, :, common]
        for v, variant in enumerate(variants):
            batch = PairBatch(_apply_variant(stack, variant), [0], [1], block_elements=block_elements)
            for t, metric in enumerate(metric_objects):
                value, p_value = metric.evaluate(batch)
                values[p, v, t] = value.mean()
                p_values[p, v, t] = p_value[0] if value.size == 1 else np.nan
    return _AgreementChunk(
        first_row=np.full(rows_a.size, first_row),
        code_a=present_methods[rows_a],
        code_b=present_methods[rows_b],
        values=values,
        p_values=p_values,
    )


def _strings(codes: np.ndarray, labels: Sequence[str]) -> pd.Series:
    """``labels[codes]`` as a string column (via a categorical, much faster than object arrays)."""
    unique, position = np.unique(np.asarray(list(labels), dtype=object).astype(str), return_inverse=True)
    categories = pd.Index(unique, dtype="str")
    return pd.Series(pd.Categorical.from_codes(position[codes], categories=categories)).astype("str")
