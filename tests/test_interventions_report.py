"""The causal tests' report text: numbers, thresholds and wording generated from small summary tables."""

from __future__ import annotations

import pandas as pd

from analysis.interventions import report_section as section
from analysis.report.numbers import interval, number, row_interval


def _row(test: str, measure: str, mean: float, low: float, high: float, **extra) -> dict:
    return {"test": test, "measure": measure, "scope": extra.pop("scope", "attention"), "method": "", "removal": "",
            "group": "all", "n": 500, "mean": mean, "mean_low": low, "mean_high": high, "family": "", **extra}


def test_tiny_values_print_in_scientific_notation_and_ordinary_ones_keep_their_decimals():
    assert number(2.1e-5) == "2.1e-05" and number(-3e-4, signed=True) == "-3.0e-04"
    assert number(0.0) == "0.000" and number(0.1234) == "0.123" and number(float("nan")) == "n/a"
    # two significant digits below 0.1, the given decimals above
    assert interval(0.0084, 0.0069, 0.0106) == "0.0084 [0.0069, 0.0106]"
    assert interval(0.166, 0.151, 0.18) == "0.166 [0.151, 0.180]"
    assert interval(2e-5, 1e-5, 3e-5) == "2.0e-05 [1.0e-05, 3.0e-05]"
    # the other sections' two decimals, percentages, and undefined bounds or estimates
    assert interval(0.4213, 0.38, 0.47, 2) == "0.42 [0.38, 0.47]" and interval(0.05, 0.01, 0.09, 2) == "0.050 [0.010, 0.090]"
    assert interval(0.85, 0.8, 0.9, percent=True) == "85% [80%, 90%]"
    assert interval(0.42, float("nan"), float("nan"), 2) == "0.42" and interval(float("nan"), 0.1, 0.2) == "n/a"
    # one notation and one precision per interval: no '-0.00', no mixed notation, no digits beyond the interval's
    assert interval(0.0005, -0.002, 0.004, 2) == "0.0005 [-0.0020, 0.0040]"
    assert interval(0.05, 0.0004, 0.1, 2) == "0.050 [0.000, 0.100]" and interval(0.3, -0.001, 0.6, 2) == "0.30 [0.00, 0.60]"
    assert interval(0.004, -0.035, 0.043, 2) == "0.004 [-0.035, 0.043]"
    assert interval(0.5, 0.4, float("nan"), percent=True) == "50%"
    # a summary row's mean and bounds, as every section prints them
    row = pd.Series(_row("removal", "flip_rate", 0.25, 0.2, 0.31))
    assert row_interval(row, 2) == "0.25 [0.20, 0.31]" and row_interval(row, percent=True) == "25% [20%, 31%]"


def test_a_significant_but_tiny_zeroing_effect_reads_negligibly_larger_with_readable_numbers():
    run = pd.DataFrame([
        _row("zeroing", "flip_rate_max", 0.0, 0.0, 0.01), _row("zeroing", "flip_rate_random", 0.0, 0.0, 0.01),
        _row("zeroing", "output_jsd_max", 4e-5, 3e-5, 5e-5), _row("zeroing", "output_jsd_random", 1e-6, 5e-7, 2e-6),
        _row("zeroing", "jsd_difference", 3.9e-5, 2.9e-5, 4.9e-5, family="top_vs_random_word", p_adjusted=1e-4,
             min_p=1e-4)])
    text = section.zeroing_sentence(run)
    assert "0.0000" not in text and "+0.000 " not in text
    assert "its output JSD, 4.0e-05 [3.0e-05, 5.0e-05], is negligibly larger than that of a random word" in text
    assert "paired difference +3.9e-05 [+2.9e-05, +4.9e-05]" in text
    # a difference whose interval reaches 1e-3 is plainly larger
    run.loc[run["measure"] == "jsd_difference", ["mean", "mean_high"]] = (0.002, 0.003)
    assert "is larger than that of a random word" in section.zeroing_sentence(run)


def _permutation_run(mean=(0.022, 0.019, 0.027), median=(0.006, 0.005, 0.008)) -> pd.DataFrame:
    row = _row("permutation", "median_tvd", *mean, median=median[0], median_low=median[1], median_high=median[2])
    return pd.DataFrame([row, _row("permutation", "flip_rate", 0.02, 0.01, 0.03)])


