"""The report's document model, its two renderers, the markdown's image links, publishing and the published data."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pandas as pd
import pytest
from report_fixtures import write_study

from analysis.report.document import (
    BulletList,
    Details,
    Document,
    Figure,
    Findings,
    Group,
    Item,
    Paragraph,
    Section,
    Table,
    inline_html,
    plain_text,
    png_size,
    relative_link,
    render_html,
    render_markdown,
    walk,
)
from analysis.report.sections import figure_key, figures_by_key, figures_under

IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    return write_study(tmp_path_factory.mktemp("small"))


def _figure(path: Path) -> Path:
    from analysis.plots import kit

    with kit.style_context():
        figure = kit.new_figure(4, 2)
        figure.add_subplot().plot([0, 1], [0, 1])
    return kit.save_figure(figure, path)


def _visible(text: str, *, rendered: bool = True) -> str:
    """What a reader sees: tags (of a rendering) and markup dropped, entities resolved, whitespace collapsed."""
    text = re.sub(r"<[^>]+>", "", text) if rendered else text
    text = html.unescape(plain_text(text)).replace("\\|", "|").replace("\\*", "*").replace("\\\\", "\\")
    return " ".join(text.replace("*", "").replace("`", "").split())


def _texts(block) -> list[str]:
    """The texts a block must show, in reading form."""
    if isinstance(block, Paragraph):
        return [block.text]
    if isinstance(block, (Findings, BulletList)):
        items = [i if isinstance(i, Item) else Item(i) for i in block.items]
        return [t for i in items for t in (i.text, *i.children)]
    if isinstance(block, Table):
        return [*block.frame.columns.astype(str), *[c for row in block.cells() for c in row if c]]
    if isinstance(block, Figure):
        return [block.caption] if block.exists else []
    if isinstance(block, Details):
        return [block.summary]
    if isinstance(block, Group):
        return [block.title]
    raise TypeError(block)


def test_a_missing_figure_is_logged_and_a_folded_captions_link_survives_in_markdown(tmp_path, caplog):
    """A figure whose file is missing is left out of both renderings with a warning naming it (a text link to its
    id would otherwise break silently); a folded table's caption renders as in the HTML page, links kept."""
    table = Table(pd.DataFrame({"n": range(30)}), caption="Thirty rows, see [the answer](#answer)")
    document = Document("Title", [Section("Part", [Figure(tmp_path / "gone.png", "never shown", id="forest-all"),
                                                  table])])
    with caplog.at_level("WARNING", logger="analysis.report.document"):
        markdown = render_markdown(document, tmp_path / "doc.md")
    assert "forest-all" in caplog.text and "gone.png" in caplog.text
    assert '<summary>Thirty rows, see <a href="#answer">the answer</a> (30 rows)</summary>' in markdown
    assert '<summary>Thirty rows, see <a href="#answer">the answer</a> (30 rows)</summary>' in render_html(document)


def test_every_block_appears_in_both_renderings(tmp_path):
    figure = _figure(tmp_path / "figures" / "plot.png")
    blocks = [Paragraph("A **bold** claim with *emphasis*, `code`, a [link](#other) and <mask> | pipes."),
              Findings(["finding one (p < 0.05)", "finding two"], id="found"),
              BulletList(["plain item", Item("parent", ("child a", "child b"))]),
              Table(pd.DataFrame({"name": ["x|y", "a*b"], "value": [0.12345, float("nan")], "flag": [True, False]}),
                    caption="A small table"),
              Figure(figure, "A caption with *markup*", alt="alt text"), Figure(tmp_path / "missing.png", "never shown"),
              Details("folded away", [Paragraph("hidden paragraph")]),
              Group("A subsection", [Paragraph("inside the group"),
                                     Table(pd.DataFrame({"n": range(30)}), caption="Thirty rows")])]
    document = Document("Title", [Section("First part", blocks), Section("Other", [Paragraph("end")], id="other")],
                        front=[Paragraph("The answer.", style="lead")])
    markdown = render_markdown(document, tmp_path / "doc.md")
    page = render_html(document)
    seen_md, seen_html = _visible(markdown), _visible(page)
    for section in document.sections:
        for block in walk(section.blocks):
            for text in _texts(block):
                assert _visible(text, rendered=False) in seen_md, (text, "markdown")
                assert _visible(text, rendered=False) in seen_html, (text, "html")
    assert "never shown" not in markdown and "never shown" not in page  # a missing figure is left out of both
    # every section and group has an id; the table of contents links each section in both formats
    for section in document.sections:
        assert f'id="{section.id}"' in page and f'<a id="{section.id}"></a>' in markdown
        assert f'href="#{section.id}"' in page and f"](#{section.id})" in markdown
    assert 'id="first-part-a-subsection"' in page and 'id="found"' in page
    # markup: one reading in both formats, raw angle brackets never become tags
    assert "<b>bold</b>" in page and "<i>emphasis</i>" in page and '<a href="#other">link</a>' in page
    assert "&lt;mask&gt;" in page and "&lt;mask&gt;" in markdown and "<mask>" not in markdown
    assert "| x\\|y |" in markdown and "a\\*b" in markdown  # table cells are literal in markdown
    assert "<details><summary>Thirty rows (30 rows)</summary>" in markdown  # long tables are folded
    assert 'class="t sortable"' in page and 'class="filter"' in page
    assert f"![alt text]({relative_link(figure, tmp_path / 'doc.md')})" in markdown
    assert page.count("data:image/png;base64,") == 1


