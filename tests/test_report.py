"""The study summary states only what its numbers support."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from analysis.report.document import inline_markdown
from analysis.report.summary import agreement_findings, equivalence_n_needed, key_results, write_summary


def _summary(attention_ci, ceiling_ci, floor_ci):
    rows = []
    for (a, b, kind), (mean, low, high) in {
        ("attention_last_mean", "loo_delete", "attention_vs_causal"): attention_ci,
        ("integrated_gradients", "loo_delete", "causal_vs_causal"): ceiling_ci,
        ("random", "loo_delete", "random_vs_causal"): floor_ci,
    }.items():
        rows.append({"dataset": "sst2", "model": "minilm", "seed": 0, "method_a": a, "method_b": b,
                     "pair_kind": kind, "variant": "abs", "metric": "kendall_tau", "group_by": "all", "group": "all",
                     "n": 50, "mean": mean, "mean_low": low, "mean_high": high, "median": mean, "median_low": low,
                     "median_high": high, "share_significant": 0.3})
    return pd.DataFrame(rows)


EVALUATION = pd.DataFrame([{"dataset": "sst2", "model": "minilm", "seed": 0, "accuracy": 0.85, "chance": 0.55,
                            "n_eval": 872, "n_truncated": 0, "max_length": 128}])


def test_findings_without_paired_tests_claim_nothing_even_when_intervals_separate():
    """Marginal intervals are shown but never compared: without a comparisons table every verdict is untested."""
    for attention, floor in (((0.2, 0.15, 0.25), (0.0, -0.05, 0.05)), ((0.45, 0.35, 0.55), (0.4, 0.3, 0.5))):
        (finding,) = agreement_findings(_summary(attention, (0.5, 0.45, 0.55), floor), EVALUATION,
                                        reference="loo_delete")
        assert finding.verdict_ceiling == "untested" and finding.verdict_floor == "untested"
        assert "compared with the ceiling" in finding.text and "compared with a random ranking" in finding.text
        assert "below" not in finding.text and "above" not in finding.text


def test_findings_warn_about_models_near_chance():
    poor = EVALUATION.assign(accuracy=0.58)
    (finding,) = agreement_findings(_summary((0.2, 0.15, 0.25), (0.5, 0.45, 0.55), (0.0, -0.05, 0.05)), poor,
                                    reference="loo_delete")
    assert "close to chance" in finding.text


def test_constant_attention_is_undefined_and_left_out_of_the_answer():
    """A uniform-by-construction model ranks nothing: its finding says so, and the lead's spread and
    verdict counts use only the defined agreements, never a 'nan'."""
    from analysis.report.report_section import agreement_lead

    defined = _summary((0.2, 0.15, 0.25), (0.5, 0.45, 0.55), (0.0, -0.05, 0.05))
    constant = defined.assign(model="bilstm_uniform")
    attention = constant["method_a"] == "attention_last_mean"
    constant.loc[attention, ["n", "mean", "mean_low", "mean_high"]] = [0, float("nan"), float("nan"), float("nan")]
    evaluation = pd.concat([EVALUATION, EVALUATION.assign(model="bilstm_uniform")])
    findings = agreement_findings(pd.concat([defined, constant]), evaluation, reference="loo_delete")
    uniform = next(f for f in findings if f.model == "bilstm_uniform")
    assert not uniform.defined and uniform.verdict_ceiling == "constant" and "ranks nothing" in uniform.text
    lead = " ".join(agreement_lead(findings, pd.concat([defined, constant]), reference="loo_delete",
                                   metric="kendall_tau", comparisons=None))
    assert "nan" not in lead and "0.20" in lead and "1 of constant attention left out" in lead


def test_the_answer_names_each_models_raw_attention_agreement_highest_first():
    from analysis.report.report_section import agreement_lead

    low = _summary((0.10, 0.05, 0.15), (0.5, 0.45, 0.55), (0.0, -0.05, 0.05))
    high = _summary((0.60, 0.55, 0.65), (0.5, 0.45, 0.55), (0.0, -0.05, 0.05)).assign(model="bert")
    both = pd.concat([low, high])
    evaluation = pd.concat([EVALUATION, EVALUATION.assign(model="bert")])
    findings = agreement_findings(both, evaluation, reference="loo_delete")
    (lead, *_) = agreement_lead(findings, both, reference="loo_delete", metric="kendall_tau", comparisons=None)
    assert ("each model's raw attention agrees with Leave-one-out (delete) at a Kendall τ (the median over its runs "
            "of each run's mean over examples) of bert 0.60, minilm 0.10") in lead
    # the ceiling is named, not just called 'two causal methods'
    assert "the ceiling (Integrated gradients vs Leave-one-out (delete)): 0.50; the floor" in lead


def test_the_answer_names_a_model_whose_attention_is_constant():
    """A uniform-by-construction model has no raw-attention agreement: the per-model list says so by name
    instead of dropping it silently."""
    from analysis.report.report_section import agreement_lead

    low = _summary((0.10, 0.05, 0.15), (0.5, 0.45, 0.55), (0.0, -0.05, 0.05))
    high = low.assign(model="bert", mean=low["mean"] + 0.5)
    constant = low.assign(model="bilstm_uniform")
    attention = constant["method_a"] == "attention_last_mean"
    constant.loc[attention, ["n", "mean", "mean_low", "mean_high"]] = [0, float("nan"), float("nan"), float("nan")]
    summary = pd.concat([low, high, constant])
    evaluation = pd.concat([EVALUATION, EVALUATION.assign(model="bert"), EVALUATION.assign(model="bilstm_uniform")])
    findings = agreement_findings(summary, evaluation, reference="loo_delete")
    (lead, *_) = agreement_lead(findings, summary, reference="loo_delete", metric="kendall_tau", comparisons=None)
    assert "bert 0.60, minilm 0.10 (bilstm_uniform: constant attention, no ranking)" in lead


def test_summary_files_are_written(tmp_path):
    config = {"study": "t", "title": "T", "agreement": {"reference": "loo_delete"},
              "figures": {"headline_metric": "kendall_tau"}}
    diagnostics = pd.DataFrame([{"dataset": "sst2", "model": "minilm", "method": "integrated_gradients",
                                 "seconds": 0.1, "forward_passes": 66.0, "completeness_gap": 0.001}])
    data = pd.DataFrame([{"dataset": "sst2", "role": "eval", "rows_kept": 872}])
    findings = write_summary(config=config, evaluation=EVALUATION,
                             summary=_summary((0.2, 0.15, 0.25), (0.5, 0.45, 0.55), (0.0, -0.05, 0.05)),
                             diagnostics=diagnostics, data_report=data, figures={}, out_markdown=str(tmp_path / "s.md"),
                             out_html=str(tmp_path / "s.html"))
    text = (tmp_path / "s.md").read_text()
    assert inline_markdown(findings[0].text) in text and "0.850" in text
    page = (tmp_path / "s.html").read_text()
    assert 'id="findings"' in page and 'id="forest"' in page and "<nav" in page


def test_findings_follow_the_corrected_paired_test_when_there_is_one():
    """Separated intervals but a non-significant corrected test: no difference is claimed."""
    summary = _summary((0.2, 0.15, 0.25), (0.5, 0.45, 0.55), (0.0, -0.05, 0.05))
    tests = pd.DataFrame([
        {"dataset": "sst2", "model": "minilm", "seed": 0, "method_a": "attention_last_mean",
         "method_b": "integrated_gradients", "comparison": "attention_vs_ceiling", "metric": "kendall_tau",
         "variant": "abs", "mean_difference": -0.3, "low": -0.6, "high": 0.01, "effect_size": -0.2, "p_value": 0.04,
         "p_adjusted": 0.08, "correction": "holm", "significant": False, "normalised": 0.4, "normalised_low": 0.1,
         "normalised_high": 0.9},
        {"dataset": "sst2", "model": "minilm", "seed": 0, "method_a": "attention_last_mean", "method_b": "random",
         "comparison": "attention_vs_floor", "metric": "kendall_tau", "variant": "abs", "mean_difference": 0.2,
         "low": 0.1, "high": 0.3, "effect_size": 1.1, "p_value": 0.0001, "p_adjusted": 0.0003, "correction": "holm",
         "significant": True, "normalised": float("nan"), "normalised_low": float("nan"),
         "normalised_high": float("nan")},
    ])
    (finding,) = agreement_findings(summary, EVALUATION, reference="loo_delete", comparisons=tests)
    assert finding.verdict_ceiling == "overlapping" and finding.verdict_floor == "above"
    assert "not distinguishable from (but not shown equivalent to) the ceiling" in finding.text
    assert "Holm-adjusted p = 0.08" in finding.text
    assert "normalised agreement 0.40 [0.10, 0.90]" in finding.text
    # parity is claimed only where the equivalence test shows it
    equivalent = tests.assign(equivalence=["equivalent", ""], margin=0.05, p_equivalence=[0.01, float("nan")])
    (finding,) = agreement_findings(summary, EVALUATION, reference="loo_delete", comparisons=equivalent)
    assert finding.verdict_ceiling == "equivalent"
    assert "as good as (within ±0.05, Holm-adjusted TOST p = 0.01)" in finding.text  # a family of one
    too_few = tests.assign(equivalence=["untestable", ""])
    (finding,) = agreement_findings(summary, EVALUATION, reference="loo_delete", comparisons=too_few)
    # the difference test could decide at this n; only the TOST could not: not 'untestable' outright
    assert finding.verdict_ceiling == "indistinct_untestable"
    assert "(equivalence untestable at this n) the ceiling" in finding.text
    assert key_results([finding])["vs ceiling"].iloc[0] == "not distinguishable; equivalence untestable at this n"
    # with the margin and the spread known, it says how many examples a TOST would need
    planned = too_few.assign(margin=0.05, mean_difference=[0.01, 0.2], low=[-0.05, 0.1], high=[0.07, 0.3], n=9)
    (finding,) = agreement_findings(summary, EVALUATION, reference="loo_delete", comparisons=planned)
    needed = equivalence_n_needed(planned.iloc[0])
    assert needed > 9 and (f"(equivalence untestable at this n; about {needed:,.0f} examples would show equivalence "
                           f"within ±0.05 with 80% power) the ceiling") in finding.text


def test_parity_is_corrected_within_the_runs_family_and_a_difference_inside_the_margin_says_so():
    """TOST p-values are Holm-corrected within the run's attention-vs-ceiling family, as the difference tests
    are: a raw p of 0.03 among three is no parity; a significant difference whose corrected TOST still puts it
    inside the margin is 'below', and says it is within the margin."""
    from analysis.report.summary import correct_equivalence

    base = {"dataset": "sst2", "model": "minilm", "seed": 0, "method_b": "integrated_gradients",
            "comparison": "attention_vs_ceiling", "metric": "kendall_tau", "variant": "abs", "n": 200,
            "effect_size": 0.0, "correction": "holm", "normalised": 1.0, "normalised_low": 0.9,
            "normalised_high": 1.1, "margin": 0.05}
    tests = pd.DataFrame([
        {**base, "method_a": "attention_last_mean", "mean_difference": -0.01, "low": -0.03, "high": 0.01,
         "p_value": 0.4, "p_adjusted": 0.8, "significant": False, "equivalence": "equivalent", "p_equivalence": 0.03},
        {**base, "method_a": "attention_rollout", "mean_difference": -0.02, "low": -0.03, "high": -0.01,
         "p_value": 0.001, "p_adjusted": 0.003, "significant": True, "equivalence": "equivalent",
         "p_equivalence": 0.001},
        {**base, "method_a": "attention_flow", "mean_difference": -0.2, "low": -0.3, "high": -0.1,
         "p_value": 0.001, "p_adjusted": 0.003, "significant": True, "equivalence": "not shown",
         "p_equivalence": float("nan")},
    ])
    corrected = correct_equivalence(tests)
    assert corrected["p_equivalence_adjusted"].tolist() == pytest.approx([0.06, 0.003, 1.0])
    assert corrected["equivalence"].tolist() == ["not shown", "equivalent", "not shown"]
    methods = ("attention_last_mean", "attention_rollout", "attention_flow")
    summary = pd.concat([_summary((0.45, 0.40, 0.50), (0.46, 0.41, 0.51), (0.0, -0.05, 0.05)).assign(
        method_a=lambda f, m=m: f["method_a"].replace("attention_last_mean", m)) for m in methods])
    summary = summary.drop_duplicates(["method_a", "method_b"])
    findings = {f.method: f for f in agreement_findings(summary, EVALUATION, reference="loo_delete",
                                                        comparisons=tests)}
    assert findings["attention_last_mean"].verdict_ceiling == "overlapping"  # raw TOST p 0.03, corrected 0.06
    rollout = findings["attention_rollout"]
    assert rollout.verdict_ceiling == "below" and rollout.within_margin
    assert "this is below the ceiling" in rollout.text
    assert "), yet within the equivalence margin (±0.05, Holm-adjusted TOST p = 0.003)" in rollout.text
    assert key_results([rollout])["vs ceiling"].iloc[0] == "below (yet within the equivalence margin)"
    assert not findings["attention_flow"].within_margin


def test_undecided_parity_with_the_ceiling_says_how_many_examples_equivalence_would_need():
    """Not distinguishable, not shown equivalent: the finding and the key table give the n a TOST within the
    margin would need for 80% power at the observed difference, with the spread from the difference and its d_z;
    without d_z, from the interval with the t quantile of its n."""
    import math

    from analysis.report.summary import equivalence_n_needed, key_results

    summary = _summary((0.45, 0.40, 0.50), (0.46, 0.41, 0.51), (0.0, -0.05, 0.05))
    tests = pd.DataFrame([{"dataset": "sst2", "model": "minilm", "seed": 0, "method_a": "attention_last_mean",
                           "method_b": "integrated_gradients", "comparison": "attention_vs_ceiling",
                           "metric": "kendall_tau", "variant": "abs", "n": 30, "mean_difference": -0.01, "low": -0.05,
                           "high": 0.03, "effect_size": -0.1, "p_value": 0.6, "p_adjusted": 0.6, "correction": "holm",
                           "significant": False, "normalised": 0.98, "normalised_low": 0.9, "normalised_high": 1.05,
                           "equivalence": "not shown", "margin": 0.05, "p_equivalence": float("nan")}])
    (finding,) = agreement_findings(summary, EVALUATION, reference="loo_delete", comparisons=tests)
    sd = 0.01 / 0.1  # the observed mean difference over its d_z
    critical = 1.959964  # each side of the TOST at 2.5%, as every claim
    z = critical + 0.841621
    expected = math.ceil((z * sd / 0.04) ** 2 + critical**2 / 2)  # Guenther's correction uses the critical value
    assert finding.verdict_ceiling == "overlapping" and finding.n_equivalence == expected
    assert f"about {expected:,} examples would show equivalence within ±0.05 with 80% power" in finding.text
    assert f"equivalence needs about {expected:,} examples" in key_results([finding])["vs ceiling"].iloc[0]
    assert equivalence_n_needed(tests.iloc[0].copy().replace({-0.01: -0.07})) == math.inf  # outside the margin
    from scipy import stats

    sd_t = 0.08 / (2 * stats.t.ppf(0.975, 29)) * math.sqrt(30)
    assert equivalence_n_needed(tests.iloc[0].drop("effect_size")) == math.ceil((z * sd_t / 0.04) ** 2 + critical**2 / 2)


@pytest.mark.parametrize("show", [False, True])
def test_hatexplain_gets_a_content_warning_and_reductions_are_stated(tmp_path, show):
    config = {"study": "t", "title": "T", "agreement": {"reference": "loo_delete"},
              "figures": {"headline_metric": "kendall_tau"}, "seeds": [0],
              "datasets": {"hatexplain": {"explain_n": 40}}, "models": {"minilm": {}},
              "report": {"show_offensive_examples": show, "reductions": ["Explained 40 examples, not 1,924."]}}
    data = pd.DataFrame([{"dataset": "hatexplain", "role": "eval", "split": "test", "source": "local",
                          "rows_kept": 1000, "rows_available": 1924}])
    write_summary(config=config, evaluation=EVALUATION, summary=_summary((0.2, 0.15, 0.25), (0.5, 0.45, 0.55),
                                                                          (0.0, -0.05, 0.05)),
                  diagnostics=pd.DataFrame(), data_report=data, figures={}, out_markdown=str(tmp_path / "s.md"),
                  out_html=str(tmp_path / "s.html"))
    text = (tmp_path / "s.md").read_text()
    warning = text.index("Content warning: hatexplain")
    assert warning < text.index("## Agreement with causal importance")
    assert ("shows none of its example texts" in text) != show
    assert "evaluated on 1,000 of 1,924 available" in text
    # the reductions are listed once, in the methods, and the scope links there
    assert text.count("- Explained 40 examples, not 1,924.") == 1 and "Reduced: " not in text
    assert "Reduced from the published setups in 1 way: [Methods, Reductions](#reductions)" in text
    assert '<a id="reductions"></a>' in text
    assert 'class="warning"' in (tmp_path / "s.html").read_text()


def test_csv_tables_are_compact_and_keep_provenance(tmp_path):
    from analysis.report.summary import write_csv_tables

    frame = pd.DataFrame({"mean": [0.123456789, 0.5], "settings": ['{"a":1}', '{"a":2}'],
                          "versions": ['{"torch":"2"}'] * 2})
    write_csv_tables({"agreement_summary": frame, "heads_agreement": frame, "empty": None,
                      "read_twice": frame.copy()}, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agreement_summary.csv", "provenance.csv"]
    table = pd.read_csv(tmp_path / "agreement_summary.csv")
    assert "settings" not in table.columns and table["mean"].iloc[0] == pytest.approx(0.123457)
    joined = table.merge(pd.read_csv(tmp_path / "provenance.csv"), on="provenance_id")
    assert joined["settings"].tolist() == frame["settings"].tolist()


def test_publish_copies_the_report_and_csv_tables_only_and_says_how_to_regenerate(tmp_path):
    import datetime as dt

    from analysis.report.publish import publish_report

    study = tmp_path / "results" / "study"
    (study / "tables").mkdir(parents=True)
    (study / "summary.html").write_text("<html>report</html>")
    (study / "summary.md").write_text("# report")
    (study / "tables" / "agreement.csv").write_text("a,b\n1,2\n")
    (study / "tables" / "provenance.csv").write_text("provenance_id\nx\n")
    (study / "tables" / "weights.parquet").write_bytes(b"not for the repository")
    out = tmp_path / "reports" / "study"
    (out / "tables").mkdir(parents=True)
    (out / "tables" / "stale.csv").write_text("old")
    written = publish_report(html=study / "summary.html", markdown=study / "summary.md", tables=study / "tables",
                             out=out, title="T", command="snakemake publish --configfile config/study.yaml",
                             config_files=["config/study.yaml"], code="abc123",
                             generated=dt.datetime(2026, 11, 24, tzinfo=dt.timezone.utc), gzip_above=10)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "README.md", "summary.html", "summary.md", "tables/agreement.csv", "tables/provenance.csv.gz"]
    assert pd.read_csv(out / "tables" / "provenance.csv.gz")["provenance_id"].tolist() == ["x"]
    assert written[0] == out / "README.md" and (out / "summary.html").read_text() == "<html>report</html>"
    readme = (out / "README.md").read_text()
    assert "snakemake publish --configfile config/study.yaml" in readme and "abc123" in readme
    assert "2026-11-24" in readme and "2 CSV tables" in readme


def test_published_readme_names_every_commit_the_jobs_ran_under(tmp_path):
    """A long study runs across commits: the README names the report's commit and each job's (from the
    provenance table), and says which jobs predate the record."""
    import json

    from analysis.provenance import library_versions
    from analysis.report.publish import NOT_RECORDED, job_commits, publish_report

    study = tmp_path / "study"
    (study / "tables").mkdir(parents=True)
    (study / "summary.html").write_text("<html>report</html>")
    (study / "summary.md").write_text("# report")
    versions = [json.dumps({"torch": "2"}), json.dumps({"torch": "2", "code": "aaa111"}),
                json.dumps({"torch": "2", "code": "bbb222"}), json.dumps({"torch": "2", "code": "aaa111"})]
    pd.DataFrame({"provenance_id": list("wxyz"), "settings": "{}", "versions": versions}).to_csv(
        study / "tables" / "provenance.csv", index=False)
    assert job_commits(study / "tables") == [NOT_RECORDED, "aaa111", "bbb222"]
    publish_report(html=study / "summary.html", markdown=study / "summary.md", tables=study / "tables",
                   out=tmp_path / "out", title="T", command="snakemake publish", config_files=[], code="ccc333")
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "`ccc333` (the report)" in readme and "`aaa111`, `bbb222` and older jobs that did not" in readme
    assert library_versions()["code"]  # every job records the commit it ran under


def test_publish_names_the_missing_report_and_the_fix(tmp_path):
    from analysis.report.publish import publish_report

    with pytest.raises(FileNotFoundError, match="run the study first"):
        publish_report(html=tmp_path / "summary.html", markdown=tmp_path / "summary.md", tables=tmp_path / "t",
                       out=tmp_path / "out", title="T", command="c", config_files=[], code="x")
    assert not (tmp_path / "out").exists()


def test_embedded_figures_are_compacted_and_kept_within_the_width_rule(tmp_path):
    import base64
    import io
    import re

    import matplotlib
    import numpy as np
    from PIL import Image

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analysis.plots.kit import STORED_WIDTH_PX
    from analysis.report.document import Figure, HtmlRenderer, compact_png

    fig, ax = plt.subplots(figsize=(4, 3))
    ax.imshow(np.random.default_rng(0).random((20, 20)), cmap="RdBu_r")
    path = tmp_path / "figure.png"
    fig.savefig(path, dpi=150)
    plt.close(fig)
    small = compact_png(path)
    assert len(small) < path.stat().st_size
    with Image.open(io.BytesIO(small)) as image, Image.open(path) as original:
        assert image.size == original.size
        difference = np.abs(np.asarray(image.convert("RGB"), dtype=int) - np.asarray(original.convert("RGB"), dtype=int))
    assert np.percentile(difference, 99) <= 16  # 256 colours: visually the same figure
    tag = HtmlRenderer().block(Figure(path, "a <caption>"), level=3)
    assert base64.b64decode(re.search(r"base64,([^\"]+)", tag)[1]) == small and "a &lt;caption&gt;" in tag
    assert 'width="400"' in tag  # stored 600 px wide: shown at 600 / 1.5
    wide = tmp_path / "wide.png"
    Image.new("RGB", (3000, 400), "white").save(wide)
    with Image.open(io.BytesIO(compact_png(wide))) as image:
        assert image.size == (STORED_WIDTH_PX, 180)


def test_code_version_names_the_commit_and_ignores_the_published_folder(tmp_path):
    import subprocess

    from analysis.provenance import code_version

    assert code_version(tmp_path) == "unknown"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "r.md").write_text("old")
    (tmp_path / "code.py").write_text("x = 1")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "c"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    (tmp_path / "reports" / "r.md").write_text("new")
    assert code_version(tmp_path, ignore=("reports",)) == commit
    assert code_version(tmp_path, ignore=(str(tmp_path / "reports"), "/elsewhere/reports")) == commit
    assert code_version(tmp_path) == f"{commit} + uncommitted changes"
    assert code_version(tmp_path, paths=("code.py", "analysis")) == commit  # a changed report is not code
    (tmp_path / "code.py").write_text("x = 2")
    assert code_version(tmp_path, paths=("code.py", "analysis")) == f"{commit} + uncommitted changes"


def test_methods_section_states_each_method_with_the_settings_it_ran_with_and_the_configured_statistics():
    """Methods are read from their declarations with the config's settings merged over the defaults; the
    statistics text carries this study's level, resamples, correction and margins, never fixed numbers."""
    from analysis.importance import IMPORTANCE_METHODS
    from analysis.report.methods import importance_table, metric_table, statistics_items

    config = {"importance": {"methods": {"integrated_gradients": {"n_steps": 48}, "loo_delete": {}, "nope": {}}},
              "agreement": {"metrics": ["kendall_tau", "jsd"], "level": 0.9, "n_resamples": 500,
                            "correction": "bh", "equivalence_margin": 0.07},
              "claims": {"level": 0.99, "correction": "holm", "accuracy_margin": 0.03}, "seeds": [0, 1, 2],
              "figures": {"headline_metric": "kendall_tau"}}
    table = importance_table(config).set_index("name")
    assert list(table.index) == ["`integrated_gradients`", "`loo_delete`"]  # an unknown name is left out
    ig = IMPORTANCE_METHODS.get("integrated_gradients")
    assert "n_steps=48" in table.loc["`integrated_gradients`", "settings used"]
    assert all(f"{k}=" in table.loc["`integrated_gradients`", "settings used"] for k in ig.defaults)
    assert table.loc["`integrated_gradients`", "reference"] == ig.citation
    metrics = metric_table(config).set_index("name")
    assert metrics.loc["`jsd`", "more agreement"] == "lower" and metrics.loc["`kendall_tau`", "range"] == "[-1, 1]"
    text = " ".join(statistics_items(config))
    for needle in ("(90%)", "500 resamples", "Benjamini-Hochberg", "±0.07", "within 0.03", "level 0.01",
                   "3 seeds (0, 1, 2)"):
        assert needle in text, needle