def _claims(claim: str, estimate: float, low: float, high: float, n: int = 500) -> pd.DataFrame:
    return pd.DataFrame([{"claim": claim, "dataset": "d", "model": "m", "seed": 0, "n": n, "estimate": estimate,
                          "low": low, "high": high}])


def test_permutation_is_judged_with_the_published_claims_threshold_and_names_both_statistics():
    """The per-example median TVDs of a run average 0.022 (above ε = 0.01) but most examples stay below the
    claim's 0.05: the sentence must not say the output depends on the arrangement, as the claim does not."""
    from analysis.published.directions import PERMUTATION_TVD

    run = _permutation_run()
    share = section.claim_shares(_claims(section.PERMUTATION_CLAIM, 0.88, 0.85, 0.91), section.PERMUTATION_CLAIM)
    text = section.permutation_sentence(run, share[("d", "m", 0)])
    assert "the median of the per-example median TVDs is 0.0060 [0.0050, 0.0080] and their mean 0.022" in text
    assert f"88% [85%, 91%] of examples stay nearly unchanged (per-example median TVD below {PERMUTATION_TVD:g}" in text
    assert text.endswith("so for most examples the arrangement of the weights barely matters")
    assert "ε" not in text and "depends" not in text
    # without the claim's share, the median example's interval decides, against the same threshold
    assert section.permutation_sentence(run).endswith("the arrangement of the weights barely matters")
    # most examples change: the share's interval lies below one half
    text = section.permutation_sentence(run, pd.Series({"mean": 0.2, "mean_low": 0.16, "mean_high": 0.24, "n": 500}))
    assert text.endswith("the output depends on which token gets which weight")
    text = section.permutation_sentence(run, pd.Series({"mean": 0.5, "mean_low": 0.45, "mean_high": 0.55, "n": 500}))
    assert text.endswith("whether most examples stay nearly unchanged is undecided at this n")


def test_adversarial_sentence_leads_with_the_share_far_from_the_original():
    from analysis.published.directions import ADVERSARIAL_JSD

    run = pd.DataFrame([_row("adversarial", "feasible", 1.0, 0.99, 1.0, scope="adversarial"),
                        _row("adversarial", "jsd", 0.365, 0.35, 0.38, scope="adversarial")])
    share = pd.Series({"mean": 0.6, "mean_low": 0.556, "mean_high": 0.643, "n": 500})
    text = section.adversarial_sentence(run, share, 0.01)
    assert text.startswith(f"for 60% [56%, 64%] of 500 examples, an adversarial attention more than "
                           f"{ADVERSARIAL_JSD:g} nats (JSD) from the original keeps the output within TVD ε = 0.01")
    assert text.index("any solution found for 100%") > text.index("60%") and "lower bound" not in text
    assert "a lower bound" in section.adversarial_sentence(run, share, 0.01, lower_bound=True)
    # without the claim's share, the feasibility is said for what it is, after the distance
    text = section.adversarial_sentence(run)
    assert text.index("mean JSD of 0.365") < text.index("the search found one for 100%")


def test_only_a_transformer_with_a_shorter_search_has_a_lower_bound():
    config = {"models": {"rnn": {"family": "rnn"}, "bert": {"family": "transformer"}},
              "interventions": {"adversarial": {"steps": 500, "restarts": 5,
                                                "transformer": {"steps": 100, "restarts": 2}}}}
    assert section.shortened_search(config, "bert") and not section.shortened_search(config, "rnn")
    config["interventions"]["adversarial"].pop("transformer")
    assert not section.shortened_search(config, "bert")
    # the schema's defaults: a transformer block of nulls keeps the full search (config/tiny.yaml)
    config["interventions"]["adversarial"]["transformer"] = {"steps": None, "restarts": None, "examples": None}
    assert not section.shortened_search(config, "bert")
    config["interventions"]["adversarial"]["transformer"]["restarts"] = 1
    assert section.shortened_search(config, "bert")


