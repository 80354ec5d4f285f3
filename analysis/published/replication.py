"""Published numbers beside ours: the replication table.

Each :class:`PublishedNumber` declares one number a paper printed (source, table, row and
column), what it measures in this study's terms (a method pair and metric of the
``agreement_summary`` table, or accuracy from the ``evaluation`` table), the published
dataset and model and the properties by which our config's models are matched to it
(:class:`ModelProperties`: family, encoder, attention; never the model's name), and the
setup differences that can move our number away from it. :func:`replication_table` looks
up our number for every declaration: per training seed the mean with its 95% interval
(the agreement summary's studentised bootstrap; Clopper-Pearson for accuracy), then the
seed mean and the range of the seeds' intervals, and whether the published value lies in
that range (``within``). A declaration whose dataset, model or method pair this study did
not run gives no row.

Provenance of the numbers (see each :class:`PublishedSource`'s ``evidence``):

- Jain & Wallace 2019, Table 2: the values as transcribed from the paper in public reading
  notes; each equals, rounded to two decimals, the authors' own output table for that
  dataset, encoder and class in github.com/successar/AttentionExplanation at commit cbde5d5
  (2019-04-02): ``graph_outputs/GradientPval/`` (gradient) and ``graph_outputs/pyxc-pyc_pval/``
  (leave-one-out). The values are per predicted class (0/1), as the paper reports them.
- Jain & Wallace 2019, Table 1 (test performance of the BiLSTM): transcribed values; the
  authors' evaluation outputs confirm SST and AG News but give 0.91 for IMDB.
- Abnar & Zuidema 2020, Tables 1 and 3 (arXiv 2005.00928v2): transcribed with page
  references in public reading notes and checked against the PDF (a copy in
  github.com/viktor-shcherb/msc_thesis, references/2020-07-quantifying-attention-flow/2005.00928.pdf).

Wiegreffe & Pinter 2019, Table 2 (uniform vs learned attention) is not declared: no source
that prints its numbers could be read here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.stats.intervals import proportion_interval

AGREEMENT, ACCURACY = "agreement", "accuracy"
SMALL_N = 10  # below this many examples a seed's studentised-bootstrap interval is flagged as unreliable
SAME_TASK, OTHER_TASK, OTHER_MEASURE = "same task", "different task", "different measure"
"""Scopes of a published number: comparable with ours; another task; the same task scored by another measure
(both shown for scale only, never counted as agreeing or differing)."""
FOR_SCALE = (OTHER_TASK, OTHER_MEASURE)

REPLICATION_COLUMNS = [
    "key", "source", "citation", "table", "row", "column", "measure", "published_dataset", "published_model", "published",
    "published_spread", "published_sig_frac", "dataset", "model", "method_a", "method_b", "metric", "group",
    "seeds", "n", "ours", "low", "high", "ours_sig_frac", "difference", "within", "margin", "close", "scope", "note",
    "evidence",
]

# What our fallback datasets change relative to the paper's (read when the preferred dataset is absent).
DATASET_NOTES = {
    "sst2": "GLUE SST-2 (validation split), not the sentence-level SST test split",
    "ag_news": "all four AG News classes, not the World vs Business binary task",
}


@dataclass(frozen=True)
class ModelProperties:
    """Which of our config's models stand for a published model: matched by declared properties."""

    family: str
    encoder: str | None = None
    attention: str | None = None

    def matches(self, entry: Mapping[str, Any]) -> bool:
        if entry.get("family") != self.family:
            return False
        if self.family != "rnn":
            return True
        # the config schema's defaults for an rnn entry (see directions.py)
        return ((self.encoder is None or entry.get("encoder", "lstm") == self.encoder)
                and (self.attention is None or entry.get("attention", "tanh") == self.attention))


@dataclass(frozen=True)
class PublishedSource:
    """One published table: how to cite it, where its numbers were read, and how its setup differs from ours."""

    short: str  # "Author & Author year", for table cells
    citation: str
    table: str
    measured: str
    evidence: str
    differences: str


