"""Published claims decided per run on per-example data: paired and exact tests, Holm per claim,
untestable at small n, vacuous where attention is near uniform, replication apart from extensions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import analysis.published.directions  # noqa: F401  (registers the claims)
from analysis.attention.concentration import NEAR_UNIFORM_TVD
from analysis.published.claims import (
    AGREES,
    DIFFERS,
    EXTENSION,
    INCONCLUSIVE,
    MIXED,
    PUBLISHED_CLAIMS,
    REPLICATION,
    UNTESTABLE,
    VACUOUS,
    ClaimData,
    ClaimSettings,
    decide,
    outcomes,
    row_verdict,
)
from analysis.published.report_section import published_section
from analysis.stats.hypothesis import binomial_n_needed

CONFIG = {"data_seed": 0, "models": {
    "bilstm_tanh": {"family": "rnn", "encoder": "lstm", "attention": "tanh"},
    "cnn_tanh": {"family": "rnn", "encoder": "cnn", "attention": "tanh"},
    "average_tanh": {"family": "rnn", "encoder": "average", "attention": "tanh"},
    "bilstm_uniform": {"family": "rnn", "encoder": "lstm", "attention": "uniform"},
}}
SETTINGS = ClaimSettings(n_permutations=999)


def agreement_frame(n: int, means: dict[tuple[str, str], float], *, seed: int = 0, sd: float = 0.15) -> pd.DataFrame:
    """Per-example Kendall tau of each method pair, normal around ``means``."""
    rng = np.random.default_rng(seed)
    rows = []
    for (a, b), mean in means.items():
        for i, value in enumerate(np.clip(mean + rng.normal(0, sd, n), -1, 1)):
            rows.append({"example_id": f"ex{i:03d}", "method_a": a, "method_b": b, "metric": "kendall_tau",
                         "variant": "abs", "value": value})
    return pd.DataFrame(rows)


def causal_means(causal: float, attention: float) -> dict[tuple[str, str], float]:
    return {("jw_gradient", "loo_delete"): causal, ("rnn_attention", "jw_gradient"): attention,
            ("rnn_attention", "loo_delete"): attention}


def decided(claim: str, data: ClaimData) -> pd.DataFrame:
    return decide(data, SETTINGS, {claim: PUBLISHED_CLAIMS.get(claim)})


def test_causal_agreement_above_attention_agrees_by_a_paired_test():
    data = ClaimData(CONFIG, agreement={("sst2", "bilstm_tanh", s): agreement_frame(60, causal_means(0.5, 0.2), seed=s)
                                        for s in (0, 1, 2)})
    tests = decided("jw_causal_methods_agree_more", data)
    assert list(tests["verdict"]) == [AGREES] * 3
    assert (tests["test"] == "paired sign-flip").all() and (tests["n"] == 60).all()
    assert (tests["p_adjusted"] >= tests["p_value"]).all()
    assert outcomes(tests)["verdict"].tolist() == [AGREES]
    # the row's details: one text where the seeds' read alike, each seed by name where they do not
    assert outcomes(tests)["ours"].iloc[0].count("τ(gradient, LOO)") == 3
    same = tests.assign(details="random item flips 0.00")
    assert outcomes(same)["ours"].iloc[0].endswith("; random item flips 0.00")
    two_alike = tests.assign(details=["accuracy 0.71", "accuracy 0.71", "accuracy 0.72"])
    assert outcomes(two_alike)["ours"].iloc[0].endswith(
        "; seed 0: accuracy 0.71; seed 1: accuracy 0.71; seed 2: accuracy 0.72")


def test_attention_above_causal_agreement_differs():
    data = ClaimData(CONFIG, agreement={("sst2", "bilstm_tanh", 0): agreement_frame(60, causal_means(0.2, 0.5))})
    assert decided("jw_causal_methods_agree_more", data)["verdict"].tolist() == [DIFFERS]


def test_a_shared_example_shift_is_found_where_marginal_intervals_overlap():
    """The paired test sees what non-overlapping intervals cannot: a small shift on the same examples."""
    rng = np.random.default_rng(3)
    base = rng.normal(0.3, 0.3, 40)  # example difficulty shared by both pairs: wide marginal intervals
    frame = pd.concat([
        pd.DataFrame({"example_id": [f"e{i}" for i in range(40)], "method_a": a, "method_b": b,
                      "metric": "kendall_tau", "variant": "abs", "value": base + shift + rng.normal(0, 0.02, 40)})
        for (a, b), shift in causal_means(0.1, 0.0).items()])
    tests = decided("jw_causal_methods_agree_more", ClaimData(CONFIG, agreement={("sst2", "bilstm_tanh", 0): frame}))
    assert tests["verdict"].tolist() == [AGREES]
    assert tests["low"].iloc[0] > 0


def test_five_examples_are_untestable_and_say_how_many_are_needed():
    data = ClaimData(CONFIG, agreement={("sst2", "bilstm_tanh", 0): agreement_frame(5, causal_means(0.6, 0.1))})
    tests = decided("jw_causal_methods_agree_more", data)
    assert tests["verdict"].tolist() == [UNTESTABLE]
    assert tests["n_min"].iloc[0] == 6 and tests["min_p"].iloc[0] == pytest.approx(2 / 32)
    close = ClaimData(CONFIG, agreement={("sst2", "bilstm_tanh", 0): agreement_frame(30, causal_means(0.42, 0.4))})
    inconclusive = decided("jw_causal_methods_agree_more", close)
    assert inconclusive["verdict"].tolist() == [INCONCLUSIVE]
    assert inconclusive["n_needed"].iloc[0] > 30


def zeroing_table(flips: int, n: int) -> pd.DataFrame:
    return pd.DataFrame({"example_id": [f"e{i}" for i in range(n)], "flipped_max": [i < flips for i in range(n)],
                         "flipped_random": np.zeros(n)})


def test_zero_flips_of_eight_cannot_support_rarely_but_zero_of_sixty_can():
    data = ClaimData(CONFIG, agreement={}, interventions={
        ("imdb", "bilstm_tanh", 0): {"zeroing": zeroing_table(0, 8)},
        ("sst2", "bilstm_tanh", 0): {"zeroing": zeroing_table(0, 60)},
        ("ag_news", "bilstm_tanh", 0): {"zeroing": zeroing_table(30, 60)}})
    tests = decided("ss_zeroing_top_item_rarely_flips", data).set_index("dataset")
    assert tests.loc["imdb", "verdict"] == UNTESTABLE and tests.loc["imdb", "high"] > 0.10
    assert tests.loc["sst2", "verdict"] == AGREES
    assert tests.loc["ag_news", "verdict"] == DIFFERS
    assert (tests["test"] == "exact binomial").all()


def permutation_table(median_tvd: float, n: int = 40) -> pd.DataFrame:
    return pd.DataFrame({"example_id": [f"e{i}" for i in range(n)], "median_tvd": np.full(n, median_tvd),
                         "flip_rate": np.zeros(n)})


def concentration(near: dict[str, bool]) -> pd.DataFrame:
    return pd.DataFrame([{"dataset": "sst2", "model": model, "seed": 0, "method": "rnn_attention",
                          "mean_tvd_from_uniform": NEAR_UNIFORM_TVD / 2 if flag else 0.3, "near_uniform": flag}
                         for model, flag in near.items()])


def test_permutation_is_a_bilstm_claim_and_vacuous_where_attention_is_near_uniform():
    runs = {("sst2", model, 0): {"permutation": permutation_table(0.01)} for model in ("bilstm_tanh", "cnn_tanh")}
    data = ClaimData(CONFIG, agreement={}, interventions=runs,
                     concentration=concentration({"bilstm_tanh": True, "cnn_tanh": False}))
    tests = decided("jw_permutation_changes_little", data).set_index("model")
    assert tests.loc["bilstm_tanh", "scope"] == REPLICATION and tests.loc["cnn_tanh", "scope"] == EXTENSION
    assert tests.loc["bilstm_tanh", "verdict"] == VACUOUS  # agrees, but on near-uniform attention
    assert tests.loc["cnn_tanh", "verdict"] == AGREES
    section = published_section(CONFIG, {"claim_tests": decided("jw_permutation_changes_little", data)}, {})
    finding = section.findings[0]
    assert "replication vacuous on 1 of 1" in finding and "extension agrees on 1 of 1" in finding



def test_a_transformer_whose_edited_attention_is_near_uniform_is_vacuous_too():
    """The transformer's weight interventions edit its last layer's [CLS] attention (attention_last_mean): a run
    where that is near uniform agrees trivially, as a near-uniform RNN does (rnn_attention was read for every
    family, so no transformer row could ever be vacuous)."""
    config = {**CONFIG, "models": {**CONFIG["models"], "minilm": {"family": "transformer"}}}
    runs = {("sst2", "minilm", 0): {"permutation": permutation_table(0.01)}}
    flags = pd.DataFrame([{"dataset": "sst2", "model": "minilm", "seed": 0, "method": "attention_last_mean",
                           "mean_tvd_from_uniform": NEAR_UNIFORM_TVD / 2, "near_uniform": True}])
    tests = decided("jw_permutation_changes_little", ClaimData(config, agreement={}, interventions=runs,
                                                               concentration=flags))
    assert tests["verdict"].tolist() == [VACUOUS]


def test_permutation_rows_of_a_transformer_are_extensions():
    """MiniLM's permutation tables reach the claim as extensions (Jain & Wallace permuted RNN attention)."""
    config = {**CONFIG, "models": {**CONFIG["models"], "minilm": {"family": "transformer"}}}
    runs = {("sst2", model, 0): {"permutation": permutation_table(0.2)} for model in ("bilstm_tanh", "minilm")}
    tests = decided("jw_permutation_changes_little", ClaimData(config, agreement={}, interventions=runs))
    tests = tests.set_index("model")
    assert tests.loc["minilm", "scope"] == EXTENSION and tests.loc["minilm", "verdict"] == DIFFERS
    assert tests.loc["bilstm_tanh", "scope"] == REPLICATION


