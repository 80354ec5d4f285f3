"""The published directions this study checks, one registered :class:`PublishedClaim` each.

Thresholds are stated in each claim's ``test``: where a paper says "nearly unchanged" or
"rarely", we fix the number that reading implies and test against it. Every test is on
the same examples (paired where two quantities are compared). Jain & Wallace's
counterfactual claims were made for the BiLSTM: other encoders are extensions, decided
and counted separately.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd

from analysis.published.claims import (
    EXTENSION,
    PUBLISHED_CLAIMS,
    RANKS_NOTE,
    REPLICATION,
    ClaimData,
    ClaimSettings,
    PublishedClaim,
    Run,
    RunTest,
)
from analysis.seeding import derive_seed
from analysis.stats.divergence import JSD_MAX, JSD_UNIT
from analysis.stats.hypothesis import (
    binding_part,
    binomial_n_needed,
    combine_all,
    equivalence_test,
    paired_test,
    rate_test,
)

PERMUTATION_TVD = 0.05     # "nearly unchanged": an example's median output TVD under permutation below this
ADVERSARIAL_JSD = 0.3      # "very different attention": JSD (nats, at most ln 2 = 0.69) from the original above this
ZEROING_FLIPS = 0.10       # "rarely flips": share of decisions flipped by zeroing the top item below this
MOST = 0.5                 # "most examples": a share above one half
JW_DATASETS = ("sst2", "sst2_sentences", "ag_news", "ag_news_binary", "imdb")
WP_DATASETS = JW_DATASETS
SS_DATASETS = ("imdb",)  # Serrano & Smith: Yahoo Answers, IMDB, Amazon, Yelp; only IMDB is in this study


def _mean(values: pd.Series | np.ndarray | None, digits: int = 2) -> str:
    if values is None or not len(values):
        return "n/a"
    return f"{float(np.nanmean(np.asarray(values, dtype=float))):.{digits}f}"


def _jw_scope(data: ClaimData, run: Run) -> str:
    """Replication on Jain & Wallace's datasets with the encoder their claims were made for (the BiLSTM);
    every other dataset or model extends the claim."""
    entry = data.model(run[1])
    if entry.get("family") != "rnn" or run[0] not in JW_DATASETS:
        return EXTENSION
    return REPLICATION if entry.get("encoder", "lstm") == "lstm" else EXTENSION


def _dataset_scope(dataset: str, datasets: tuple[str, ...]) -> str:
    return REPLICATION if dataset in datasets else EXTENSION


def gradient_method(data: ClaimData, run: Run) -> str:
    """Jain & Wallace's gradient (attention detached) when computed, else plain saliency."""
    return "jw_gradient" if data.has_method(run, "jw_gradient") else "saliency"


def _paired_test(a: pd.Series | None, b: pd.Series | None, settings: ClaimSettings, run: Run, *, sign: int = 1):
    """Paired sign-flip test of ``a - b`` on the examples both cover (None when either is missing)."""
    if a is None or b is None:
        return None
    joined = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").dropna()
    return paired_test((joined["a"] - joined["b"]).to_numpy(), published_sign=sign, alpha=settings.alpha,
                       level=settings.level, n_permutations=settings.n_permutations,
                       seed=derive_seed(settings.seed, *map(str, run)))


# --------------------------------------------------------------- Jain & Wallace
def _causal_agree_more(data: ClaimData, settings: ClaimSettings) -> list[RunTest]:
    tests = []
    for run in data.runs(data.rnn_models()):
        gradient = gradient_method(data, run)
        causal = data.agreement(run, gradient, "loo_delete")
        with_gradient = data.agreement(run, "rnn_attention", gradient)
        with_loo = data.agreement(run, "rnn_attention", "loo_delete")
        parts = [_paired_test(causal, with_gradient, settings, run), _paired_test(causal, with_loo, settings, run)]
        if any(p is None for p in parts):
            continue
        details = (f"τ(gradient, LOO) {_mean(causal)}, τ(attention, gradient) {_mean(with_gradient)}, "
                   f"τ(attention, LOO) {_mean(with_loo)}")
        labels = ("τ(gradient, LOO) − τ(attention, gradient)", "τ(gradient, LOO) − τ(attention, LOO)")
        tests.append(RunTest(*run, combine_all(parts), labels[binding_part(parts)], details,
                             scope=_jw_scope(data, run),
                             near_uniform=data.near_uniform(run)))
    return tests