def test_the_accuracy_section_gives_each_models_mean_over_seeds_beside_the_runs():
    from analysis.report.report_section import accuracy_section

    evaluation = pd.DataFrame([{"dataset": "sst2", "model": "rnn", "seed": seed, "accuracy": acc, "chance": 0.5,
                                "n_eval": 1821} for seed, acc in enumerate((0.80, 0.83, 0.86))])
    section = accuracy_section({}, {"evaluation": evaluation}, {})
    means = section.tables["accuracy_seeds"].iloc[0]
    assert means["seeds"] == 3 and means["mean"] == pytest.approx(0.83)
    assert (means["lowest"], means["highest"], means["chance"]) == (0.80, 0.86, 0.5)
    assert "Accuracy over training seeds" in section.markdown and "Accuracy per run" in section.markdown
    # one seed: no table of means
    single = accuracy_section({}, {"evaluation": evaluation.iloc[:1]}, {})
    assert "accuracy_seeds" in single.tables and "Accuracy over training seeds" not in single.markdown


@pytest.mark.parametrize(("ceiling", "floor", "start"), [
    ({"below": 66, "equivalent": 9, "above": 28, "overlapping": 12}, {"above": 113, "overlapping": 2}, "Partly:"),
    ({"below": 10, "equivalent": 60, "above": 30, "overlapping": 15}, {"above": 115}, "Largely"),
    ({"below": 50, "equivalent": 50, "overlapping": 15}, {"above": 100, "overlapping": 15}, "It depends"),
    ({"below": 100, "overlapping": 15}, {"above": 40, "overlapping": 75}, "Mostly not:"),
])
def test_the_plain_answer_follows_the_majority_of_paired_verdicts(ceiling, floor, start):
    """Attention short of the ceiling in most results reads 'partly', never 'yes'; near chance reads 'mostly not'."""
    from analysis.report.report_section import plain_answer

    answer = plain_answer(pd.Series(ceiling), pd.Series(floor), sum(ceiling.values()))
    assert answer.startswith(start) and answer.endswith(".")