def test_near_uniform_attention_makes_every_agreeing_claim_vacuous():
    """Near-uniform weights decide the weight claims by themselves, and weights that barely vary barely act, so
    "attention ranks words worse than causal methods" says little about attention there: those rows are shown as
    vacuous, never counted as support (issue: mark it in every claim whose test it trivialises, agreement
    included), and the report gives the reason that fits each kind of claim."""
    from analysis.published.claims import RANKS_NOTE, WEIGHTS_NOTE

    data = ClaimData(CONFIG, agreement={("sst2", "bilstm_tanh", 0): agreement_frame(60, causal_means(0.5, 0.2))},
                     concentration=concentration({"bilstm_tanh": True}))
    tests = decided("jw_causal_methods_agree_more", data)
    assert tests["verdict"].tolist() == [VACUOUS]
    assert all(claim.vacuous_if_uniform for _, claim in PUBLISHED_CLAIMS.items())
    assert PUBLISHED_CLAIMS.get("jw_causal_methods_agree_more").uniform_note == RANKS_NOTE
    assert PUBLISHED_CLAIMS.get("jw_permutation_changes_little").uniform_note == WEIGHTS_NOTE
    section = published_section(CONFIG, {"claim_tests": tests}, {})
    assert "barely act" in section.markdown and "before the model is consulted" not in section.markdown