def test_inline_markup_is_escaped_except_its_own_syntax():
    assert inline_html("a < b & *c*") == "a &lt; b &amp; <i>c</i>"
    assert inline_html("`<x>` 2 * 3 * 4") == "<code>&lt;x&gt;</code> 2 * 3 * 4"
    assert plain_text("**Where** [we](#x) *differ*") == "Where we differ"


def test_figures_are_passed_by_key_and_captions_are_rekeyed_by_file():
    assert figure_key("results/s/study/figures/interventions/sst2/aopc.png") == "interventions/sst2/aopc"
    assert figure_key("results/s/study/figures/groundtruth_sanity.png") == "groundtruth/sanity"
    assert figure_key("results/s/sst2/minilm/2/figures/heads.png") == "heads/sst2/minilm/2"
    assert figure_key("results/s/study/figures/accuracy.png") == "accuracy"
    keyed = figures_by_key({"Causal tests (sst2): AOPC.": "s/study/figures/interventions/sst2/aopc.png",
                            "heads/sst2/minilm/0": "anything.png"})
    assert keyed == {"interventions/sst2/aopc": "s/study/figures/interventions/sst2/aopc.png",
                     "heads/sst2/minilm/0": "anything.png"}
    assert figures_under(keyed, "heads") == {("sst2", "minilm", "0"): "anything.png"}


def test_every_image_link_of_the_markdown_resolves(study):
    markdown = study["markdown"]
    links = IMAGE.findall(markdown.read_text())
    assert any("agreement_forest" in link for link in links) and any("agreement_headline" in link for link in links)
    assert any("accuracy" in link for link in links)
    assert all(not Path(link).is_absolute() for link in links)
    missing = [link for link in links if not (markdown.parent / link).is_file()]
    assert missing == []


def test_every_internal_link_of_the_markdown_has_its_anchor(study):
    """A link such as the hero caption's (#forest-all) must land in the markdown too, not only in the HTML."""
    text = study["markdown"].read_text()
    targets = set(re.findall(r"\]\(#([^)\s]+)\)", text))
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', text))
    anchors |= {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
                for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}
    assert targets and targets <= anchors, sorted(targets - anchors)


def test_the_first_screen_answers_with_numbers_verdicts_and_the_forest_plot(study):
    text = study["markdown"].read_text()
    head = text[:text.index("## Agreement with causal importance")]
    assert "Content warning: hatexplain" in head and "Does attention point at the words" in head
    assert "| claim | scope | agrees | differs | mixed | inconclusive | untestable | vacuous |" in head
    assert "](#claim-jw-causal-methods-agree-more)" in head and '<a id="claim-jw-causal-methods-agree-more">' in text
    assert "agreement_headline.png" in head and "examples.html" in head
    assert "agreement_forest.png" not in head and "agreement_forest.png" in text  # every method: in its section
    # two seeds: one method x method matrix per dataset and model, seeds averaged, not one per run
    assert text.count("](figures/seed_matrix/") == 4 and "matrix.png" not in text
    assert text.index("## Methods") > text.index("## Comparison with published findings")