PUBLISHED_CLAIMS.add("jw_causal_methods_agree_more", PublishedClaim(
    power_kind="paired sign-flip (agreement difference)",
    order=1,
    source="Jain & Wallace 2019, Sec. 4.1 (BiLSTM)",
    published="Gradient and leave-one-out importance agree with each other more than either agrees with attention.",
    test="Kendall τ over |scores| per example: τ(gradient, LOO) − τ(attention, gradient) and τ(gradient, LOO) − "
         "τ(attention, LOO) on the same examples, each by a paired sign-flip test; both must be positive "
         "(intersection-union test). The gradient is theirs (attention held fixed); LOO deletes the word.",
    reasons="Where the encoder carries little context (the average encoder has none, a CNN a narrow window), each "
            "word reaches the output through its own attention weight nearly unchanged, so attention tracks "
            "leave-one-out and the attention-detached gradient almost by construction. Jain & Wallace made the "
            "claim for encoders whose hidden states mix the sentence (their BiLSTM); a BiLSTM whose states stay "
            "close to their own word behaves like the no-encoder model. On SST's short sentences rank "
            "correlations also move in coarse steps.",
    evaluate=_causal_agree_more,
    vacuous_if_uniform=True,
    uniform_note=RANKS_NOTE,
    scope_note="Replication: the BiLSTM (their Sec. 4.1) on SST, AG News and IMDB; extension: the CNN and no-encoder "
               "models (their Table 2 has no gradient-vs-leave-one-out column, and in the authors' later outputs the "
               "CNN on AG News agrees more with leave-one-out through attention than through the gradient) and other "
               "datasets.",
))


def _average_encoder(data: ClaimData, settings: ClaimSettings) -> list[RunTest]:
    models = data.config.get("models", {})
    rnns = data.rnn_models()
    pairs = [(avg, lstm) for avg in rnns for lstm in rnns
             if models[avg].get("encoder") == "average" and models[lstm].get("encoder", "lstm") == "lstm"
             and models[avg].get("attention", "tanh") == models[lstm].get("attention", "tanh")]
    tests = []
    for avg, lstm in pairs:
        for dataset, _, seed in data.runs([avg]):
            simple_run, recurrent_run = (dataset, avg, seed), (dataset, lstm, seed)
            simple = data.agreement(simple_run, "rnn_attention", gradient_method(data, simple_run))
            recurrent = data.agreement(recurrent_run, "rnn_attention", gradient_method(data, recurrent_run))
            decision = _paired_test(simple, recurrent, settings, simple_run)
            if decision is None:
                continue
            tests.append(RunTest(dataset, f"{avg} vs {lstm}", seed, decision,
                                 "τ(attention, gradient): average − BiLSTM",
                                 f"{avg} {_mean(simple)}, {lstm} {_mean(recurrent)}",
                                 scope=_dataset_scope(dataset, JW_DATASETS),
                                 near_uniform=data.near_uniform(recurrent_run)))
    return tests


PUBLISHED_CLAIMS.add("jw_average_encoder_agrees_more", PublishedClaim(
    power_kind="paired sign-flip (agreement difference)",
    order=2,
    source="Jain & Wallace 2019, Table 2 (Average vs BiLSTM)",
    published="Without a contextualising encoder (each word's embedding projected on its own, their Average "
              "encoder), attention agrees with gradient importance much more than with a BiLSTM encoder.",
    test="Per example, τ(attention, gradient) of the no-encoder model minus that of the BiLSTM with the same "
         "attention, on the same explained examples: paired sign-flip test, positive difference.",
    reasons="A BiLSTM whose hidden states stay close to their own word's embedding behaves much like the "
            "no-encoder model.",
    agreeing_means="attention explains the no-encoder model better than the BiLSTM",
    evaluate=_average_encoder,
    vacuous_if_uniform=True,
    uniform_note=RANKS_NOTE,
))