def predictions(correct: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"example_id": [f"e{i}" for i in range(len(correct))], "correct": correct})


def test_uniform_control_is_an_equivalence_test_on_the_same_examples():
    """"About as accurate" is parity: TOST on the same examples, so a uniform model far more accurate than the
    learned one differs as much as one far less accurate does."""
    rng = np.random.default_rng(0)
    learned = rng.random(1000) < 0.8
    same = learned.copy()  # the two models disagree on 40 examples, 20 each way: equal accuracy
    same[np.flatnonzero(learned)[:20]] = False
    same[np.flatnonzero(~learned)[:20]] = True
    worse = learned & (rng.random(1000) < 0.8)  # uniform loses about 16 points
    better = learned | (rng.random(1000) < 0.8)  # uniform gains about 16 points
    short = np.r_[True, False, np.ones(28, dtype=bool)]  # 30 examples, one disagreement each way
    short_uniform = np.r_[False, True, np.ones(28, dtype=bool)]
    for learned_correct, uniform, expected in ((learned, same, AGREES), (learned, worse, DIFFERS),
                                               (learned, better, DIFFERS), (short, short_uniform, INCONCLUSIVE)):
        data = ClaimData(CONFIG, agreement={}, predictions={("sst2", "bilstm_tanh", 0): predictions(learned_correct),
                                                            ("sst2", "bilstm_uniform", 0): predictions(uniform)})
        tests = decided("wp_uniform_attention_suffices", data)
        assert tests["model"].tolist() == ["bilstm_uniform vs bilstm_tanh"]
        assert tests["verdict"].tolist() == [expected]


def test_uniform_control_replicates_additive_attention_only():
    """Wiegreffe & Pinter's Table 2 compares uniform with additive (tanh) attention: the pairing with a dot-attention
    model is an extension, outside the replication's Holm family."""
    config = {**CONFIG, "models": {**CONFIG["models"],
                                   "bilstm_dot": {"family": "rnn", "encoder": "lstm", "attention": "dot"}}}
    rng = np.random.default_rng(0)
    correct = rng.random(200) < 0.8
    data = ClaimData(config, agreement={}, predictions={
        ("sst2", model, 0): predictions(correct) for model in ("bilstm_tanh", "bilstm_dot", "bilstm_uniform")})
    tests = decided("wp_uniform_attention_suffices", data).set_index("model")
    assert tests.loc["bilstm_uniform vs bilstm_tanh", "scope"] == REPLICATION
    assert tests.loc["bilstm_uniform vs bilstm_dot", "scope"] == EXTENSION


def test_holm_is_within_each_claim_and_scope():
    agreement = {("sst2", model, s): agreement_frame(25, causal_means(0.35, 0.25), seed=s)
                 for model in ("bilstm_tanh", "average_tanh") for s in (0, 1)}
    tests = decided("jw_causal_methods_agree_more", ClaimData(CONFIG, agreement=agreement))
    from analysis.stats.paired import adjust_p_values

    for _, part in tests.groupby("scope"):
        assert np.allclose(part["p_adjusted"], adjust_p_values(part["p_value"].to_numpy(), "holm"))
    assert set(tests["scope"]) == {REPLICATION, EXTENSION}