def test_the_plain_answer_counts_only_decided_results_and_names_only_what_occurred():
    """Untested results are no evidence of 'no better than chance'; a tie is no majority; 'as well as a second causal
    method in some' only where some did."""
    from analysis.report.report_section import plain_answer

    answer = plain_answer(pd.Series({"below": 5, "overlapping": 5}), pd.Series({"above": 10}), 10)
    assert answer.startswith("It depends") and "as well as a second causal method" not in answer
    assert "less well than a second causal method in 5 of 10, not distinguishable from one" in answer
    untested = plain_answer(pd.Series({"below": 4, "untested": 6}), pd.Series({"above": 4, "untested": 6}), 10)
    assert untested.startswith("Partly:")  # 4 of the 4 tested beat chance
    # 'most' of the decidable results says how few could be decided
    assert untested == ("Partly: better than chance in all 4 results a test could decide (of 10), but less like causal "
                        "importance than a second causal method is in all 4 results a test could decide (of 10).")
    tie = plain_answer(pd.Series({"below": 2, "equivalent": 2}), pd.Series({"above": 2, "overlapping": 2}), 4)
    assert tie.startswith("It depends") and "better than chance in 2 of 4 results" in tie
    # nothing varies, nothing decided against the ceiling: no "it depends", and no majority word for 2 of 2
    flat = plain_answer(pd.Series({"indistinct_untestable": 2}), pd.Series({"above": 2}), 2)
    assert flat == ("Better than chance in both results; whether it ranks words as a second causal method "
                    "does cannot be decided at this n.")
    single = plain_answer(pd.Series({"indistinct_untestable": 1}), pd.Series({"above": 1}), 1)
    assert single.startswith("Better than chance in the one result;")
    one_kind = plain_answer(pd.Series({"overlapping": 3}), pd.Series({"above": 2, "overlapping": 1}), 3)
    assert not one_kind.startswith("It depends") and "not distinguishable from a second causal method (not parity) in all 3" in one_kind
    assert plain_answer(pd.Series({"untested": 3}), pd.Series({"untested": 3}), 3) == ""