@dataclass(frozen=True)
class PublishedNumber:
    """One published number and how this study measures the same thing."""

    key: str
    source: PublishedSource
    row: str
    column: str
    published_dataset: str
    published_model: str
    value: float
    our_datasets: tuple[str, ...]  # in order of preference: the first this study ran is used
    our_model: ModelProperties
    measure: str = AGREEMENT
    method_a: str | None = None
    method_b: str | None = None
    metric: str = "kendall_tau"
    variant: str = "abs"
    spread: float | None = None  # the published std. dev. over examples (not an interval)
    sig_frac: float | None = None  # published share of examples whose correlation has p <= 0.05
    label: str | None = None  # a class name: the row is for examples predicted as this class; None = all
    scope: str = SAME_TASK
    note: str = ""  # what differs for this number in particular (the source's ``differences`` cover the rest)
    evidence: str = ""  # where this number in particular was checked


# ----------------------------------------------------------------------- the sources
JW_TABLE2 = PublishedSource(
    short="Jain & Wallace 2019",
    citation="Jain & Wallace 2019 (NAACL), \"Attention is not Explanation\"",
    table="Table 2",
    measured="Kendall τ between attention and gradient (τg) or leave-one-out (τloo) importance per test example: "
             "mean ± std. dev. over the examples predicted as each class, and \"Sig. Frac.\", the share of examples "
             "whose τ has p ≤ 0.05.",
    evidence="Values as transcribed from the paper's Table 2 in public reading notes (arXiv 1902.10186); each equals, "
             "rounded to two decimals, the authors' output for that dataset, encoder and class in "
             "github.com/successar/AttentionExplanation at commit cbde5d5 (2019-04-02), "
             "graph_outputs/GradientPval/<dataset>+<encoder>+tanh.csv (gradient) and "
             "graph_outputs/pyxc-pyc_pval/<dataset>+<encoder>+tanh.csv (leave-one-out).",
    differences="Their models: 300-d pretrained word embeddings, a 128-unit BiLSTM (configurations.py), trained and "
                "scored on length-filtered sets (their loader keeps SST sentences of more than 5 words, 1,725 of the "
                "1,821 test sentences, and IMDB reviews under 400 tokens), in train mode (their models have no "
                "dropout); they drop the start and end markers before τ. Ours score every test sentence, short ones "
                "included, where τ moves in coarse steps. Sig. Frac.: ours counts p < 0.05 among the examples whose τ "
                "is defined, with SciPy's exact p-value on texts of up to 33 words (on SST up to 2 points below the "
                "asymptotic one); theirs counts p ≤ 0.05 over every example. Their gradient is |Σ_d ∂p/∂e_d · e_d| with attention detached, as our jw_gradient; "
                "their leave-one-out is |Δp| when a word is deleted, as our loo_delete. A less accurate model, or "
                "attention nearer uniform, may change τ with attention; on short sentences τ moves in coarse steps, "
                "our SST sentences keep punctuation tokens, which theirs deleted, and a run with few explained "
                "examples per class gives wide intervals.",
)
JW_TABLE1 = PublishedSource(
    short="Jain & Wallace 2019",
    citation="Jain & Wallace 2019 (NAACL), \"Attention is not Explanation\"",
    table="Table 1",
    measured="Test performance of the BiLSTM with additive (tanh) attention (F1 for the binary tasks, per the "
             "transcription), beside our evaluation-split accuracy.",
    evidence="Values as transcribed from the paper's Table 1 in public reading notes. The authors' evaluation outputs "
             "(github.com/successar/AttentionExplanation, graph_outputs/evaluate/<dataset>+lstm+tanh.json at commit "
             "6af8947, 2019-04-03) give positive-class F1 0.806 (SST) and 0.962 (AG News), matching, but 0.906 for "
             "IMDB, not 0.88.",
    differences="F1 against our accuracy (close on balanced binary test sets, not equal). Their models start from "
                "300-d pretrained embeddings and train on the full training sets; ours may start from smaller "
                "vectors or none and train on subsamples (the row's notes and the study's reductions say which), "
                "so somewhat lower accuracy is expected.",
)
AZ_TABLE3 = PublishedSource(
    short="Abnar & Zuidema 2020",
    citation="Abnar & Zuidema 2020 (ACL), \"Quantifying Attention Flow in Transformers\"",
    table="Table 3 (arXiv 2005.00928v2)",
    measured="Spearman correlation of attention-based importance (raw, rollout, flow at layer 6) with input "
             "gradients, mean ± std. dev. over 100 SST-2 test sentences, DistilBERT fine-tuned on SST-2; in their "
             "words all three correlate very weakly, rollout and flow slightly better than raw attention.",
    evidence="Transcribed with page references (p. 4) in public reading notes of arXiv 2005.00928v2 "
             "(github.com/viktor-shcherb/msc_thesis, references/2020-07-quantifying-attention-flow/sections/"
             "04_analysis-and-discussion.md), checked against the PDF (2005.00928.pdf in the same folder, p. 4).",
    differences="Their released script (samiraabnar/attention_flow, compute_corel_distilbert_sst.py) scores "
                "|Σ_d ∂logit/∂e_d| (no ×input) of one class's logit, reads attention as the maximum over all query "
                "positions rather than the [CLS] row, keeps [CLS] and [SEP] in the ranking and uses dense ranks. "
                "Ours: MiniLM (6 layers) fine-tuned here, saliency = L2 norm of the gradient of the predicted-class "
                "probability, words with special tokens excluded (a word's rollout sums its subwords; its flow is the "
                "maximum flow from all its subwords at once), flow bounded by max_tokens.",
)
AZ_TABLE1 = PublishedSource(
    short="Abnar & Zuidema 2020",
    citation="Abnar & Zuidema 2020 (ACL), \"Quantifying Attention Flow in Transformers\"",
    table="Table 1 (arXiv 2005.00928v2)",
    measured="Spearman correlation of [CLS] attention importance (raw, rollout, flow at layer 6) with blank-out "
             "scores (each token replaced by UNK, fall in the correct class's probability), mean ± std. dev. over "
             "2,000 test sentences of subject-verb agreement (Linzen et al. 2016), a 6-layer GPT-2-block encoder.",
    evidence="Transcribed with page references (p. 2) in public reading notes of arXiv 2005.00928v2 "
             "(github.com/viktor-shcherb/msc_thesis, references/2020-07-quantifying-attention-flow/sections/"
             "02_setups-and-problem-statement.md), checked against the PDF (2005.00928.pdf in the same folder, p. 2).",
    differences="A different task and model: in verb-number prediction one far-away noun decides the output, which "
                "rollout and flow trace through the layers; in sentiment many words contribute and a fine-tuned "
                "classifier can concentrate its decision in the last layer. Our blank-out replaces a word by [MASK] "
                "and explains the predicted class. Shown for scale: `within` on these rows is no replication.",
)