@pytest.mark.parametrize("seeds, expected", [
    ((AGREES, AGREES, INCONCLUSIVE), AGREES),
    ((AGREES, DIFFERS, AGREES), MIXED),
    ((DIFFERS, DIFFERS, DIFFERS), DIFFERS),
    ((UNTESTABLE, UNTESTABLE), UNTESTABLE),
    ((INCONCLUSIVE, UNTESTABLE, INCONCLUSIVE), INCONCLUSIVE),
    ((AGREES, INCONCLUSIVE, INCONCLUSIVE), INCONCLUSIVE),  # no seed points the other way: not "mixed"
    ((AGREES, DIFFERS, INCONCLUSIVE), MIXED),
    ((VACUOUS, UNTESTABLE, UNTESTABLE), INCONCLUSIVE),
    ((VACUOUS, VACUOUS, AGREES), VACUOUS),
    ((VACUOUS, AGREES, AGREES), AGREES),  # two seeds agree for real: the vacuous one is no evidence, not a veto
    ((VACUOUS, DIFFERS, DIFFERS), DIFFERS),  # a vacuous seed does not make a differing majority "mixed"
    ((VACUOUS, VACUOUS, DIFFERS), INCONCLUSIVE),
])
def test_seed_majority(seeds, expected):
    assert row_verdict(list(seeds)) == expected


def test_section_gives_reasons_only_where_we_differ():
    agreeing = ClaimData(CONFIG, agreement={("sst2", "bilstm_tanh", 0): agreement_frame(60, causal_means(0.5, 0.2))})
    section = published_section(CONFIG, {"claim_tests": decided("jw_causal_methods_agree_more", agreeing)}, {})
    assert "Where we differ" not in section.markdown
    assert "replication agrees on 1 of 1" in section.findings[0]
    assert "paired sign-flip" in section.markdown
    differing = ClaimData(CONFIG, agreement={("sst2", "bilstm_tanh", 0): agreement_frame(60, causal_means(0.2, 0.5))})
    section = published_section(CONFIG, {"claim_tests": decided("jw_causal_methods_agree_more", differing)}, {})
    assert "**Where we differ (sst2 / bilstm_tanh)" in section.markdown
    assert set(section.tables["published_comparison"]["verdict"]) == {DIFFERS}


def test_no_section_without_tests():
    assert published_section(CONFIG, {}, {}) is None
    assert decide(ClaimData(CONFIG, agreement={}), SETTINGS).empty


def adversarial_table(n: int, found: int, *, search: str = "main", start: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"example_id": [f"e{i}" for i in range(start, start + n)],
                         "feasible": [i < found for i in range(n)], "jsd": [0.5 if i < found else np.nan for i in range(n)],
                         "search": search})


def test_adversarial_transformer_rows_are_extensions_and_show_the_full_search_check():
    config = {**CONFIG, "models": {**CONFIG["models"], "minilm": {"family": "transformer"}}}
    transformer = pd.concat([adversarial_table(60, 45), adversarial_table(10, 8, search="full search check")])
    data = ClaimData(config, agreement={}, interventions={
        ("sst2", "bilstm_tanh", 0): {"adversarial": adversarial_table(60, 50)},
        ("sst2", "minilm", 0): {"adversarial": transformer}})
    tests = decided("jw_adversarial_attention_exists", data).set_index("model")
    assert tests.loc["bilstm_tanh", "scope"] == REPLICATION and tests.loc["minilm", "scope"] == EXTENSION
    assert tests.loc["minilm", "n"] == 60  # the check rows are not counted twice
    assert "full search on 10 examples: share 0.80 vs 1.00 with this run's search" in tests.loc["minilm", "details"]


def test_one_word_texts_are_no_evidence_for_adversarial_attention():
    """One word's weight cannot move (JSD 0): such texts are left out, as permutation and zeroing leave them out,
    instead of counting as failures."""
    table = adversarial_table(20, 12).assign(n_words=[1] * 4 + [5] * 16)  # the 4 one-word texts have solutions
    table.loc[:3, ["feasible", "jsd"]] = [True, 0.0]  # the search keeps them within ε, but JSD can only be 0
    data = ClaimData(CONFIG, agreement={}, interventions={("sst2", "bilstm_tanh", 0): {"adversarial": table}})
    row = decided("jw_adversarial_attention_exists", data).iloc[0]
    assert row["n"] == 16 and row["estimate"] == pytest.approx(8 / 16)