def test_the_lead_answers_in_words_before_the_numbers():
    from analysis.report.report_section import agreement_lead

    summary = _summary((0.2, 0.15, 0.25), (0.5, 0.45, 0.55), (0.0, -0.05, 0.05))
    findings = agreement_findings(summary, EVALUATION, reference="loo_delete")
    (untested, *_) = agreement_lead(findings, summary, reference="loo_delete", metric="kendall_tau", comparisons=None)
    assert untested.startswith("Does attention point at the words a decision rests on? Across 1 run (dataset")
    tested = [replace(f, verdict_ceiling="below", verdict_floor="above") for f in findings]
    (lead, *_) = agreement_lead(tested, summary, reference="loo_delete", metric="kendall_tau", comparisons=None)
    assert lead.startswith("Does attention point at the words a decision rests on? Partly: better than chance in the "
                           "one result, but less like causal importance than a second causal method is in the one "
                           "result. Across 1")


def test_the_lead_never_prints_a_negative_zero():
    """A random floor of -0.004 reads '0.00' (not '-0.00'), and a floor whose ends read the same is one number."""
    from analysis.report.report_section import agreement_lead

    summary = _summary((0.2, 0.15, 0.25), (0.5, 0.45, 0.55), (-0.004, -0.05, 0.05))
    findings = agreement_findings(summary, EVALUATION, reference="loo_delete")
    (lead, *_) = agreement_lead(findings, summary, reference="loo_delete", metric="kendall_tau", comparisons=None)
    assert "the floor (a random ranking): 0.00." in lead and "-0.00" not in lead