_JW_BILSTM = ModelProperties("rnn", encoder="lstm", attention="tanh")
_JW_AVERAGE = ModelProperties("rnn", encoder="average", attention="tanh")
_TRANSFORMER = ModelProperties("transformer")
_JW_DATASETS = {
    "SST": (("sst2_sentences", "sst2"), "sst", ("negative", "positive")),
    "IMDB": (("imdb",), "imdb", ("negative", "positive")),
    "AG News": (("ag_news_binary", "ag_news"), "agnews", ("World", "Business")),
}
# (dataset, class) -> (gradient BiLSTM, gradient Average, leave-one-out BiLSTM); each (mean, std, sig. frac.)
_JW_TABLE2_VALUES = {
    ("SST", 0): ((0.40, 0.21, 0.59), (0.69, 0.15, 0.93), (0.34, 0.20, 0.47)),
    ("SST", 1): ((0.38, 0.19, 0.58), (0.69, 0.14, 0.94), (0.33, 0.19, 0.47)),
    ("IMDB", 0): ((0.37, 0.07, 1.00), (0.65, 0.05, 1.00), (0.30, 0.07, 0.99)),
    ("IMDB", 1): ((0.37, 0.08, 0.99), (0.66, 0.05, 1.00), (0.31, 0.07, 0.98)),
    ("AG News", 0): ((0.42, 0.11, 0.93), (0.77, 0.08, 1.00), (0.35, 0.13, 0.80)),
    ("AG News", 1): ((0.35, 0.13, 0.81), (0.75, 0.07, 1.00), (0.32, 0.13, 0.73)),
}