def test_publishing_writes_figures_data_and_card_within_the_budget(study, tmp_path):
    from analysis.report.publish import ReportSizeError, publish_report

    out = tmp_path / "reports" / "small"
    kwargs = dict(html=study["html"], markdown=study["markdown"], tables=study["tables"], title="Small",
                  command="snakemake publish", config_files=["config/small.yaml"], code="abc",
                  examples=study["examples"], importance=study["importance"], agreement=study["agreement"],
                  config=study["config"])
    written = publish_report(out=out, **kwargs)
    assert written[0] == out / "README.md"
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"summary.html", "summary.md", "examples.html", "DATA.md", "data/importance.parquet", "data/words.parquet",
            "data/agreement.parquet", "tables/provenance.csv"} <= names
    published = (out / "summary.md").read_text()
    links = IMAGE.findall(published)
    assert links and all(link.startswith("figures/") and (out / link).is_file() for link in links)
    scores = pd.read_parquet(out / "data" / "importance.parquet").merge(
        pd.read_parquet(out / "data" / "words.parquet"), on=["dataset", "split", "example_id", "word_index"])
    assert len(scores) == sum(len(pd.read_parquet(p)) for p in study["importance"])
    assert scores["score"].dtype == "float32" and "settings" not in scores.columns
    assert set(scores.loc[scores["dataset"] == "hatexplain", "word"]) == {""}  # the content switch
    assert "<wonderful>" in set(scores.loc[scores["dataset"] == "sst2", "word"])
    provenance = pd.read_csv(out / "tables" / "provenance.csv")
    assert set(scores["provenance_id"].astype(str)) <= set(provenance["provenance_id"])
    card = (out / "DATA.md").read_text()
    assert "CC BY 4.0" in card and "score" in card and "pd.read_parquet(\"data/importance.parquet\")" in card
    assert "data/" in (out / "README.md").read_text()
    with pytest.raises(ReportSizeError, match="summary.html is .* over its 0.001 MB budget"):
        publish_report(out=tmp_path / "too-large", max_html=1_000, **kwargs)
    with pytest.raises(ReportSizeError, match="largest: "):
        publish_report(out=tmp_path / "too-large", max_total=10_000, **kwargs)


def test_a_broken_figure_link_stops_publishing(tmp_path):
    from analysis.report.publish import publish_markdown

    (tmp_path / "summary.md").write_text("![a figure](figures/gone.png)\n")
    (tmp_path / "out").mkdir()
    with pytest.raises(FileNotFoundError, match="does not resolve"):
        publish_markdown(tmp_path / "summary.md", tmp_path / "out")


def test_the_examples_page_keeps_within_its_budget_and_says_so(study, tmp_path):
    from analysis.report.examples import write_examples_page

    full = write_examples_page(study["config"], importance_paths=study["importance"], out_html=tmp_path / "a.html")
    assert "Up to 12 explained examples per run" in full.read_text()
    small = write_examples_page(study["config"], importance_paths=study["importance"], out_html=tmp_path / "b.html",
                                max_bytes=full.stat().st_size - 1)
    assert small.stat().st_size < full.stat().st_size and "Up to 6 explained examples per run" in small.read_text()
    shown = write_examples_page({**study["config"], "report": {"show_offensive_examples": True}},
                                importance_paths=study["importance"], out_html=tmp_path / "c.html")
    assert '"hatexplain"' in shown.read_text() and '"hatexplain"' not in full.read_text()


def test_an_html_page_over_its_budget_stores_folded_figures_smaller(tmp_path):
    import numpy as np
    from PIL import Image

    noisy = tmp_path / "noisy.png"  # a figure that does not compress
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (500, 2000, 3), dtype=np.uint8)).save(noisy)
    document = Document("T", [Section("S", [Figure(noisy, "shown"), Details("more", [Figure(noisy, "folded")])])])
    roomy = render_html(document, max_bytes=None)
    tight = render_html(document, max_bytes=int(len(roomy) * 0.8))
    widths = [int(w) for w in re.findall(r'width="(\d+)"', tight)]
    assert len(tight) < len(roomy) and widths[0] == 900 and widths[1] < 900
    # when shrinking folded figures is not enough, open ones are stored smaller too, shown as wide as before
    tighter = render_html(document, max_bytes=int(len(roomy) * 0.3))
    stored = [png_size(base64.b64decode(data)) for data in re.findall(r'src="data:image/png;base64,([^"]+)"', tighter)]
    widths = [int(w) for w in re.findall(r'width="(\d+)"', tighter)]
    assert len(tighter) < len(tight) and stored[0][0] == 1000 and widths[0] == 900 and stored[1][0] == 480