def _searched(table: pd.DataFrame, steps: int, restarts: int) -> pd.DataFrame:
    settings = '{"adversarial": {"steps": 500, "restarts": 5, "transformer": {"steps": 100, "restarts": 2}}}'
    return table.assign(steps=steps, restarts=restarts, settings=settings)


def test_a_shortened_adversarial_search_decides_against_the_claim_only_when_the_full_search_confirms_it():
    """A shortened search finds at most what the full one would: its low share is a lower bound. Where the
    full search on a subset found more, 'differs' is not decided (inconclusive); where it found no more, the
    reduction is shown not to matter and the shortened search decides; a full search decides as usual."""
    config = {**CONFIG, "models": {**CONFIG["models"], "minilm": {"family": "transformer"}}}

    def verdict(check_found: int | None, steps: int = 100, restarts: int = 2) -> tuple[str, str, float]:
        table = _searched(adversarial_table(60, 3), steps, restarts)
        if check_found is not None:  # the check repeats the run's last 10 examples, none of them solved by the run
            table = pd.concat([table, _searched(adversarial_table(10, check_found, search="full search check",
                                                                   start=50), 500, 5)])
        data = ClaimData(config, agreement={}, interventions={("sst2", "minilm", 0): {"adversarial": table}})
        row = decided("jw_adversarial_attention_exists", data).iloc[0]
        return row["verdict"], row["details"], row["n_needed"]

    found_more, details, needed = verdict(check_found=7)
    assert found_more == INCONCLUSIVE and "lower bound" in details
    assert needed == binomial_n_needed(0.7, 0.5, 0.05)  # planned from the full search's share, not the bound
    # ... and counted in full-search examples: the power paragraph compares it with the 10 the full search ran
    from analysis.report.methods import underpowered

    table = _searched(adversarial_table(60, 3), 100, 2)
    table = pd.concat([table, _searched(adversarial_table(10, 7, search="full search check", start=50), 500, 5)])
    data = ClaimData(config, agreement={}, interventions={("sst2", "minilm", 0): {"adversarial": table}})
    rows = decided("jw_adversarial_attention_exists", data)
    assert rows["n_power"].tolist() == [10] and rows["n"].tolist() == [60]
    assert f"sst2 / minilm (seed 0): 10 of {int(needed)} full-search examples" in underpowered(rows)
    # the claim's table marks the lower bound's p and plans the power in the fuller search's examples
    row = outcomes(rows).iloc[0]
    assert row["p_adjusted"].endswith("(lower bound)") and row["power_in_fuller_search"]
    assert verdict(check_found=0)[0] == DIFFERS
    assert verdict(check_found=None)[0] == INCONCLUSIVE  # shortened, never checked
    assert verdict(check_found=None, steps=500, restarts=5)[0] == DIFFERS  # the full search itself


def test_scope_follows_the_papers_datasets_and_models():
    runs = {(d, m, 0): {"permutation": permutation_table(0.01), "zeroing": zeroing_table(0, 60)}
            for d in ("sst2", "hatexplain", "imdb") for m in ("bilstm_tanh", "cnn_tanh")}
    data = ClaimData(CONFIG, agreement={}, interventions=runs)
    permutation = decided("jw_permutation_changes_little", data).set_index(["dataset", "model"])["scope"]
    assert permutation[("sst2", "bilstm_tanh")] == REPLICATION and permutation[("imdb", "bilstm_tanh")] == REPLICATION
    assert permutation[("hatexplain", "bilstm_tanh")] == EXTENSION  # not a Jain & Wallace dataset
    assert permutation[("sst2", "cnn_tanh")] == EXTENSION  # their counterfactual claims are about the BiLSTM
    zeroing = decided("ss_zeroing_top_item_rarely_flips", data).set_index(["dataset", "model"])["scope"]
    assert zeroing[("imdb", "cnn_tanh")] == REPLICATION and zeroing[("sst2", "bilstm_tanh")] == EXTENSION


def test_a_run_that_cannot_pass_holm_in_its_family_is_untestable():
    """8 pairs can reach p = 2/256 alone, but not Holm's 0.05/20 when the other 19 runs of the family do not
    reject; once they all reject, the same run is tested at 0.05 and is testable."""
    null = {("sst2", "bilstm_tanh", s): agreement_frame(60, causal_means(0.3, 0.3), seed=s) for s in range(19)}
    small = {("imdb", "bilstm_tanh", 0): agreement_frame(8, causal_means(0.5, 0.2), seed=99)}
    tests = decided("jw_causal_methods_agree_more", ClaimData(CONFIG, agreement={**null, **small}))
    row = tests[tests["dataset"] == "imdb"].iloc[0]
    assert row["min_p"] < 0.05 and row["verdict"] == UNTESTABLE
    strong = {("sst2", "bilstm_tanh", s): agreement_frame(60, causal_means(0.6, 0.1), seed=s) for s in range(19)}
    tests = decided("jw_causal_methods_agree_more", ClaimData(CONFIG, agreement={**strong, **small}))
    assert tests.loc[tests["dataset"] == "imdb", "verdict"].iloc[0] != UNTESTABLE