def _jain_wallace_table2() -> list[PublishedNumber]:
    numbers = []
    columns = [("gradient_bilstm", "Gradient (BiLSTM) τg", "BiLSTM + tanh attention", _JW_BILSTM, "jw_gradient",
                "GradientPval", "lstm"),
               ("gradient_average", "Gradient (Average) τg", "Average (no encoder) + tanh attention", _JW_AVERAGE,
                "jw_gradient", "GradientPval", "average"),
               ("loo_bilstm", "Leave-One-Out (BiLSTM) τloo", "BiLSTM + tanh attention", _JW_BILSTM, "loo_delete",
                "pyxc-pyc_pval", "lstm")]
    for (dataset, cls), values in _JW_TABLE2_VALUES.items():
        ours, stem, labels = _JW_DATASETS[dataset]
        for (name, column, model, properties, method, folder, encoder), (mean, std, sig) in zip(columns, values):
            numbers.append(PublishedNumber(
                key=f"jw2019_t2_{stem}_{cls}_{name}", source=JW_TABLE2, row=f"{dataset}, class {cls} ({labels[cls]})",
                column=column, published_dataset=dataset, published_model=model, value=mean, spread=std,
                sig_frac=sig, our_datasets=ours, our_model=properties, method_a="rnn_attention", method_b=method,
                label=labels[cls],
                evidence=f"successar/AttentionExplanation@cbde5d5 graph_outputs/{folder}/{stem}+{encoder}+tanh.csv, "
                         f"row {cls}"))
    return numbers


def _jain_wallace_table1() -> list[PublishedNumber]:
    return [PublishedNumber(
        key=f"jw2019_t1_{stem}_performance", source=JW_TABLE1, row=dataset, column="Test Perf. (BiLSTM)",
        published_dataset=dataset, published_model="BiLSTM + tanh attention", value=value, our_datasets=ours,
        our_model=_JW_BILSTM, measure=ACCURACY, metric="accuracy",
        note="F1 (theirs) beside accuracy (ours)",
        evidence=("not confirmed: the authors' evaluation output gives 0.906" if dataset == "IMDB" else
                  f"successar/AttentionExplanation@6af8947 graph_outputs/evaluate/{stem}+lstm+tanh.json"))
        for dataset, value in (("SST", 0.81), ("IMDB", 0.88), ("AG News", 0.96))
        for ours, stem, _ in [_JW_DATASETS[dataset]]]


def _abnar_zuidema() -> list[PublishedNumber]:
    methods = (("Raw", "attention_last_mean"), ("Rollout", "attention_rollout"), ("Flow", "attention_flow"))
    sst = {"Raw": (0.09, 0.21), "Rollout": (0.13, 0.20), "Flow": (0.14, 0.21)}
    agreement = {"Raw": (0.29, 0.39), "Rollout": (0.71, 0.24), "Flow": (0.70, 0.22)}
    numbers = [PublishedNumber(
        key=f"az2020_t3_sst2_{row.lower()}_l6", source=AZ_TABLE3, row=row, column="L6", published_dataset="SST-2",
        published_model="DistilBERT fine-tuned on SST-2", value=sst[row][0], spread=sst[row][1],
        our_datasets=("sst2", "sst2_sentences"), our_model=_TRANSFORMER, method_a=method, method_b="saliency",
        metric="spearman", scope=OTHER_MEASURE,
        note="layer 6 of 6; raw = last layer, head mean; a different gradient measure (ours: L2 norm of the "
             "probability's gradient per word; theirs: |Σ_d ∂logit/∂e_d|)",
        evidence="msc_thesis notes, Table 3 (p. 4)")
        for row, method in methods]
    numbers += [PublishedNumber(
        key=f"az2020_t1_sva_{row.lower()}_l6", source=AZ_TABLE1, row=row, column="L6",
        published_dataset="subject-verb agreement", published_model="6-layer GPT-2-block encoder",
        value=agreement[row][0], spread=agreement[row][1], our_datasets=("sst2", "sst2_sentences"),
        our_model=_TRANSFORMER, method_a=method, method_b="loo_mask", metric="spearman", scope=OTHER_TASK,
        note="different task (their Table 1 is verb-number prediction)", evidence="msc_thesis notes, Table 1 (p. 2)")
        for row, method in methods]
    return numbers