def test_a_page_still_over_its_budget_at_the_smallest_widths_stores_figures_in_fewer_colours(tmp_path):
    import io

    import numpy as np
    from PIL import Image

    smooth = tmp_path / "smooth.png"  # smooth colours, thousands of them, as a heatmap's
    across, down = np.meshgrid(np.linspace(0, 255, 1400), np.linspace(0, 255, 300))
    pixels = np.stack([across, down, 255 - (across + down) / 2], axis=-1)
    Image.fromarray(pixels.astype(np.uint8)).save(smooth)
    document = Document("T", [Section("S", [Figure(smooth, "shown"), Details("more", [Figure(smooth, "folded")])])])

    def images(page):
        return [Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")
                for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]

    roomy = render_html(document, max_bytes=None)
    smallest = render_html(document, max_bytes=1)  # out of reach: the last step of the ladder is returned
    assert len(smallest) < len(roomy)
    shown, folded = images(smallest)
    assert (shown.width, folded.width) == (1000, 480)
    assert len(shown.getcolors(1 << 16)) <= 128 and len(folded.getcolors(1 << 16)) <= 64
    assert min(len(image.getcolors(1 << 16)) for image in images(roomy)) > 128
    original = np.asarray(Image.open(smooth).convert("RGB").resize(shown.size), dtype=int)
    assert np.abs(np.asarray(shown, dtype=int) - original).mean() < 12  # banded, but the same figure


def test_the_readme_shows_how_to_load_the_published_data_as_the_data_card_does():
    from pathlib import Path

    from analysis.report.data import README_SNIPPET

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert README_SNIPPET in readme


def test_counts_read_as_words():
    from analysis.report.document import counted

    assert [counted(1, "seed"), counted(3, "seed"), counted(0, "run"), counted(2, "analysis", "analyses")] == [
        "1 seed", "3 seeds", "0 runs", "2 analyses"]


def test_the_sample_size_is_the_largest_that_fits():
    from analysis.report.data import largest_sample

    runs = [(10, 100.0), (4, 50.0)]  # (examples, bytes per example): all of it is 1,200 bytes
    assert largest_sample(runs, 1_200) is None
    assert largest_sample(runs, 1_199) == 9  # 9 * 100 + 4 * 50 = 1,100; 10 would be 1,200
    assert largest_sample(runs, 600) == 4 and largest_sample(runs, 149) == 0


def test_a_sample_takes_the_same_examples_from_a_run_that_explained_only_a_prefix(tmp_path):
    from analysis.report.data import first_examples, read_sample

    order = ["d-3", "d-1", "d-4", "d-2"]
    assert first_examples(["d-1", "d-2", "d-3", "d-4"], order, 2) == ["d-3", "d-1"]
    assert first_examples(["d-3", "d-1"], order, 2) == ["d-3", "d-1"]  # explained only a prefix of the order
    assert first_examples(["d-10", "d-9", "d-2"], None, 2) == ["d-2", "d-9"]  # no order: natural order of ids
    everything = pd.DataFrame({"example_id": ["d-1", "d-2", "d-3", "d-4"], "dataset": "d", "score": [1, 2, 3, 4]})
    everything.to_parquet(tmp_path / "run.parquet")
    assert sorted(read_sample(tmp_path / "run.parquet", {"d": order}, 2)["example_id"]) == ["d-1", "d-3"]
    assert len(read_sample(tmp_path / "run.parquet", {"d": order}, None)) == 4


def test_data_over_the_budget_are_the_same_sample_of_every_run_and_the_card_says_so(study, tmp_path):
    from analysis.report.data import export_data
    from analysis.report.publish import DATA_RESERVE_BYTES, folder_size, publish_report

    kwargs = dict(html=study["html"], markdown=study["markdown"], tables=study["tables"], title="Small",
                  command="snakemake publish", config_files=["config/small.yaml"], code="abc",
                  examples=study["examples"], importance=study["importance"], agreement=study["agreement"],
                  config=study["config"])
    full = tmp_path / "full"
    publish_report(out=full, **kwargs)
    data = folder_size(full / "data")
    assert "Every explained example of every run (24 run x example pairs)" in (full / "DATA.md").read_text()
    rest = folder_size(full) - data - (full / "DATA.md").stat().st_size - (full / "README.md").stat().st_size
    order = {d: [f"{d}-test-2", f"{d}-test-0", f"{d}-test-1"] for d in ("sst2", "hatexplain")}
    files, _, _ = export_data(importance=study["importance"], agreement=study["agreement"], out=tmp_path / "two",
                              config=study["config"], order=order, max_examples=2)
    two = sum(p.stat().st_size for p in files.values())
    assert two < data
    small = tmp_path / "small"
    publish_report(out=small, max_total=rest + DATA_RESERVE_BYTES + two + 100, order=order, **kwargs)
    assert folder_size(small / "data") == two  # two of the three examples per run: the largest sample that fits
    scores = pd.read_parquet(small / "data" / "importance.parquet")
    per_run = scores.groupby(["dataset", "model", "seed"], observed=True)["example_id"].agg(
        lambda ids: tuple(sorted(set(ids.astype(str)))))
    kept = {ids for ids in per_run}
    assert len(per_run) == 8 and len(kept) == 2  # one set per dataset: the same examples in every run
    for ids in kept:
        dataset = ids[0].split("-")[0]
        assert set(ids) == set(order[dataset][:2])  # the first two of the order
    agreement = pd.read_parquet(small / "data" / "agreement.parquet")
    assert set(agreement["example_id"].astype(str)) == set(scores["example_id"].astype(str))
    card = (small / "DATA.md").read_text()
    assert "A sample, to keep the report within its size budget: the first" in card and "of the 24 run x" in card
    assert "A sample" in (small / "README.md").read_text()