def test_scope_lines_name_the_models_that_train_or_explain_fewer_examples():
    """A per-model cap (MiniLM explains 250, trains on 2,500 IMDB reviews) is named beside the dataset's count."""
    from analysis.report.summary import scope_lines

    config = {"datasets": {"imdb": {"explain_n": 500}},
              "models": {"bilstm": {"family": "rnn"},
                         "minilm": {"family": "transformer", "train_n": {"imdb": 2500},
                                    "explain_n": {"default": 250, "imdb": 60}}},
              "seeds": [0]}
    data = pd.DataFrame([{"dataset": "imdb", "role": "train", "split": "train", "source": "mirror",
                          "rows_kept": 19000, "rows_available": 25000}])
    (line, *_) = scope_lines(config, data)
    assert line == ("imdb: trained on 19,000 of 25,000 available (train, mirror) (minilm: 2,500); 500 explained per "
                    "run (minilm: 60).")


def test_published_comparisons_carry_the_corrected_equivalence_the_report_states():
    """A TOST p of 0.03 in a family of four is not 'equivalent' after Holm, in the table as in the text."""
    from analysis.report.summary import corrected_comparisons

    rows = [{"dataset": "sst2", "model": "minilm", "seed": seed, "metric": "kendall_tau", "variant": "abs",
             "comparison": "attention_vs_ceiling", "method_a": f"m{i}", "correction": "holm",
             "p_equivalence": p, "equivalence": "equivalent" if p < 0.05 else "not shown"}
            for seed, ps in ((0, (0.03, 0.5, 0.6, 0.7)), (1, (0.001, 0.5, 0.6, 0.7))) for i, p in enumerate(ps)]
    table = corrected_comparisons(pd.DataFrame(rows))
    first = table.iloc[[0, 4]]
    assert first["equivalence"].tolist() == ["not shown", "equivalent"]  # 0.03 x 4 > 0.05; 0.001 x 4 < 0.05
    assert first["p_equivalence_adjusted"].round(3).tolist() == [0.12, 0.004]