PUBLISHED_NUMBERS: tuple[PublishedNumber, ...] = (*_jain_wallace_table2(), *_jain_wallace_table1(),
                                                   *_abnar_zuidema())


# ----------------------------------------------------------------------- our numbers
def _label_names(config: Mapping[str, Any], dataset: str) -> tuple[str, ...] | None:
    """Our class names in our label-id order, or None when the dataset cannot be resolved."""
    from analysis.data import DATASETS
    from analysis.data.specs import dataset_spec

    try:
        if dataset in config.get("datasets", {}):
            return tuple(dataset_spec(dict(config), dataset).label_names)
        return tuple(DATASETS.get(dataset).label_names)
    except (KeyError, ValueError):  # an unknown or invalid dataset entry: no row rather than a failed report
        return None


def _model_notes(entry: Mapping[str, Any]) -> list[str]:
    if entry.get("family") == "rnn" and not entry.get("embeddings"):
        return [f"our embeddings ({entry.get('embed_dim', 128)}-d) learned from scratch"]
    return []


def _agreement_seeds(summary: pd.DataFrame, number: PublishedNumber, dataset: str, model: str,
                     group_by: str, group: str) -> pd.DataFrame:
    pair = (((summary["method_a"] == number.method_a) & (summary["method_b"] == number.method_b))
            | ((summary["method_a"] == number.method_b) & (summary["method_b"] == number.method_a)))
    rows = summary[(summary["dataset"] == dataset) & (summary["model"] == model) & pair
                   & (summary["metric"] == number.metric) & (summary["variant"] == number.variant)
                   & (summary["group_by"] == group_by) & (summary["group"].astype(str) == group)]
    rows = rows.drop_duplicates("seed")
    columns = {"mean": "estimate", "mean_low": "low", "mean_high": "high"}
    keep = ["seed", "n", *columns, *(["share_significant"] if "share_significant" in rows else [])]
    return rows[keep].rename(columns=columns).astype({"estimate": float, "low": float, "high": float})


def _accuracy_seeds(evaluation: pd.DataFrame, dataset: str, model: str, level: float) -> pd.DataFrame:
    rows = evaluation[(evaluation["dataset"] == dataset) & (evaluation["model"] == model)].drop_duplicates("seed")
    records = []
    for row in rows.itertuples(index=False):
        n = int(row.n_eval)
        _, low, high = proportion_interval(int(round(float(row.accuracy) * n)), n, level=level)
        records.append({"seed": row.seed, "n": n, "estimate": float(row.accuracy), "low": low, "high": high})
    return pd.DataFrame(records, columns=["seed", "n", "estimate", "low", "high"])


def _n_text(n: pd.Series) -> str:
    low, high = int(n.min()), int(n.max())
    return f"{low}" if low == high else f"{low}-{high}"