def test_key_numbers_name_the_permutation_statistics_and_give_the_share_far_from_the_original():
    summary = pd.concat([_permutation_run(), pd.DataFrame([
        _row("adversarial", "feasible", 1.0, 0.99, 1.0, scope="adversarial"),
        _row("adversarial", "jsd", 0.365, 0.35, 0.38, scope="adversarial")])]).assign(dataset="d", model="m", seed=0)
    table = section.headline_table(summary, _claims(section.ADVERSARIAL_CLAIM, 0.6, 0.556, 0.643))
    (row,) = table.to_dict("records")
    assert row["permutation TVD (median of example medians)"] == 0.006
    assert row["permutation TVD (mean of example medians)"] == 0.022
    assert row["adversarial: share JSD > 0.3"] == 0.6 and not any("found" in column for column in table.columns)
    assert pd.isna(section.headline_table(summary).loc[0, "adversarial: share JSD > 0.3"])


def test_layers_are_numbered_from_one_in_the_text():
    run = pd.DataFrame([_row("uniform", measure, value, value, value, scope=scope)
                        for scope in ("layer 0", "layer 5", "all intervened layers")
                        for measure, value in (("tvd", 0.05), ("flip_rate", 0.1))])
    (text,) = section.uniform_sentences(run)
    assert "layer 1: mean TVD" in text and "layer 6: mean TVD" in text
    assert "layer 0" not in text and "layer 5:" not in text
    assert text.index("layer 1:") < text.index("layer 6:") < text.index("all intervened layers:")


def test_intro_says_what_a_transformer_intervention_edits_and_how_rankings_are_ordered():
    config = {"models": {"lstm": {"family": "rnn"}, "minilm": {"family": "transformer"}},
              "interventions": {"layers": None, "heads": None, "adversarial": {"layer": -1}, "ranking": "signed"},
              "agreement": {"variants": ["abs", "signed"]}}
    scope, ranking = section.scope_sentences(config)
    assert scope.startswith("For minilm, the model-side tests edit the attention probabilities of every layer, "
                            "every head and every query row at once")
    assert "replaces only the [CLS] row of the last layer" in scope
    assert "order words by signed score (the strongest evidence for the predicted class first)" in ranking
    assert "the agreement section compares |scores|, so a method's order here can differ" in ranking
    config["interventions"].update(layers=[0, 2], heads=[3], ranking="abs", adversarial={"layer": 1})
    scope, ranking = section.scope_sentences(config)
    assert "of layers 1, 3, head 4 and every query row" in scope and "[CLS] row of layer 2" in scope
    assert ranking.endswith("order words by |score|; the agreement section compares |scores|, as here.")
    # no transformer: only the ranking sentence
    assert len(section.scope_sentences({"models": {"lstm": {"family": "rnn"}}})) == 1


def _ablation_run() -> pd.DataFrame:
    """AOPC of raw attention, an attention variant, a causal ranking and random, with the stage's paired rows."""
    rows = [_row("ablation", "aopc_comprehensiveness", mean, mean - 0.01, mean + 0.01, method=method,
                 removal="delete", scope="input")
            for method, mean in (("attention_last_mean", 0.04), ("alti", 0.25), ("loo_delete", 0.39),
                                 ("random", 0.05))]
    for method, family, versus, mean in (("attention_last_mean", "vs_random", "random", -0.011),
                                         ("attention_last_mean", "vs_best_causal", "loo_delete", -0.35),
                                         ("alti", "vs_random", "random", 0.2), ("alti", "vs_best_causal", "loo_delete",
                                                                                 -0.14),
                                         ("alti", "vs_raw_attention", "attention_last_mean", 0.21)):
        rows.append(_row("ablation", "aopc_comprehensiveness_difference", mean, mean - 0.01, mean + 0.01,
                         method=method, removal="delete", scope="input", family=family, versus=versus,
                         p_adjusted=0.001, min_p=1e-4))
    return pd.DataFrame(rows)


