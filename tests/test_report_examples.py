"""The per-example page and the published data's card: hover values, units, labels, what the page claims of the
published data, embedded JSON, and publishing into a temporary folder within its size budgets."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from report_fixtures import write_study

ID = "sst2-test-0"


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    return write_study(tmp_path_factory.mktemp("small"))


def _run(folder: Path, words: list[str], scores: dict[str, list[float]], *, dataset: str = "sst2") -> Path:
    """One run's importance table: one example, the given words and each method's scores."""
    from analysis.importance import IMPORTANCE_METHODS

    rows = [{"example_id": f"{dataset}-test-0", "method": method, "family": IMPORTANCE_METHODS.get(method).family,
             "signed": IMPORTANCE_METHODS.get(method).signed, "word_index": i, "word": word, "score": value,
             "predicted": 1, "label": 1, "n_words": len(words), "dataset": dataset, "model": "minilm", "seed": 0}
            for method, values in scores.items() for i, (word, value) in enumerate(zip(words, values))]
    path = folder / dataset / "minilm" / "0" / "importance.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)
    return path


def _publish_kwargs(study: dict) -> dict:
    return dict(html=study["html"], markdown=study["markdown"], tables=study["tables"], title="Small",
                command="snakemake publish", config_files=["config/small.yaml"], code="abc",
                examples=study["examples"], importance=study["importance"], agreement=study["agreement"],
                config=study["config"])


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# ------------------------------------------------------------------ item 1: the value on hover is the score
def test_a_score_far_below_the_examples_largest_hovers_as_itself_with_its_sign(tmp_path):
    """The colour reads integers in [-999, 999] of the largest |score|, on which 1e-4 of it is 0; the hover reads
    the score to three significant digits, sign kept."""
    from analysis.report.examples import examples_data

    path = _run(tmp_path, ["good", "tiny", "small"], {"loo_delete": [0.763, -0.763e-4, 2.0e-7]})
    data, _ = examples_data({"datasets": {"sst2": {}}}, [pd.read_parquet(path)])
    scale, colour, hover = data["runs"][0]["examples"][0]["scores"]["loo_delete"]
    assert scale == 0.763 and colour == [999, 0, 0]
    assert hover == [0.763, -7.63e-05, 2e-07]


# ------------------------------------------------------------------ item 2: every method declares its unit
def test_the_data_card_gives_each_published_methods_declared_unit_and_no_blanket_unit(study, tmp_path):
    from analysis.importance import IMPORTANCE_METHODS
    from analysis.report.publish import publish_report

    out = tmp_path / "out"
    publish_report(out=out, **_publish_kwargs(study))
    card = (out / "DATA.md").read_text()
    assert "sum to one over the words" not in card and "in probability units" not in card
    table = card.split("## Methods and units")[1].split("\n## ")[0]
    rows = [line.split(" | ") for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    published = set(pd.read_parquet(out / "data" / "importance.parquet")["method"].astype(str))
    assert {row[0].strip("| ") for row in rows} == published
    for name, family, signed, unit in rows:
        method = IMPORTANCE_METHODS.get(name.strip("| "))
        assert (family, signed, unit.rstrip(" |")) == (method.family, "yes" if method.signed else "no",
                                                      method.unit.replace("|", "\\|"))


# ------------------------------------------------------------------ item 7: the page claims only what data/ holds
def test_with_a_sampled_publish_the_page_marks_as_published_only_examples_in_the_data(study, tmp_path):
    from analysis.report.data import export_data
    from analysis.report.examples import DATA_NOTE, page_data
    from analysis.report.publish import DATA_RESERVE_BYTES, folder_size, publish_report

    before = page_data(study["examples"].read_text())
    assert before["published"] == DATA_NOTE  # the study's own page claims nothing of a published folder
    assert "hold their scores" not in study["examples"].read_text()
    kwargs = _publish_kwargs(study)
    full = tmp_path / "full"
    publish_report(out=full, **kwargs)
    rest = folder_size(full) - folder_size(full / "data") - sum(
        (full / name).stat().st_size for name in ("DATA.md", "README.md"))
    order = {d: [f"{d}-test-2", f"{d}-test-0", f"{d}-test-1"] for d in ("sst2", "hatexplain")}
    files, _, _ = export_data(importance=study["importance"], agreement=study["agreement"], out=tmp_path / "two",
                              config=study["config"], order=order, max_examples=2)
    small = tmp_path / "small"
    publish_report(out=small, order=order, max_total=rest + DATA_RESERVE_BYTES + 100
                   + sum(p.stat().st_size for p in files.values()), **kwargs)
    data = pd.read_parquet(small / "data" / "importance.parquet", columns=["dataset", "model", "seed", "example_id"])
    held = {(str(d), str(m), int(s), str(e)) for d, m, s, e in data.drop_duplicates().itertuples(index=False)}
    assert len({key[3] for key in held if key[0] == "sst2"}) == 2  # a sample: two of the three examples per run
    page = page_data((small / "examples.html").read_text())
    marks = {(r["dataset"], r["model"], r["seed"], e["id"]): e["in_data"] for r in page["runs"] for e in r["examples"]}
    assert marks and all(marks[key] == (key in held) for key in marks)
    assert not all(marks.values()) and f"hold {sum(marks.values())} of the {len(marks)}" in page["published"]
    assert f"shows {len(marks)} run x example pairs; {sum(marks.values())} of them are" in (
        small / "DATA.md").read_text()
    everything = page_data((full / "examples.html").read_text())
    assert all(e["in_data"] for r in everything["runs"] for e in r["examples"])
    assert "every example shown here" in everything["published"]


# ------------------------------------------------------------------ item 8: labels and derived datasets
def test_the_data_card_names_every_class_and_says_how_derived_datasets_were_made():
    from analysis.report.data import data_card

    config = {"datasets": {"sst2_sentences": {},
                           "ag_news_binary": {"base": "ag_news", "labels": {"World": 0, "Business": 1}},
                           "sst2_anti": {"base": "sst2_sentences",
                                         "shortcut": {"token": "zeugma", "rate": 0.2, "mode": "anti", "label": 1}}}}
    card = data_card(files={}, config=config, rows={})
    labels = card.split("## Labels")[1].split("\n## ")[0]
    for row in ("| sst2_sentences | 0 | negative |", "| sst2_sentences | 1 | positive |", "| ag_news_binary | 0 | World |",
                "| ag_news_binary | 1 | Business |", "| sst2_anti | 1 | positive |"):
        assert row in labels
    ag_news = next(line for line in labels.splitlines() if line.startswith("- ag_news_binary:"))
    assert "reads ag_news" in ag_news and "World (as 0), Business (as 1)" in ag_news
    assert "drops the rows of Sports, Sci/Tech" in ag_news
    anti = next(line for line in labels.splitlines() if line.startswith("- sst2_anti:"))
    assert "'zeugma'" in anti and "20%" in anti and "other classes, which are relabelled 1 (positive)" in anti
    assert not any(line.startswith("- sst2_sentences") for line in labels.splitlines())  # read as it is


# ------------------------------------------------------------------ item 10: wording
def test_the_published_readme_says_what_provenance_csv_holds(study, tmp_path):
    from analysis.report.publish import publish_report

    out = tmp_path / "out"
    publish_report(out=out, **_publish_kwargs(study))
    readme = (out / "README.md").read_text()
    columns = list(pd.read_csv(out / "tables" / "provenance.csv").columns)
    assert columns == ["provenance_id", "settings", "versions"]
    assert "holds two JSON columns: `settings`" in readme and "and `versions`" in readme
    assert "(dataset, split, model, seed, method settings" not in readme


def test_the_intro_names_known_causes_of_shown_datasets_only(study, tmp_path):
    from analysis.report.examples import PLANTED, RATIONALE, page_data, write_examples_page

    known = {"sst2": {"kind": PLANTED, "examples": {"sst2-test-0": [2]}},
             "hatexplain": {"kind": RATIONALE, "examples": {"hatexplain-test-0": [1]}}}
    page = write_examples_page(study["config"], importance_paths=study["importance"], out_html=tmp_path / "e.html",
                               known=known).read_text()
    intro = re.search(r'<p class="sub">(.*?)</p>', page, re.S)[1]
    assert f"sst2: {PLANTED}" in intro and "hatexplain" not in intro  # hatexplain is left out of the page
    assert page_data(page)["known"] == {"sst2": PLANTED}


# ------------------------------------------------------------------ item 11: budgets and the temporary folder
def test_size_advice_follows_the_cause_and_the_examples_page_has_its_own_budget(tmp_path):
    from analysis.report.publish import ReportSizeError, check_sizes

    def folder(heavy: str) -> Path:
        """A report of a small summary and one 50 kB file, ``heavy``."""
        (tmp_path / heavy).parent.mkdir(parents=True)
        (tmp_path / heavy).write_bytes(b"x" * 50_000)
        (tmp_path / heavy.split("/")[0] / "summary.html").write_bytes(b"x" * 1_000)
        return tmp_path / heavy.split("/")[0]

    with pytest.raises(ReportSizeError, match="without data/ the report is 0.1 MB") as caught:
        check_sizes(folder("tables_heavy/tables/agreement.csv"), max_total=20_000)
    assert "data/ takes" not in str(caught.value)
    data = folder("data_heavy/data/importance.parquet")
    with pytest.raises(ReportSizeError, match="data/ takes 0.1 MB") as caught:
        check_sizes(data, max_total=20_000)
    assert "without data/" not in str(caught.value)
    (data / "examples.html").write_bytes(b"x" * 3_000)
    with pytest.raises(ReportSizeError, match="examples.html is 0.0 MB, over its 0.002 MB budget"):
        check_sizes(data, max_examples=2_000)
    assert check_sizes(data, max_examples=3_000)["examples.html"] == 3_000


def test_a_refused_publish_leaves_the_previous_report_as_it_was(study, tmp_path):
    from analysis.report.publish import ReportSizeError, publish_report

    reports = tmp_path / "reports"
    out = reports / "small"
    publish_report(out=out, **_publish_kwargs(study))
    (out / ".snakemake_timestamp").write_text("")  # left by an older workflow whose output was the folder
    previous = _files(out)
    with pytest.raises(ReportSizeError, match="examples.html is .* over its 0.001 MB budget"):
        publish_report(out=out, max_examples=1_000, **_publish_kwargs(study))
    with pytest.raises(ReportSizeError, match="summary.html is"):
        publish_report(out=out, max_html=1_000, **_publish_kwargs(study))
    assert _files(out) == previous and [p.name for p in reports.iterdir()] == ["small"]
    publish_report(out=out, **_publish_kwargs(study))  # passes: replaces the folder as a whole
    assert ".snakemake_timestamp" not in _files(out) and [p.name for p in reports.iterdir()] == ["small"]


# ------------------------------------------------------------------ item 12: no text can break the page's script
def test_every_less_than_sign_in_the_embedded_data_is_escaped(tmp_path):
    from analysis.report.examples import DATA_BLOCK, page_data, write_examples_page

    words = ["<!--<script>", "</script>", "fine"]
    path = _run(tmp_path, words, {"loo_delete": [0.5, -0.25, 0.125]})
    page = write_examples_page({"datasets": {"sst2": {}}}, importance_paths=[path],
                               out_html=tmp_path / "e.html").read_text()
    block = DATA_BLOCK.search(page)[2]
    assert "<" not in block and "\\u003c!--\\u003cscript>" in block
    assert page_data(page)["texts"]["sst2"][ID] == words
    assert page.count("<script") == 2  # the data block and the page's script, nothing opened by a word


# ------------------------------------------------------------------ in a browser: what a reader sees
@pytest.fixture(scope="module")
def browser():
    from test_report_browser import _browser

    driver = _browser()
    yield driver
    driver.quit()


def test_in_a_browser_a_tiny_score_hovers_with_its_sign_and_a_script_like_word_is_text(browser, tmp_path):
    from analysis.report.examples import write_examples_page

    if shutil.which("chromium") is None and shutil.which("chromium-browser") is None:
        pytest.skip("headless Chromium is not available")
    words = ["good", "tiny", "<!--<script>"]
    path = _run(tmp_path, words, {"loo_delete": [0.763, -0.763e-4, 0.1]})
    page = write_examples_page({"datasets": {"sst2": {}}}, importance_paths=[path], out_html=tmp_path / "e.html")
    browser.get(page.as_uri())
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    titles = [w.get_attribute("title") for w in browser.find_elements("css selector", "#view .w span")]
    assert titles == ["good: 0.763", "tiny: -0.0000763", "<!--<script>: 0.100"]
    assert browser.find_element("id", "data-note").text.startswith("Every explained example's scores are in")