def test_the_examples_page_shows_the_first_of_the_explain_order_in_every_run(study, tmp_path):
    import json as _json

    from analysis.report.examples import write_examples_page

    order = {d: [f"{d}-test-2", f"{d}-test-0", f"{d}-test-1"] for d in ("sst2", "hatexplain")}
    page = write_examples_page(study["config"], importance_paths=study["importance"], out_html=tmp_path / "e.html",
                               max_examples=2, order=order).read_text()
    data = _json.loads(re.search(r"<script type=\"application/json\" id=\"data\">(.*?)</script>", page, re.S)[1])
    shown = {(r["dataset"], r["model"], r["seed"]): [e["id"] for e in r["examples"]] for r in data["runs"]}
    assert shown and all(ids == ["sst2-test-2", "sst2-test-0"] for ids in shown.values())  # hatexplain is hidden
    assert "the same examples for every model and seed" in page


def test_the_examples_page_underlines_a_planted_token_and_a_rationale(study, tmp_path):
    """The planted shortcut token (shortcut_index) and human rationales (gt_mask) are the words known to matter:
    the page marks them per example and names what they are; examples without any carry no mark."""
    import json as _json

    from analysis.report.examples import (
        BY_CONSTRUCTION,
        MARKED,
        PLANTED,
        RATIONALE,
        known_causes,
        write_examples_page,
    )

    ids = [f"sst2-test-{i}" for i in range(3)]
    explain = tmp_path / "sst2.parquet"
    pd.DataFrame({"example_id": ids, "dataset": "sst2", "gt_mask": [None] * 3,
                  "shortcut_index": [2, -1, 0]}).to_parquet(explain)
    rationale = tmp_path / "hatexplain.parquet"
    pd.DataFrame({"example_id": ["h1", "h2"], "dataset": "hatexplain",
                  "gt_mask": [[0, 1, 1], [0, 0, 0]]}).to_parquet(rationale)
    generated = tmp_path / "synthetic.parquet"
    pd.DataFrame({"example_id": ["s1"], "dataset": "synthetic", "gt_mask": [[1, 0]]}).to_parquet(generated)
    known = known_causes(study["config"], [explain, rationale, generated])
    assert known == {"sst2": {"kind": PLANTED, "examples": {"sst2-test-0": [2], "sst2-test-2": [0]}},
                     "hatexplain": {"kind": RATIONALE, "examples": {"h1": [1, 2]}},
                     "synthetic": {"kind": MARKED, "examples": {"s1": [0]}}}  # not in this config
    config = {**study["config"], "datasets": {**study["config"]["datasets"], "synthetic": {}}}
    assert known_causes(config, [generated])["synthetic"]["kind"] == BY_CONSTRUCTION
    page = write_examples_page(study["config"], importance_paths=study["importance"], out_html=tmp_path / "e.html",
                               max_examples=3, order={"sst2": ids}, known=known).read_text()
    data = _json.loads(re.search(r"<script type=\"application/json\" id=\"data\">(.*?)</script>", page, re.S)[1])
    marks = {e["id"]: e.get("known") for r in data["runs"] for e in r["examples"]}
    assert marks == {"sst2-test-0": [2], "sst2-test-1": None, "sst2-test-2": [0]}
    assert data["known"]["sst2"] == PLANTED and f"sst2: {PLANTED}" in page and "span.known" in page