def _share_test(data: ClaimData, settings: ClaimSettings, *, test: str, success, label: str, details,
                threshold: float, side: str, scope, models: list[str] | None = None,
                lower_bound=None) -> list[RunTest]:
    """An exact binomial test of the share of examples where ``success(table)`` holds (NaN: left out).

    One-word examples are left out where the test has no meaning for them (permuting one
    weight is the identity; zeroing the only word leaves no input), as Serrano & Smith do, and
    from the adversarial search (one word's weight cannot move: a JSD of 0 is no evidence either way).
    ``lower_bound(table)``, if given, returns None where the run's share is what it says, else the share
    a fuller search found on a subset and the subset's size (NaN and 0 when none ran): the run's share is then
    only a lower bound (see :class:`RunTest`), and the n for 80% power is planned from that fuller share, in
    examples of the fuller search (``n_power``).
    """
    tests = []
    for run in data.runs(data.rnn_models() if models is None else models):
        table = data.intervention(run, test)
        if table is not None and test in ("permutation", "zeroing", "adversarial") and "n_words" in table:
            table = table[table["n_words"].astype(int) >= 2]
        if table is None or table.empty:
            continue
        outcomes = success(table)
        decision = rate_test(outcomes, threshold, side=side, alpha=settings.alpha, level=settings.level)
        fuller = lower_bound(table) if lower_bound is not None else None
        n_power = None
        if fuller is not None and np.isfinite(fuller[0]):
            decision = replace(decision, n_needed=binomial_n_needed(fuller[0], threshold, settings.alpha))
            n_power = fuller[1]
        tests.append(RunTest(*run, decision, label, details(table), scope=scope(run),
                             near_uniform=data.near_uniform(run), lower_bound=fuller is not None, n_power=n_power))
    return tests


def _permutation(data: ClaimData, settings: ClaimSettings) -> list[RunTest]:
    return _share_test(
        data, settings, test="permutation", threshold=MOST, side="above",
        success=lambda t: (t["median_tvd"].astype(float) < PERMUTATION_TVD).astype(float).where(
            t["median_tvd"].notna()),
        label=f"share of examples with median TVD < {PERMUTATION_TVD}",
        details=_permutation_details,
        scope=lambda run: _jw_scope(data, run), models=data.rnn_models() + data.transformer_models())


PERMUTATION_SENSITIVITY = (0.01, 0.1)
"""Other "nearly unchanged" thresholds whose shares the claim reports beside its own (a sensitivity check)."""


def _permutation_details(table: pd.DataFrame) -> str:
    """Median TVD, flip rate, and the share of examples under each threshold of the sensitivity check."""
    tvd = table["median_tvd"].astype(float).dropna()
    shares = ", ".join(f"< {t:g}: {(tvd < t).mean():.2f}" for t in sorted({*PERMUTATION_SENSITIVITY, PERMUTATION_TVD}))
    return (f"median TVD {tvd.median():.3f}, flip rate {_mean(table['flip_rate'])}; "
            f"share of examples with median TVD {shares}")


PUBLISHED_CLAIMS.add("jw_permutation_changes_little", PublishedClaim(
    power_kind="exact binomial (most examples)",
    order=3,
    source="Jain & Wallace 2019, Sec. 4.2.1 (attention permutation)",
    published="Randomly permuting the attention weights leaves most predictions nearly unchanged.",
    test=f"Per example, the median output TVD over 100 permutations below {PERMUTATION_TVD} (\"nearly unchanged\"); "
         f"the share of such examples above one half (\"most\"): exact binomial test against 1/2.",
    reasons="Where the model is not saturated, small changes in the attention-weighted state move the output "
            "probability more; where attention is peaked on one word (short sentences), permuting moves that "
            "word's weight elsewhere and the output follows.",
    evaluate=_permutation,
    vacuous_if_uniform=True,
    scope_note="Replication: the BiLSTM (their counterfactual experiments) on SST, AG News and IMDB; extension: other "
               "encoders, other datasets and transformers.",
))