def test_the_agreement_section_shows_how_much_the_answer_owes_to_the_reference():
    """Raw attention against the reference's sibling (LOO by [MASK] beside LOO by deletion), per model."""
    from analysis.report.report_section import reference_sensitivity

    summary = _summary((0.60, 0.55, 0.65), (0.5, 0.45, 0.55), (0.0, -0.05, 0.05))
    masked = summary.iloc[[0]].assign(method_b="loo_mask", mean=0.20)
    text = reference_sensitivity(pd.concat([summary, masked]), reference="loo_delete", metric="kendall_tau")
    assert ("against Leave-one-out ([MASK]) instead of Leave-one-out (delete), each model's raw attention agrees at "
            "minilm 0.20 (was 0.60)") in text
    assert reference_sensitivity(summary, reference="loo_delete", metric="kendall_tau") == ""  # no sibling computed


def test_the_lead_counts_raw_attention_apart_from_its_variants_and_answers_from_raw_attention():
    """Raw attention is the question's subject: its verdicts come first and decide the answer's wording; the
    variants' (rollout here, all as good as the ceiling) follow in the count of every attention-based ranking."""
    from analysis.report.report_section import agreement_lead

    one = _summary((0.2, 0.15, 0.25), (0.5, 0.45, 0.55), (0.0, -0.05, 0.05))
    rollout = one.iloc[[0]].assign(method_a="attention_rollout", mean=0.45)
    summary = pd.concat([one, rollout, one.assign(model="bert"), rollout.assign(model="bert")], ignore_index=True)
    evaluation = pd.concat([EVALUATION, EVALUATION.assign(model="bert")])
    findings = [replace(f, verdict_ceiling="below" if f.method == "attention_last_mean" else "equivalent",
                        verdict_floor="above")
                for f in agreement_findings(summary, evaluation, reference="loo_delete")]
    assert len(findings) == 4
    first, second = agreement_lead(findings, summary, reference="loo_delete", metric="kendall_tau", comparisons=None)
    assert "Partly:" in first  # 2 of 2 raw below the ceiling, although half of all rankings are as good as it
    assert second == ("Paired tests on the same examples put raw attention below the ceiling in 2 of 2, as good as it "
                      "in 0; above the floor in 2 of 2.")
    from analysis.report.report_section import every_ranking_sentence

    every = every_ranking_sentence(findings, metric="kendall_tau")  # opens the agreement section
    assert every.startswith("Every attention-based ranking (raw attention and its variants: 4 results, Kendall τ 0.20 "
                            "to 0.45, median 0.33)")
    assert every.endswith("below the ceiling in 2 of 4, as good as it in 2; above the floor "
                          "in 4 of 4.")