def test_methods_give_every_runs_sample_sizes_and_the_tests_that_fell_short_of_power():
    from analysis.report.methods import power_blocks, sample_sizes

    runs = [("sst2", "rnn", 0), ("sst2", "rnn", 1), ("sst2", "bert", 0)]
    evaluation = pd.DataFrame([{"dataset": d, "model": m, "seed": s, "n_eval": 1821} for d, m, s in runs])
    diagnostics = pd.DataFrame([{"dataset": d, "model": m, "seed": s, "example_id": f"e{i}", "method": "saliency"}
                                for d, m, s in runs for i in range(250 if m == "bert" else 1821 - s)])
    summary = pd.DataFrame([{"dataset": d, "model": m, "seed": s, "test": test, "measure": measure, "scope": scope,
                             "group": "all", "n": n}
                            for d, m, s in runs
                            for test, measure, scope, n in [("zeroing", "flip_rate_max", "attention", 500 if m == "rnn" else 100),
                                                           ("adversarial", "feasible", "adversarial", 500 if m == "rnn" else 50)]
                            + ([("adversarial", "feasible", "adversarial (full search check)", 10)] if m == "bert" else [])])
    tests = pd.DataFrame([{"claim": "c", "source": "Jain & Wallace 2019, Table 2", "dataset": "sst2", "model": "bert",
                           "seed": 0, "n": 50, "n_needed": 400.0,
                           "verdict": "inconclusive"},
                          {"claim": "c", "dataset": "sst2", "model": "rnn", "seed": 0, "n": 500, "n_needed": float("nan"),
                           "verdict": "agrees"}])
    tables = {"evaluation": evaluation, "diagnostics": diagnostics, "interventions_summary": summary,
              "claim_tests": tests}
    sizes = sample_sizes(tables).set_index("model")
    assert sizes.loc["rnn", "explained"] == "1,820-1,821" and sizes.loc["rnn", "seeds"] == 2
    assert sizes.loc["bert", "explained"] == "250" and sizes.loc["bert", "causal tests"] == "100"
    assert sizes.loc["bert", "adversarial"] == "50" and sizes.loc["bert", "full-search check"] == "10"
    text = power_blocks({}, tables)[0].text
    assert "Of 2 claim tests (one per claim, run and scope), 1 did not decide; 1 of those had fewer examples" in text
    assert "[Jain & Wallace 2019: c](#claim-c) on sst2 / bert (seed 0): 50 of 400" in text


def test_the_published_agreement_table_keeps_breakdowns_of_the_headline_metric_only(tmp_path):
    """Breakdowns by predicted class and length of every metric were 85% of the published tables (11 MB
    compressed for three seeds): the CSV keeps the overall rows of every metric, a second CSV the headline
    metric's breakdowns, and a table that is the summary under another name is not written again in full."""
    from report_fixtures import config, tables

    from analysis.report.summary import BY_GROUP_TABLE, write_summary

    frames = tables()
    overall = frames["agreement_summary"]
    other_metric = overall.assign(metric="jsd")
    groups = pd.concat([part.assign(group_by="length_bucket", group="0-10")
                        for part in (overall, other_metric)])
    summary = pd.concat([overall, other_metric, groups], ignore_index=True)
    settings = config()
    headline = settings["figures"]["headline_metric"]
    assert headline == "kendall_tau"
    write_summary(config=settings, evaluation=frames["evaluation"], summary=summary,
                  comparisons=frames["comparisons"], diagnostics=frames["diagnostics"],
                  data_report=frames["data_report"], figures={}, out_markdown=str(tmp_path / "s.md"),
                  out_html=str(tmp_path / "s.html"),
                  extra_tables={"agreement_summary": summary, "heads_agreement": summary.copy(),
                                "claim_tests": frames["claim_tests"]}, out_tables=str(tmp_path / "tables"))
    written = {p.stem for p in (tmp_path / "tables").glob("*.csv")}
    assert "heads_agreement" not in written and {"agreement_summary", BY_GROUP_TABLE} <= written
    published = pd.read_csv(tmp_path / "tables" / "agreement_summary.csv")
    assert set(published["group_by"]) == {"all"} and set(published["metric"]) == {"kendall_tau", "jsd"}
    assert len(published) == len(overall) + len(other_metric)
    by_group = pd.read_csv(tmp_path / "tables" / f"{BY_GROUP_TABLE}.csv")
    assert set(by_group["group_by"]) == {"length_bucket"} and set(by_group["metric"]) == {headline}
    assert len(by_group) == len(overall)