def _adversarial_success(table: pd.DataFrame) -> pd.Series:
    """Per example: a solution within the constraint whose JSD exceeds the threshold (no solution: a failure)."""
    jsd = table["jsd"].astype(float).fillna(-1.0)
    return (table["feasible"].astype(bool) & (jsd > ADVERSARIAL_JSD)).astype(float)


def _searches(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The run's own search and the full search repeated on a subset (empty where there is none)."""
    searches = table["search"] if "search" in table else pd.Series("main", table.index)
    return table[searches == "main"], table[searches != "main"]


def _full_search(table: pd.DataFrame) -> float:
    """Steps x restarts of the full (Jain & Wallace) search the run's settings name (NaN when unknown)."""
    if "settings" not in table or table.empty:
        return float("nan")
    try:
        adversarial = json.loads(str(table["settings"].iloc[0])).get("adversarial", {})
        return float(adversarial["steps"]) * float(adversarial["restarts"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return float("nan")


def adversarial_lower_bound(table: pd.DataFrame) -> tuple[float, int] | None:
    """None where the run's share of adversarial solutions stands; else the full search's share on its
    subset and the subset's size (NaN and 0 where it was not run): the run's share is then only a lower bound.

    A lower bound where the run's search is shorter than the full one (fewer steps x restarts than its
    settings' full search) and the full search, repeated on a subset, did not confirm it (found more
    solutions there, or was not run): a longer search can only find more, so such a share can support
    "adversarial attention exists" but never decide against it.
    """
    main, check = _searches(table)
    if main.empty or not {"steps", "restarts"} <= set(main.columns):
        return None
    budget = float((main["steps"].astype(float) * main["restarts"].astype(float)).max())
    full = _full_search(main)
    if not np.isfinite(full) or budget >= full:
        return None
    if check.empty:
        return float("nan"), 0
    same = main[main["example_id"].isin(set(check["example_id"]))]
    share = float(_adversarial_success(check).mean())
    return (share, len(check)) if share > _adversarial_success(same).mean() else None


def _adversarial_details(table: pd.DataFrame) -> str:
    main, check = _searches(table)
    text = (f"output kept within TVD ε in {_mean(main['feasible'].astype(float))} of examples, median JSD "
            f"{main['jsd'].astype(float).median():.3f} {JSD_UNIT}")
    if len(check):  # the full search on a subset against the run's (reduced) search on the same examples
        same = main[main["example_id"].isin(set(check["example_id"]))]
        text += (f"; full search on {len(check)} examples: share {_mean(_adversarial_success(check))} vs "
                 f"{_mean(_adversarial_success(same))} with this run's search")
    if adversarial_lower_bound(table) is not None:
        text += ("; the shortened search's share is a lower bound (a full search finds more), so it cannot decide "
                 "against the claim (n for 80% power: full-search examples, at the full search's share)")
    return text


def _adversarial(data: ClaimData, settings: ClaimSettings) -> list[RunTest]:
    def success(table: pd.DataFrame) -> np.ndarray:
        return _adversarial_success(_searches(table)[0]).to_numpy()

    return _share_test(
        data, settings, test="adversarial", threshold=MOST, side="above", success=success,
        label=f"share of examples with JSD > {ADVERSARIAL_JSD} {JSD_UNIT} within TVD ε",
        details=_adversarial_details, scope=lambda run: _jw_scope(data, run),
        models=data.rnn_models() + data.transformer_models(), lower_bound=adversarial_lower_bound)


PUBLISHED_CLAIMS.add("jw_adversarial_attention_exists", PublishedClaim(
    power_kind="exact binomial (most examples)",
    order=4,
    source="Jain & Wallace 2019, Sec. 4.2.2 (adversarial attention)",
    published="For most examples an adversarial attention distribution far from the original (large JSD) gives "
              "practically the same prediction (TVD within epsilon).",
    test=f"Per example, an adversarial attention found whose output stays within TVD ε (checked in a fresh forward "
         f"pass) and whose JSD from the original exceeds {ADVERSARIAL_JSD} {JSD_UNIT} (the maximum is ln 2 = "
         f"{JSD_MAX:.2f} {JSD_UNIT}, Jain & Wallace's unit); the share of such examples above one half: exact "
         f"binomial test against 1/2. Examples without a solution count as failures; one-word texts are left out. "
         f"Only the words' attention moves (a transformer's [CLS] and [SEP] keep their weights) and the JSD compares "
         f"the words' weights. A shortened search "
         f"(transformers) finds at most what the full one would, so its share is a lower bound: it can agree, but "
         f"differs only where the full search, repeated on a subset, found no more (else inconclusive).",
    reasons="A shorter search than theirs, or a solution kept only if a fresh forward pass confirms the TVD "
            "constraint; on short inputs there are fewer positions to move mass to, so the JSD reachable within "
            "epsilon is smaller.",
    evaluate=_adversarial,
    vacuous_if_uniform=True,
    scope_note="Replication: the BiLSTM (their counterfactual experiments) on SST, AG News and IMDB; extension: other "
               "encoders, other datasets and transformers.",
))


# ----------------------------------------------------------- Wiegreffe & Pinter
def _uniform(data: ClaimData, settings: ClaimSettings) -> list[RunTest]:
    models = data.config.get("models", {})
    tests = []
    for uniform in data.rnn_models(uniform=True):
        encoder = models[uniform].get("encoder", "lstm")
        for learned in [m for m in data.rnn_models() if models[m].get("encoder", "lstm") == encoder]:
            for dataset, _, seed in data.runs([uniform]):
                uniform_predictions = data.predictions((dataset, uniform, seed))
                learned_predictions = data.predictions((dataset, learned, seed))
                if uniform_predictions is None or learned_predictions is None:
                    continue
                joined = pd.concat([
                    learned_predictions.set_index("example_id")["correct"].astype(float).rename("learned"),
                    uniform_predictions.set_index("example_id")["correct"].astype(float).rename("uniform")],
                    axis=1, join="inner")
                decision = equivalence_test((joined["learned"] - joined["uniform"]).to_numpy(),
                                            settings.accuracy_margin, alpha=settings.alpha, level=settings.level)
                tests.append(RunTest(
                    dataset, f"{uniform} vs {learned}", seed, decision, "accuracy: learned − uniform",
                    f"accuracy {joined['learned'].mean():.3f} (learned) vs {joined['uniform'].mean():.3f} (uniform)",
                    # their Table 2 compares uniform with additive (tanh) attention; other attentions: extensions
                    scope=(_dataset_scope(dataset, WP_DATASETS) if models[learned].get("attention", "tanh") == "tanh"
                           else EXTENSION),
                    near_uniform=data.near_uniform((dataset, learned, seed))))
    return tests


PUBLISHED_CLAIMS.add("wp_uniform_attention_suffices", PublishedClaim(
    power_kind="equivalence (TOST, accuracy within 2 points)",
    order=5,
    source="Wiegreffe & Pinter 2019, Table 2",
    published="On SST, AG News and IMDB a model with attention frozen to uniform is about as accurate as the same "
              "model with learned attention (attention is not needed for these tasks).",
    test="Equivalence on the same evaluation examples: per example, correct (1/0) with learned minus with "
         "uniform attention; TOST (two one-sided paired t-tests, each at 2.5%, i.e. the 95% t-interval inside the "
         "margin) of the mean within ± the study's accuracy margin (stated beside the table): agrees when both sides "
         "reject; differs when a two-sided t-test puts the mean beyond the margin (either way: a uniform model "
         "clearly more accurate is no parity either). Not being able to tell the two apart would not be parity.",
    reasons="Learned attention can act as a useful pooling prior with small training sets; HateXplain and the "
            "planted-shortcut task were not in their comparison, and a shortcut placed anywhere in the sentence is "
            "easier to pick up with learned attention.",
    evaluate=_uniform,
    vacuous_if_uniform=True,
    scope_note="Replication: learned additive (tanh) attention, their Table 2's, on SST, AG News and IMDB; "
               "extension: other attention functions and other datasets. Rows whose learned model's attention is "
               "itself near uniform are vacuous.",
))


# -------------------------------------------------------------- Serrano & Smith
def _zeroing(data: ClaimData, settings: ClaimSettings) -> list[RunTest]:
    return _share_test(
        data, settings, test="zeroing", threshold=ZEROING_FLIPS, side="below",
        success=lambda t: t["flipped_max"].astype(float).to_numpy(),
        label="share of decisions flipped by zeroing the top item",
        details=lambda t: f"random item flips {_mean(t['flipped_random'].astype(float))}",
        scope=lambda run: _dataset_scope(run[0], SS_DATASETS))


PUBLISHED_CLAIMS.add("ss_zeroing_top_item_rarely_flips", PublishedClaim(
    power_kind="exact binomial (rate below 10%)",
    order=6,
    source="Serrano & Smith 2019, Sec. 4",
    published="Zeroing the single highest-attention item rarely flips the decision.",
    test=f"Share of decisions flipped by zeroing the top-attention word (and renormalising) below "
         f"{ZEROING_FLIPS:.0%}: exact binomial test against {ZEROING_FLIPS:.0%} (Clopper-Pearson interval).",
    reasons="Serrano & Smith worked on long documents (Yelp, IMDB, Amazon, Yahoo), where one item carries a small "
            "share of the evidence; on short sentences (SST, HateXplain posts) or with a planted decisive word, "
            "the top word can carry the decision.",
    evaluate=_zeroing,
    vacuous_if_uniform=True,
))


def _removal(data: ClaimData, settings: ClaimSettings) -> list[RunTest]:
    tests = []
    for run in data.runs(data.rnn_models()):
        table = data.intervention(run, "removal")
        if table is None:
            continue
        fractions = {method: part.set_index("example_id")["fraction_items"].astype(float)
                     for method, part in table.groupby("method")}
        gradient = next((m for m in ("rnn_attention_gradient", "jw_gradient", "saliency") if m in fractions), None)
        if gradient is None or "rnn_attention" not in fractions:
            continue
        decision = _paired_test(fractions[gradient], fractions["rnn_attention"], settings, run, sign=-1)
        theirs = gradient == "rnn_attention_gradient"
        note = "" if theirs else f" (ranked by {gradient}, not d output / d α: an extension)"
        # never flipped, not fraction 1.0: an RNN whose every attention weight is zeroed reads an empty context and
        # outputs its classifier's bias, which flips many decisions at the last removal
        flipped = {method: part.set_index("example_id")["flipped"].astype(bool) for method, part in table.groupby("method")}
        never = {m: f"{float((~flipped[m]).mean()):.0%}" for m in (gradient, "rnn_attention")}
        tests.append(RunTest(*run, decision, "fraction removed: gradient order − attention order",
                             f"gradient order {_mean(fractions[gradient])}, attention order "
                             f"{_mean(fractions['rnn_attention'])} (all words removed without a flip: "
                             f"{never[gradient]} and {never['rnn_attention']}){note}",
                             scope=_dataset_scope(run[0], SS_DATASETS) if theirs else EXTENSION,
                             near_uniform=data.near_uniform(run)))
    return tests


PUBLISHED_CLAIMS.add("ss_gradient_order_flips_sooner", PublishedClaim(
    power_kind="paired sign-flip (removal fraction)",
    order=7,
    source="Serrano & Smith 2019, Sec. 5",
    published="Removing attention items in order of the gradient of the output with respect to each attention "
              "weight flips the decision after fewer removals than removing them in order of attention.",
    test="Per example, the fraction of words whose attention is zeroed (in ranking order, renormalising) until the "
         "decision flips (all words when it never flips), ranked by d output / d α_i minus ranked by α_i: paired "
         "sign-flip test, negative difference.",
    reasons="With few words per sentence both orders often flip after one or two removals; where attention is "
            "peaked on the deciding word, attention order is already the fastest.",
    evaluate=_removal,
    vacuous_if_uniform=True,
))


# ------------------------------------------------------------- Abnar & Zuidema
def _rollout(data: ClaimData, settings: ClaimSettings) -> list[RunTest]:
    tests = []
    for run in data.runs(data.transformer_models()):
        raw = data.agreement(run, "attention_last_mean", "loo_mask")
        variants = {name: data.agreement(run, name, "loo_mask") for name in ("attention_rollout", "attention_flow")}
        variants = {name: value for name, value in variants.items() if value is not None}
        if raw is None or not variants:
            continue
        parts = [_paired_test(value, raw, settings, run) for value in variants.values()]
        short = [name.removeprefix("attention_") for name in variants]
        details = ", ".join([f"τ(raw last layer, blank-out) {_mean(raw)}",
                             *(f"τ({name}, blank-out) {_mean(v)}" for name, v in zip(short, variants.values()))])
        covered = [f"{name} on {part.n} of {raw.notna().sum()} examples (computed only up to its token limit)"
                   for name, part in zip(short, parts) if part.n < raw.notna().sum()]
        details += "".join(f"; {text}" for text in covered)
        sst = run[0].startswith("sst")
        compares = ("their Table 1 claim (subject-verb agreement), tested on SST; their own SST-2 result (raw, "
                    "rollout and flow all weakly correlated with gradient importance, at layer 6 0.09, 0.13 and 0.14: "
                    "rollout and flow slightly better) is in the replication table" if sst
                    else "their Table 1 claim (subject-verb agreement, a different task)")
        labels = [f"τ({name}, blank-out) − τ(raw, blank-out)" for name in short]
        tests.append(RunTest(*run, combine_all(parts), labels[binding_part(parts)], details,
                             scope=EXTENSION, compares_with=compares, near_uniform=data.near_uniform(run)))
    return tests


PUBLISHED_CLAIMS.add("az_rollout_and_flow_beat_raw_attention", PublishedClaim(
    power_kind="paired sign-flip (agreement difference)",
    order=8,
    source="Abnar & Zuidema 2020, Table 1",
    published="Attention rollout and attention flow correlate with blank-out (input ablation) importance better "
              "than raw attention does.",
    test="Per example, τ of rollout (and of flow) with leave-one-out by [MASK] (blank-out) minus τ of the last "
         "layer's raw attention (head mean): paired sign-flip tests; both must be positive (intersection-union).",
    reasons="Their Table 1 is subject-verb agreement, where the deciding token is far from [CLS] in the layer graph; "
            "on SST-2 they report that raw, rollout and flow all correlate very weakly with gradient importance "
            "(rollout and flow slightly better), so on sentiment small or reversed differences are less surprising "
            "than on their Table 1 task. A fine-tuned classifier can "
            "concentrate its decision in the last layer's attention to a few words. Flow (checked against an "
            "independent max-flow on the same layered graph): above the first layer [CLS] attends mostly to itself, "
            "so the edges into the [CLS] "
            "column are the narrowest cut for almost every word and all words of a sentence share that cut's "
            "capacity; what differs between words is the first layer's [CLS] attention to them, which favours "
            "punctuation and frequent words whose deletion changes little.",
    evaluate=_rollout,
    vacuous_if_uniform=True,
    uniform_note=RANKS_NOTE,
    scope_note="Every row extends the claim to another task or model (their Table 1 is subject-verb agreement); "
               "their own SST-2 numbers (a different reference, gradient importance) are in the replication table.",
))
