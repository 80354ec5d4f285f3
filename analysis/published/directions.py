"""The published directions this study checks, one registered :class:`PublishedClaim` each.

Thresholds are stated in each claim's ``test``: where a paper says "nearly unchanged" or
"rarely", we fix the number that reading implies and report the interval beside it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from analysis.published.claims import (
    AGREES,
    DIFFERS,
    PUBLISHED_CLAIMS,
    UNRESOLVED,
    Outcome,
    PublishedClaim,
    Tables,
    above,
    agreement,
    below,
    gradient_method,
    intervention,
    per_run,
    point,
    rnn_models,
    transformer_models,
)

PERMUTATION_TVD = 0.05     # "nearly unchanged": median output TVD under permutation below this
ADVERSARIAL_JSD = 0.3      # "very different attention": JSD from the original (at most ln 2 = 0.69) above this
ZEROING_FLIPS = 0.10       # "rarely flips": share of decisions flipped by zeroing the top item below this
UNIFORM_GAP = 0.02         # "about as accurate": learned attention at most 2 accuracy points better


def _worst(*verdicts: str) -> str:
    """DIFFERS if any part differs, AGREES only if every part agrees."""
    if DIFFERS in verdicts:
        return DIFFERS
    return AGREES if all(v == AGREES for v in verdicts) else UNRESOLVED


def _causal_agree_more(tables: Tables, config: dict[str, Any]) -> list[Outcome]:
    def check(dataset: str, model: str, seed: int):
        gradient = gradient_method(tables, dataset, model, seed)
        causal = agreement(tables, dataset, model, seed, gradient, "loo_delete")
        with_gradient = agreement(tables, dataset, model, seed, "rnn_attention", gradient)
        with_loo = agreement(tables, dataset, model, seed, "rnn_attention", "loo_delete")
        if causal is None or with_gradient is None or with_loo is None:
            return None
        verdict = _worst(above(causal, with_gradient), above(causal, with_loo))
        return verdict, {"τ(gradient, LOO)": causal, "τ(attention, gradient)": with_gradient,
                         "τ(attention, LOO)": with_loo}
    return per_run(tables, rnn_models(config), check)


PUBLISHED_CLAIMS.add("jw_causal_methods_agree_more", PublishedClaim(
    order=1,
    source="Jain & Wallace 2019, Table 2 and Fig. 3 (BiLSTM, CNN)",
    published="Gradient and leave-one-out importance agree with each other more than either agrees with attention.",
    test="Kendall τ over |scores| per example, mean over explained examples: τ(gradient, LOO) above both "
         "τ(attention, gradient) and τ(attention, LOO), 95% intervals not overlapping. The gradient is theirs "
         "(attention held fixed); LOO deletes the word.",
    reasons="Rank correlations on short sentences move in coarse steps and 12-40 explained examples give wide "
            "intervals; embeddings learned from scratch on a few thousand sentences (no pretrained vectors offline) "
            "let the encoder spread a word's information over fewer positions, which brings attention closer to "
            "the causal rankings than in their models.",
    evaluate=_causal_agree_more,
))


def _average_encoder(tables: Tables, config: dict[str, Any]) -> list[Outcome]:
    models = config.get("models", {})
    pairs = [(avg, lstm) for avg in rnn_models(config) for lstm in rnn_models(config)
             if models[avg].get("encoder") == "average" and models[lstm].get("encoder", "lstm") == "lstm"
             and models[avg].get("attention", "tanh") == models[lstm].get("attention", "tanh")]
    outcomes = []
    for avg, lstm in pairs:
        def check(dataset: str, model: str, seed: int, avg: str = avg, lstm: str = lstm):
            simple = agreement(tables, dataset, avg, seed, "rnn_attention", gradient_method(tables, dataset, avg, seed))
            recurrent = agreement(tables, dataset, lstm, seed, "rnn_attention",
                                  gradient_method(tables, dataset, lstm, seed))
            if simple is None or recurrent is None:
                return None
            return above(simple, recurrent), {f"{avg}": simple, f"{lstm}": recurrent}
        outcomes += [Outcome(o.dataset, f"{avg} vs {lstm}", o.ours, o.seed_verdicts)
                     for o in per_run(tables, [avg], check)]
    return outcomes


PUBLISHED_CLAIMS.add("jw_average_encoder_agrees_more", PublishedClaim(
    order=2,
    source="Jain & Wallace 2019, Table 2 (Average vs BiLSTM)",
    published="Without a recurrent encoder (an average of embeddings), attention agrees with gradient importance "
              "much more than with a BiLSTM encoder.",
    test="τ(attention, gradient) of the no-encoder model above that of the BiLSTM with the same attention, "
         "intervals not overlapping.",
    reasons="With few training examples the BiLSTM's hidden states stay close to their own word's embedding, so its "
            "attention behaves much like the no-encoder model's; wide intervals at 12-40 examples.",
    evaluate=_average_encoder,
))


def threshold_test(test: str, measure: str, *, side: str, threshold: float, label: str, statistic: str = "mean",
                   companion: tuple[str, str] | None = None):
    """An ``evaluate`` for RNNs: one causal-test measure against a fixed threshold.

    ``side`` is where the published direction puts the interval ("below" or "above");
    ``companion`` (measure, label) is shown beside it for context.
    """
    compare = below if side == "below" else above

    def evaluate(tables: Tables, config: dict[str, Any]) -> list[Outcome]:
        def check(dataset: str, model: str, seed: int):
            value = intervention(tables, dataset, model, seed, test, measure, statistic=statistic)
            if value is None:
                return None
            shown = {label: value}
            if companion is not None:
                shown[companion[1]] = intervention(tables, dataset, model, seed, test, companion[0])
            return compare(value, point(threshold)), shown
        return per_run(tables, rnn_models(config), check)
    return evaluate


PUBLISHED_CLAIMS.add("jw_permutation_changes_little", PublishedClaim(
    order=3,
    source="Jain & Wallace 2019, Fig. 2",
    published="Randomly permuting the attention weights leaves most predictions nearly unchanged.",
    test=f"Median over examples of each example's median output TVD over 100 permutations below "
         f"{PERMUTATION_TVD} (interval entirely below).",
    reasons="Where the model is not saturated (trained on fewer examples, fewer epochs), small changes in the "
            "attention-weighted state move the output probability more; where attention is peaked on one word "
            "(short sentences), permuting moves that word's weight elsewhere and the output follows.",
    evaluate=threshold_test("permutation", "median_tvd", side="below", threshold=PERMUTATION_TVD,
                            label="median TVD", statistic="median", companion=("flip_rate", "flip rate")),
    vacuous_if_uniform="rnn_attention",
))


PUBLISHED_CLAIMS.add("jw_adversarial_attention_exists", PublishedClaim(
    order=4,
    source="Jain & Wallace 2019, Fig. 5 and Table 4",
    published="For most examples an adversarial attention distribution far from the original (large JSD) gives "
              "practically the same prediction (TVD within epsilon).",
    test=f"Median JSD between the original and the adversarial attention (TVD <= epsilon checked in a fresh forward "
         f"pass) above {ADVERSARIAL_JSD} (the maximum is ln 2 = 0.69).",
    reasons="Our search is shorter (see the reductions above) and keeps a solution only if a fresh forward pass "
            "confirms the TVD constraint; on short inputs there are fewer positions to move mass to, so the JSD "
            "reachable within epsilon is smaller.",
    evaluate=threshold_test("adversarial", "jsd", side="above", threshold=ADVERSARIAL_JSD, label="median JSD",
                            statistic="median", companion=("feasible", "constraint held")),
))


def _uniform(tables: Tables, config: dict[str, Any]) -> list[Outcome]:
    comparison = tables.get("interventions_uniform_training")
    if comparison is None or comparison.empty:
        return []
    outcomes = []
    for (dataset, uniform, learned), part in comparison.groupby(["dataset", "uniform_model", "learned_model"],
                                                                sort=True):
        verdicts = []
        for row in part.itertuples(index=False):
            if row.difference_high <= UNIFORM_GAP:
                verdicts.append(AGREES)
            elif row.difference_low > UNIFORM_GAP:
                verdicts.append(DIFFERS)
            else:
                verdicts.append(UNRESOLVED)
        ours = (f"accuracy {part['accuracy_learned'].mean():.3f} (learned) vs {part['accuracy_uniform'].mean():.3f} "
                f"(uniform); learned - uniform {part['difference'].mean():+.3f} "
                f"[{part['difference_low'].min():+.3f}, {part['difference_high'].max():+.3f}]")
        outcomes.append(Outcome(dataset, f"{uniform} vs {learned}", ours, tuple(verdicts)))
    return outcomes


PUBLISHED_CLAIMS.add("wp_uniform_attention_suffices", PublishedClaim(
    order=5,
    source="Wiegreffe & Pinter 2019, Table 2",
    published="On SST, AG News and IMDB a model with attention frozen to uniform is about as accurate as the same "
              "model with learned attention (attention is not needed for these tasks).",
    test=f"Paired bootstrap of the accuracy difference (learned - uniform) on the same evaluation examples: the "
         f"upper end of its interval at most {UNIFORM_GAP:.0%} points.",
    reasons="With small training sets learned attention can act as a useful pooling prior (a gain of a few points "
            "that shrinks with more data); HateXplain and the planted-shortcut task were not in their comparison, "
            "and a shortcut placed anywhere in the sentence is easier to pick up with learned attention.",
    evaluate=_uniform,
))


PUBLISHED_CLAIMS.add("ss_zeroing_top_item_rarely_flips", PublishedClaim(
    order=6,
    source="Serrano & Smith 2019, Sec. 4",
    published="Zeroing the single highest-attention item rarely flips the decision.",
    test=f"Share of decisions flipped by zeroing the top-attention word (and renormalising) below "
         f"{ZEROING_FLIPS:.0%} (interval entirely below).",
    reasons="Serrano & Smith worked on long documents (Yelp, IMDB, Amazon, Yahoo), where one item carries a small "
            "share of the evidence; on short sentences (SST-2, HateXplain posts) or with a planted decisive word, "
            "the top word can carry the decision.",
    evaluate=threshold_test("zeroing", "flip_rate_max", side="below", threshold=ZEROING_FLIPS,
                            label="flips (top item)", companion=("flip_rate_random", "flips (random item)")),
))


def _removal(tables: Tables, config: dict[str, Any]) -> list[Outcome]:
    def check(dataset: str, model: str, seed: int):
        gradient = gradient_method(tables, dataset, model, seed)
        by_gradient = intervention(tables, dataset, model, seed, "removal", "fraction_items", method=gradient)
        by_attention = intervention(tables, dataset, model, seed, "removal", "fraction_items",
                                    method="rnn_attention")
        if by_gradient is None or by_attention is None:
            return None
        return below(by_gradient, by_attention), {"fraction removed, gradient order": by_gradient,
                                                  "attention order": by_attention}
    return per_run(tables, rnn_models(config), check)


PUBLISHED_CLAIMS.add("ss_gradient_order_flips_sooner", PublishedClaim(
    order=7,
    source="Serrano & Smith 2019, Sec. 5",
    published="Removing attention items in order of gradient importance flips the decision after fewer removals "
              "than removing them in order of attention.",
    test="Mean fraction of words whose attention is zeroed (in ranking order, renormalising) until the decision "
         "flips: gradient order below attention order, intervals not overlapping.",
    reasons="Their gradient ranks the attention weights (d output / d alpha); ours ranks the input words, a "
            "different quantity; with few words per sentence both orders often flip after one or two removals.",
    evaluate=_removal,
))


def _rollout(tables: Tables, config: dict[str, Any]) -> list[Outcome]:
    def check(dataset: str, model: str, seed: int):
        raw = agreement(tables, dataset, model, seed, "attention_last_mean", "loo_mask")
        variants = {name: agreement(tables, dataset, model, seed, name, "loo_mask")
                    for name in ("attention_rollout", "attention_flow")}
        variants = {name: value for name, value in variants.items() if value is not None}
        if raw is None or not variants:
            return None
        verdict = _worst(*(above(value, raw) for value in variants.values()))
        return verdict, {"τ(raw last layer, blank-out)": raw,
                         **{f"τ({name.removeprefix('attention_')}, blank-out)": v for name, v in variants.items()}}
    return per_run(tables, transformer_models(config), check)


PUBLISHED_CLAIMS.add("az_rollout_and_flow_beat_raw_attention", PublishedClaim(
    order=8,
    source="Abnar & Zuidema 2020, Table 1",
    published="Attention rollout and attention flow correlate with blank-out (input ablation) importance better "
              "than raw attention does.",
    test="τ of rollout and of flow with leave-one-out by [MASK] (blank-out) above τ of the last layer's raw "
         "attention (head mean), intervals not overlapping; both must hold.",
    reasons="Abnar & Zuidema measured a 6-layer model trained for subject-verb agreement; MiniLM fine-tuned for "
            "sentiment or topic concentrates its decision in fewer tokens, where the last layer's attention to "
            "them can already be informative; flow is NaN beyond 128 tokens (most IMDB reviews).",
    evaluate=_rollout,
))


def summarise(outcomes: list[Outcome]) -> str:
    """'agrees on 5, differs on 1, unresolved on 2 of 8'."""
    counts = Counter(o.verdict for o in outcomes)
    parts = [f"{verdict} on {counts[verdict]}" for verdict in (AGREES, DIFFERS, "mixed", UNRESOLVED)
             if counts[verdict]]
    return ", ".join(parts) + f" of {len(outcomes)}"