def test_one_word_examples_are_left_out_of_permutation_and_zeroing():
    table = zeroing_table(0, 40).assign(n_words=[1] * 10 + [5] * 30)
    data = ClaimData(CONFIG, agreement={}, interventions={("imdb", "bilstm_tanh", 0): {"zeroing": table}})
    assert decided("ss_zeroing_top_item_rarely_flips", data)["n"].tolist() == [30]


def test_the_permutation_claim_reports_its_threshold_sensitivity():
    import pandas as pd

    from analysis.published.directions import _permutation_details

    table = pd.DataFrame({"median_tvd": [0.005, 0.02, 0.07, 0.2], "flip_rate": [0.0, 0.0, 0.5, 1.0]})
    text = _permutation_details(table)
    assert "< 0.01: 0.25" in text and "< 0.05: 0.50" in text and "< 0.1: 0.75" in text


def test_the_verdict_sentence_counts_rows_per_scope_and_the_caption_explains_vacuous_rows_only_when_there_are_some():
    from analysis.published.claims import EXTENSION, REPLICATION
    from analysis.published.report_section import verdict_table

    rows = pd.DataFrame([{"order": 0, "claim": "jw_permutation_changes_little", "source": "Jain & Wallace, 2019",
                          "scope": scope, "verdict": verdict, "model": model}
                         for scope, verdict, model in [(REPLICATION, "agrees", "bilstm_tanh"),
                                                       (REPLICATION, "agrees", "bilstm_dot"),
                                                       (REPLICATION, "differs", "bilstm_tanh"),
                                                       (EXTENSION, "untestable", "minilm")]])
    table, sentence = verdict_table(rows)
    assert sentence == ("Dataset x model rows of the 1 published claim tested (a row that agrees: raw attention is a "
                        "doubtful explanation there): in the papers' own settings, 2 agree, 1 differs (of 3); in "
                        "extensions, 1 untestable (of 1).")
    assert list(table.frame["scope"]) == [REPLICATION, EXTENSION] and list(table.frame["agrees"]) == ["2", ""]
    assert "vacuous" not in table.caption
    table, sentence = verdict_table(rows.assign(verdict=["agrees", "vacuous", "differs", "vacuous"],
                                                model=["bilstm_tanh", "bilstm_dot", "bilstm_tanh",
                                                       "bilstm_uniform vs bilstm_dot"]))
    assert ("vacuous: agrees, but on near-uniform attention (here all on bilstm_dot; never counted as "
            "support).") in table.caption
    # every verdict word in the table is defined under it, and only those; the correction is the configured one
    assert "Agrees: the corrected test decided" in table.caption and "differs: on the other side" in table.caption
    assert "mixed:" not in table.caption and "Holm-corrected" in table.caption
    table, _ = verdict_table(rows, correction="bh")
    assert "Benjamini-Hochberg-corrected" in table.caption and "Holm" not in table.caption