def replication_table(tables: Mapping[str, pd.DataFrame], config: Mapping[str, Any],
                      numbers: tuple[PublishedNumber, ...] | None = None) -> pd.DataFrame:
    """Every published number beside ours (one row per declaration x matching model of ours).

    ``tables`` holds the study's ``agreement_summary`` and, for the accuracy rows,
    ``evaluation``; either may be absent. Ours per seed is the seed's mean with its
    interval; ``ours`` is the mean over seeds, ``low``/``high`` the range of the seeds'
    intervals, and ``within`` whether the published value lies in that range; ``close`` whether
    the whole range lies within ``margin`` of the published value (the study's equivalence
    margin: ``agreement.equivalence_margin`` for agreement, ``claims.accuracy_margin`` for
    accuracy), a practical-equivalence reading that large samples cannot make fail by themselves. A
    declaration whose dataset, model, class or method pair has no rows here gives no row.
    """
    numbers = PUBLISHED_NUMBERS if numbers is None else numbers
    summary, evaluation = tables.get("agreement_summary"), tables.get("evaluation")
    level = float(config.get("agreement", {}).get("level", 0.95))
    margins = {AGREEMENT: float(config.get("agreement", {}).get("equivalence_margin", 0.05)),
               ACCURACY: float(config.get("claims", {}).get("accuracy_margin", 0.02))}
    models = config.get("models", {})
    records = []
    for number in numbers:
        source = summary if number.measure == AGREEMENT else evaluation
        if source is None or source.empty:
            continue
        present = set(source["dataset"].astype(str))
        dataset = next((d for d in number.our_datasets if d in present), None)
        if dataset is None:
            continue
        group_by, group = "all", "all"
        if number.label is not None:
            names = _label_names(config, dataset)
            if names is None or number.label not in names:
                continue
            group_by, group = "predicted", str(names.index(number.label))
        for model, entry in models.items():
            if not number.our_model.matches(entry):
                continue
            seeds = (_agreement_seeds(source, number, dataset, model, group_by, group) if number.measure == AGREEMENT
                     else _accuracy_seeds(source, dataset, model, level))
            seeds = seeds[np.isfinite(seeds["estimate"])]
            if seeds.empty:
                continue
            bounded = seeds[np.isfinite(seeds["low"]) & np.isfinite(seeds["high"])]
            low, high = (float(bounded["low"].min()), float(bounded["high"].max())) if len(bounded) else (np.nan,
                                                                                                          np.nan)
            ours = float(seeds["estimate"].mean())
            notes = [number.note] if number.note else []
            if len(bounded) < len(seeds):
                notes.append(f"{len(seeds) - len(bounded)} seed(s) without an interval (too few examples) left out "
                             f"of the range")
            elif number.measure == AGREEMENT and int(seeds["n"].min()) < SMALL_N:
                notes.append(f"under {SMALL_N} examples in a seed: its bootstrap interval is unreliable")
            if dataset != number.our_datasets[0] and dataset in DATASET_NOTES:
                notes.append(f"ours: {DATASET_NOTES[dataset]}")
            notes += _model_notes(entry)
            if number.label is not None:
                notes.append(f"ours: {_n_text(seeds['n'])} explained examples predicted {number.label} per seed")
            sig = seeds["share_significant"].astype(float).mean() if "share_significant" in seeds else np.nan
            records.append({
                "key": number.key, "source": number.source.short, "citation": number.source.citation, "table": number.source.table,
                "row": number.row, "column": number.column, "measure": number.measure,
                "published_dataset": number.published_dataset, "published_model": number.published_model,
                "published": number.value, "published_spread": np.nan if number.spread is None else number.spread,
                "published_sig_frac": np.nan if number.sig_frac is None else number.sig_frac,
                "dataset": dataset, "model": model, "method_a": number.method_a or "", "method_b": number.method_b or "",
                "metric": number.metric, "group": group, "seeds": int(len(seeds)), "n": _n_text(seeds["n"]),
                "ours": ours, "low": low, "high": high, "ours_sig_frac": float(sig) if np.isfinite(sig) else np.nan,
                "difference": ours - number.value,
                "within": bool(low <= number.value <= high) if len(bounded) else None,
                "margin": margins[number.measure],
                "close": (bool(number.value - margins[number.measure] <= low and high <= number.value
                               + margins[number.measure]) if len(bounded) else None),
                "scope": number.scope, "note": "; ".join(notes), "evidence": number.evidence,
            })
    table = pd.DataFrame(records, columns=REPLICATION_COLUMNS)
    for column in ("within", "close"):  # True / False, or None where no seed has an interval
        table[column] = table[column].astype(object)
    return table


def sources(numbers: tuple[PublishedNumber, ...] | None = None) -> list[PublishedSource]:
    """The distinct published tables behind ``numbers``, in declaration order."""
    seen: dict[tuple[str, str], PublishedSource] = {}
    for number in PUBLISHED_NUMBERS if numbers is None else numbers:
        seen.setdefault((number.source.citation, number.source.table), number.source)
    return list(seen.values())