def test_agreement_untestable_counts_non_zero_differences_and_the_family():
    """'Untestable at this n' is read as the claims read it: from the non-zero paired differences (zeros carry no
    sign) and the family's correction, not from all n examples. 30 examples of which 4 differ: the smallest exact
    p is 2 / 2^4 = 0.125, untestable; 7 differing pairs reach 2 / 2^7 = 0.016 alone, but not x 4 tests."""
    from analysis.report.summary import _verdict
    from analysis.stats.comparisons import compare_methods

    rng = np.random.default_rng(0)
    rows = []
    for i in range(30):
        ceiling = rng.uniform(0.3, 0.6)
        values = {"loo_mask": ceiling, "random": ceiling - 0.4,
                  "att_few": ceiling - (0.1 if i < 4 else 0.0),  # 4 non-zero differences with the ceiling
                  "att_seven": ceiling - (0.1 if i < 7 else 0.0)}
        for method, value in values.items():
            family = {"loo_mask": "ablation", "random": "random"}.get(method, "attention")
            rows.append({"example_id": f"e{i}", "method_a": "loo_delete", "family_a": "ablation", "method_b": method,
                         "family_b": family, "metric": "kendall_tau", "variant": "abs", "value": value})
    table = compare_methods(pd.DataFrame(rows), reference="loo_delete", ceiling="loo_mask", n_resamples=50)
    ceiling_rows = table[table["comparison"] == "attention_vs_ceiling"].set_index("method_a")
    assert (ceiling_rows["n"] == 30).all()
    assert ceiling_rows.loc["att_few", "min_p"] == pytest.approx(2 / 2**4)
    assert ceiling_rows.loc["att_seven", "min_p"] == pytest.approx(2 / 2**7)
    assert ceiling_rows.loc["att_seven", "min_p_adjusted"] == pytest.approx(2 * 2 / 2**7)  # a family of 2
    assert _verdict(ceiling_rows.loc["att_few"]) == "untestable"
    assert _verdict(ceiling_rows.loc["att_seven"]) != "untestable"  # 0.031 < 0.05: testable within its family