def removal_table(fractions: dict[str, np.ndarray], flipped: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Removal results; an example flipped unless told otherwise where less than every word was removed."""
    flipped = flipped or {}
    return pd.concat([pd.DataFrame({"example_id": [f"e{i}" for i in range(len(v))], "method": method,
                                    "fraction_items": v, "flipped": flipped.get(method, np.asarray(v) < 1.0)})
                      for method, v in fractions.items()], ignore_index=True)


def test_removal_claim_counts_as_never_flipped_only_what_never_flipped():
    """Fraction 1.0 is also an example that flipped at the last removal (an RNN with every weight zeroed outputs its
    bias): "all words removed without a flip" counts the flipped flag, not the fraction."""
    n = 40
    last = np.ones(n)  # every example needed every word removed ...
    flipped_at_last = np.arange(n) % 4 != 0  # ... and three in four flipped there
    data = ClaimData(CONFIG, agreement={}, interventions={("imdb", "bilstm_tanh", 0): {"removal": removal_table(
        {"rnn_attention": last, "rnn_attention_gradient": np.full(n, 0.5)},
        {"rnn_attention": flipped_at_last, "rnn_attention_gradient": np.ones(n, dtype=bool)})}})
    details = decided("ss_gradient_order_flips_sooner", data)["details"].iloc[0]
    assert "all words removed without a flip: 0% and 25%" in details


def test_removal_claim_ranks_by_the_attention_gradient_and_marks_a_fallback_as_an_extension():
    """Serrano & Smith order by d output / d alpha: with it a run on their dataset replicates; with only the
    J&W gradient it is an extension saying so; the gradient order flipping sooner agrees (negative difference)."""
    rng = np.random.default_rng(0)
    attention = np.clip(0.6 + rng.normal(0, 0.1, 60), 0, 1)
    sooner = np.clip(attention - 0.2 + rng.normal(0, 0.05, 60), 0, 1)
    data = ClaimData(CONFIG, agreement={}, interventions={
        ("imdb", "bilstm_tanh", 0): {"removal": removal_table({"rnn_attention": attention,
                                                              "rnn_attention_gradient": sooner,
                                                              "jw_gradient": attention})},
        ("imdb", "cnn_tanh", 0): {"removal": removal_table({"rnn_attention": attention, "jw_gradient": sooner})}})
    tests = decided("ss_gradient_order_flips_sooner", data).set_index("model")
    theirs, fallback = tests.loc["bilstm_tanh"], tests.loc["cnn_tanh"]
    assert theirs["scope"] == REPLICATION and theirs["verdict"] == AGREES and theirs["estimate"] < 0
    assert "not d output" not in theirs["details"]  # ranked by the attention gradient, not the J&W gradient
    assert fallback["scope"] == EXTENSION and "ranked by jw_gradient, not d output / d α" in fallback["details"]


def test_rollout_rows_say_which_published_result_they_compare_with():
    """Abnar & Zuidema: SST rows compare with their SST-2 result, others with their Table 1 (another task)."""
    config = {**CONFIG, "models": {"minilm": {"family": "transformer"}}}
    means = {("attention_last_mean", "loo_mask"): 0.2, ("attention_rollout", "loo_mask"): 0.3,
             ("attention_flow", "loo_mask"): 0.3}
    data = ClaimData(config, agreement={(d, "minilm", 0): agreement_frame(60, means) for d in ("sst2", "imdb")})
    tests = decided("az_rollout_and_flow_beat_raw_attention", data).set_index("dataset")
    assert tests.loc["sst2", "compares_with"].startswith("their Table 1 claim (subject-verb agreement), tested on SST")
    assert "their own SST-2 result" in tests.loc["sst2", "compares_with"]
    assert tests.loc["imdb", "compares_with"] == "their Table 1 claim (subject-verb agreement, a different task)"
    assert (tests["scope"] == EXTENSION).all() and (tests["verdict"] == AGREES).all()


def test_a_two_part_claim_shows_the_part_that_decides_it_and_where_flow_is_undefined():
    """Intersection-union: the estimate beside the verdict is the deciding part's, so a positive first part
    never stands beside 'differs'; flow computed on fewer examples (its token limit) says so."""
    config = {**CONFIG, "models": {"minilm": {"family": "transformer"}}}
    means = {("attention_last_mean", "loo_mask"): 0.3, ("attention_rollout", "loo_mask"): 0.4,
             ("attention_flow", "loo_mask"): 0.1}
    frame = agreement_frame(60, means)
    short = frame[~((frame["method_a"] == "attention_flow") & (frame["example_id"] >= "ex040"))]
    data = ClaimData(config, agreement={("imdb", "minilm", 0): short})
    (test,) = decided("az_rollout_and_flow_beat_raw_attention", data).itertuples()
    assert test.verdict == DIFFERS and test.estimate < 0  # flow below raw decides, not rollout above it
    assert test.estimate_label == "τ(flow, blank-out) − τ(raw, blank-out)"
    assert "flow on 40 of 60 examples" in test.details
    jw = ClaimData(CONFIG, agreement={("sst2", "bilstm_tanh", 0): agreement_frame(60, {
        ("jw_gradient", "loo_delete"): 0.5, ("rnn_attention", "jw_gradient"): 0.3,
        ("rnn_attention", "loo_delete"): 0.7})})
    (row,) = decided("jw_causal_methods_agree_more", jw).itertuples()
    assert row.verdict == DIFFERS and row.estimate < 0
    assert row.estimate_label == "τ(gradient, LOO) − τ(attention, LOO)"


def test_power_section_reports_the_spread_this_study_observed_beside_the_planning_value():
    """The a-priori SD (0.2) is checked against the data: SD = mean difference / d_z of each comparison."""
    from analysis.report.methods import observed_spread
    from analysis.stats.hypothesis import paired_n_needed

    comparisons = pd.DataFrame({"metric": "kendall_tau", "variant": "abs", "comparison": "attention_vs_ceiling",
                                "mean_difference": [-0.1, 0.05, -0.3, 0.0],
                                "effect_size": [-0.5, 0.25, -1.0, 0.0]})  # SDs 0.2, 0.2, 0.3 (and one undefined)
    text = observed_spread(comparisons, 0.05)
    assert "median 0.20 (quartiles 0.20-0.25, over 3 comparisons)" in text
    assert f"about {int(paired_n_needed(0.05, 0.2, 0.05)):,} examples" in text
    assert observed_spread(None, 0.05) == "" and observed_spread(comparisons.iloc[3:], 0.05) == ""


def test_the_verdict_sentence_never_glosses_a_claim_whose_agreement_means_something_else():
    """An agreeing row of the average-encoder claim says attention explains better there, not that it is doubtful."""
    from analysis.published.report_section import verdict_table

    rows = pd.DataFrame([{"order": 0, "claim": claim, "source": "Jain & Wallace, 2019", "scope": REPLICATION,
                          "verdict": "agrees", "model": "bilstm_tanh"}
                         for claim in ("jw_permutation_changes_little", "jw_average_encoder_agrees_more")])
    _, sentence = verdict_table(rows)
    assert ("(a row that agrees finds the paper's direction; for 1 of the 2 claims that also means raw attention is "
            "a doubtful explanation there)") in sentence


def test_an_untestable_run_is_told_the_n_its_family_needs():
    """Three runs of 6 pairs all one way: each p = 2 / 2^6, Holm makes it 3/32 > 0.05, so untestable; passing
    within the family needs a p below 0.05 / 3, i.e. 7 non-zero differences, not the 6 a single test needs."""
    from analysis.published.claims import level_needed
    from analysis.stats.hypothesis import paired_test

    p_values = np.full(3, 2 / 2**6)
    level = level_needed(p_values, 0, "holm", 0.05)
    assert level == pytest.approx(0.05 / 3, rel=1e-6)
    assert paired_test(np.ones(6)).n_min_at(level) == 7


def test_the_untestable_note_names_only_untestable_rows():
    """One untestable seed (0 flips of 8) in a row the other seeds leave inconclusive is no untestable row."""
    runs = {("imdb", "bilstm_tanh", seed): {"zeroing": zeroing_table(flips, n)}
            for seed, (flips, n) in enumerate([(0, 8), (6, 60), (7, 60)])}
    tests = decided("ss_zeroing_top_item_rarely_flips", ClaimData(CONFIG, agreement={}, interventions=runs))
    assert sorted(tests["verdict"]) == [INCONCLUSIVE, INCONCLUSIVE, UNTESTABLE]
    section = published_section(CONFIG, {"claim_tests": tests}, {})
    assert "Untestable" not in section.markdown
    alone = {key: value for key, value in runs.items() if key[2] == 0}
    section = published_section(CONFIG, {"claim_tests": decided("ss_zeroing_top_item_rarely_flips", ClaimData(
        CONFIG, agreement={}, interventions=alone))}, {})
    assert "Untestable replication rows (imdb / bilstm_tanh)" in section.markdown


def test_small_estimates_keep_their_digits_in_the_claim_table():
    """Accuracy differences within a 0.02 margin printed at two decimals all read -0.00 [-0.01, 0.00]."""
    rng = np.random.default_rng(3)
    learned = rng.random(3000) < 0.9
    uniform = learned.copy()
    uniform[np.flatnonzero(learned)[:20]] = False  # uniform loses 20 examples: learned − uniform ≈ +0.0067
    data = ClaimData(CONFIG, agreement={}, predictions={("sst2", "bilstm_tanh", 0): predictions(learned),
                                                        ("sst2", "bilstm_uniform", 0): predictions(uniform)})
    row = outcomes(decided("wp_uniform_attention_suffices", data)).iloc[0]
    assert row["ours"].startswith("0.0067 [")


def test_every_claim_plans_with_a_row_of_the_power_table_and_the_table_counts_only_its_own_tests():
    """The power table's "n in this study's tests of this kind" reads each claim's own planning row: the rate-below
    claim's n (8) is not pooled with the "most examples" claims' (4-50) because both are exact binomial tests."""
    from analysis.published.claims import PUBLISHED_CLAIMS
    from analysis.report.methods import power_frame
    from analysis.stats.hypothesis import power_table

    rows = {row["test"] for row in power_table(0.05)}
    assert all(PUBLISHED_CLAIMS.get(name).power_kind in rows for name in PUBLISHED_CLAIMS.names())
    tests = pd.DataFrame({"claim": ["ss_zeroing_top_item_rarely_flips", "jw_adversarial_attention_exists",
                                    "jw_adversarial_attention_exists", "ss_gradient_order_flips_sooner"],
                          "test": ["exact binomial", "exact binomial", "exact binomial", "paired sign-flip"],
                          "n": [8, 4, 50, 30]})
    frame = power_frame(0.05, tests).set_index("test")["n in this study's tests of this kind"]
    assert frame["exact binomial (rate below 10%)"] == "8"  # one n, not a range "8-8"
    assert frame["exact binomial (most examples)"] == "4-50"
    assert frame["paired sign-flip (removal fraction)"] == "30"
    assert (frame.loc["paired sign-flip (agreement difference)"] == "").all()