def test_constant_attention_gets_undefined_not_a_verdict_in_the_eraser_and_zeroing_sentences():
    from analysis.report.summary import VERDICT_WORDS

    run = _ablation_run()
    learned = section.aopc_sentence(run, "delete")
    assert "below a random ranking" in learned  # read as a ranking when attention is learned
    text = section.aopc_sentence(run, "delete", constant=True)
    assert text.startswith("Attention (last layer, head mean)'s AOPC comprehensiveness is undefined (constant "
                           "attention ranks nothing)")
    assert VERDICT_WORDS["constant"] == "undefined (constant attention ranks nothing)"
    # the verdicts that follow are the attention variant's, not raw attention's
    assert "the best attention variant, ALTI, reaches 0.250" in text and "above a random ranking" in text
    assert "below a random ranking" not in text and "above raw attention" not in text
    zeroing = pd.DataFrame([_row("zeroing", m, v, v, v) for m, v in (
        ("flip_rate_max", 0.01), ("flip_rate_random", 0.0), ("output_jsd_max", 1e-4), ("output_jsd_random", 1e-5))]
        + [_row("zeroing", "jsd_difference", 9e-5, 5e-5, 1e-4, family="top_vs_random_word", p_adjusted=1e-4,
                min_p=1e-4)])
    text = section.zeroing_sentence(zeroing, constant=True)
    assert "undefined (constant attention ranks nothing)" in text and "larger" not in text


def test_the_removal_sentence_names_its_after_the_fact_choice_and_raw_attentions_own_order():
    """The fastest of several attention orders is chosen after seeing them: the sentence says so and gives raw
    attention's own fraction beside it."""
    from analysis.interventions.report_section import removal_sentence

    run = pd.DataFrame([{"test": "removal", "measure": "fraction_items", "group": "all", "method": method,
                         "mean": mean, "mean_low": mean - 0.02, "mean_high": mean + 0.02}
                        for method, mean in (("rnn_attention", 0.8), ("rnn_attention_x_gradient", 0.3),
                                             ("random", 0.9))])
    text = removal_sentence(run)
    assert "order (the fastest of 2 attention-based orders, chosen after the fact) must zero" in text
    assert "(raw Attention: 80% [78%, 82%])" in text
    single = removal_sentence(run[run["method"] != "rnn_attention_x_gradient"])
    assert "chosen after the fact" not in single and "raw" not in single


def test_permutation_of_near_uniform_or_frozen_attention_says_why_it_barely_matters():
    """'The arrangement of the weights barely matters' is vacuous where attention is near uniform (its claim row is
    vacuous) and no test at all where it is uniform by construction: the per-run sentence must say so."""
    run = _permutation_run().assign(dataset="d", model="m", seed=0)
    claims = _claims(section.PERMUTATION_CLAIM, 0.88, 0.85, 0.91).assign(verdict="vacuous")
    (text,) = [t for label, t in section.run_sentences(run, 0.01, "delete", claims=claims)[("d", "m", 0)]
               if label == "Permutation"]
    assert text.endswith("(attention near uniform: the outcome is vacuous, see Attention concentration)")
    assert section._sentence(text).endswith("see Attention concentration).")  # one full stop, not two
    (text,) = [t for label, t in section.run_sentences(run, 0.01, "delete", constant=frozenset({"m"}))[("d", "m", 0)]
               if label == "Permutation"]
    assert "uniform by construction, so permuting it changes nothing: a control, no test" in text


def test_an_untestable_comparison_says_how_few_examples_differ():
    """Two removal orders identical on 496 of 500 examples: the sign-flip test has 4 differences to use (smallest p
    2 / 2^4), which is why it is untestable, not the 500."""
    row = pd.Series({"mean": 0.0, "mean_low": 0.0, "mean_high": 0.0, "p_adjusted": 1.0, "min_p": 0.125, "n": 500})
    relation, numbers = section._relation(row, 0.05, higher="above", lower="below")
    assert relation == "untestable at this n against"
    assert numbers == "; the two orders differ on only 4 of 500 examples, the only ones a paired test can use"
    row = row.copy()
    row["min_p"], row["p_adjusted"], row["mean"], row["mean_low"], row["mean_high"] = 1e-4, 0.2, 0.01, -0.002, 0.02
    relation, numbers = section._relation(row, 0.05, higher="above", lower="below")
    assert relation.startswith("not significantly different") and "(unadjusted interval)" in numbers