def test_the_lead_counts_results_on_near_uniform_attention_apart_and_its_yardsticks_are_the_compared_runs():
    """Near-uniform attention below the ceiling is a row the claims call vacuous: the lead says how many of its
    own results are such rows; the ceiling's range spans only the runs whose verdicts it counts (not a model whose
    attention is constant); 'above' names its models."""
    from analysis.report.report_section import agreement_lead

    runs = {"bilstm_dot": (0.10, "below"), "bilstm_tanh": (0.20, "below"), "average": (0.60, "above"),
            "bilstm_uniform": (float("nan"), "constant")}
    summary = pd.concat([_summary((value, value - 0.05, value + 0.05), (0.5, 0.45, 0.55), (0.0, -0.05, 0.05))
                         .assign(model=model) for model, (value, _) in runs.items()], ignore_index=True)
    summary.loc[summary["model"] == "bilstm_uniform", ["mean", "mean_low", "mean_high"]] = np.nan
    summary.loc[(summary["model"] == "bilstm_uniform") & (summary["method_a"] == "integrated_gradients"), "mean"] = 0.9
    evaluation = pd.concat([EVALUATION.assign(model=model) for model in runs])
    findings = [replace(f, verdict_ceiling=runs[f.model][1], verdict_floor="above", within_margin=f.model == "average")
                for f in agreement_findings(summary, evaluation, reference="loo_delete")]
    concentration = pd.DataFrame([{"dataset": "sst2", "model": "bilstm_dot", "seed": 0,
                                   "method": "attention_last_mean", "near_uniform": True},
                                  {"dataset": "sst2", "model": "bilstm_tanh", "seed": 0,
                                   "method": "attention_last_mean", "near_uniform": False}])
    first, second = agreement_lead(findings, summary, reference="loo_delete", metric="kendall_tau", comparisons=None,
                                   concentration=concentration)
    assert "Across 4 runs" in first and "Leave-one-out (delete)): 0.50; the floor" in first  # not 0.50 to 0.90
    assert second == ("Paired tests on the same examples put attention below the ceiling in 2 of 3 (1 of them on "
                      "near-uniform attention, which the claims count as vacuous), as good as it in 0, above it in 1 "
                      "(average 1); above the floor in 3 of 3.")
    from analysis.report.report_section import every_ranking_sentence

    # the section's count of every ranking also says which results differ from the ceiling within the margin
    assert "above it in 1 (average 1; 1 of them within the equivalence margin)" in every_ranking_sentence(
        findings, metric="kendall_tau")


def test_every_ranking_sentence_leaves_out_models_whose_attention_is_frozen():
    """A uniform-attention control's variants rank by the gradient alone: they say nothing about attention."""
    from analysis.report.report_section import every_ranking_sentence

    summary = pd.concat([_summary((0.2, 0.15, 0.25), (0.5, 0.45, 0.55), (0.0, -0.05, 0.05)),
                         _summary((0.3, 0.25, 0.35), (0.5, 0.45, 0.55), (0.0, -0.05, 0.05)).assign(model="uniform")])
    evaluation = pd.concat([EVALUATION, EVALUATION.assign(model="uniform")])
    findings = [replace(f, verdict_ceiling="below", verdict_floor="above")
                for f in agreement_findings(summary, evaluation, reference="loo_delete")]
    every = every_ranking_sentence(findings, metric="kendall_tau", frozen=frozenset({"uniform"}))
    assert every == ("Every attention-based ranking (raw attention and its variants: 1 result, Kendall τ 0.20 to "
                     "0.20, median 0.20; left out: the 1 of uniform, whose attention is frozen to uniform (a "
                     "control)): paired tests put it below the ceiling in 1 of 1, as good as it in 0; above the "
                     "floor in 1 of 1.")
