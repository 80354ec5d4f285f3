"""The Python API (:mod:`analysis.api`), ``attention-study explain`` and the README's examples of both."""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from analysis.api import SCORE_COLUMNS, Explainer, UntrainedHeadError
from analysis.cli import main
from analysis.importance import MethodSettingsError
from analysis.registry import UnknownNameError

ROOT = Path(__file__).resolve().parent.parent
TEXTS = ["the film was great", "not a dull plot at all"]
README_RUN = Path("results/default/sst2/minilm/0/model")  # the run folder the README's examples name


@pytest.fixture
def rnn_run(tiny_rnn, tmp_path) -> Path:
    """A run folder as the train stage writes it, holding the tiny attention RNN."""
    folder = tmp_path / "rnn" / "model"
    tiny_rnn.save(str(folder))
    return folder


@pytest.fixture
def bert_checkpoint(tiny_bert, tmp_path) -> Path:
    """A Hugging Face checkpoint folder of the tiny BERT, classification head included."""
    folder = tmp_path / "bert-with-head"
    tiny_bert.model.save_pretrained(folder)
    tiny_bert.tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def headless_checkpoint(minilm_tokenizer, tmp_path) -> Path:
    """A checkpoint of the tiny BERT's encoder only: loading it for classification initialises a new head."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=minilm_tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    folder = tmp_path / "bert-encoder"
    BertModel(config).save_pretrained(folder)
    minilm_tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def rnn_explanation(rnn_run):
    return Explainer.from_run(rnn_run, device="cpu").explain(TEXTS)


def test_one_row_per_text_word_and_method(rnn_explanation):
    explanation = rnn_explanation
    assert explanation.methods == ("rnn_attention", "saliency", "integrated_gradients", "loo_delete")
    scores = explanation.scores
    assert list(scores.columns) == SCORE_COLUMNS
    n_words = [len(text.split()) for text in TEXTS]
    assert len(scores) == sum(n_words) * len(explanation.methods)
    assert not scores.duplicated(["text_id", "method", "word_index"]).any()
    for (text_id, _), rows in scores.groupby(["text_id", "method"]):
        assert rows["word"].tolist() == TEXTS[text_id].split()
        assert rows["text"].eq(TEXTS[text_id]).all()
    texts = explanation.texts.set_index("text_id")
    assert (scores["predicted"].to_numpy() == texts.loc[scores["text_id"], "predicted"].to_numpy()).all()
    assert np.allclose(scores["probability"], texts.loc[scores["text_id"], "probability"])
    assert texts["probability"].between(0.5, 1.0).all()  # the predicted class of two classes


def test_attention_scores_sum_to_one_per_text(rnn_explanation, tiny_bert, bert_checkpoint):
    attention = rnn_explanation.scores.query("method == 'rnn_attention'")
    assert np.allclose(attention.groupby("text_id")["score"].sum(), 1.0, atol=1e-5)

    explainer = Explainer.from_checkpoint(bert_checkpoint, device="cpu")
    explanation = explainer.explain(TEXTS, methods=["attention_last_mean"])
    word_sums = explanation.scores.groupby("text_id")["score"].sum()
    # [CLS] and [SEP] are no words: the words' attention is one minus what the special tokens get
    encoded = explainer.model.encode([text.split() for text in TEXTS])
    with torch.no_grad():
        cls = explainer.model.cls_attention(encoded.input_ids, encoded.attention_mask)[:, -1].mean(1)
    special = ((encoded.word_index == -1) & (encoded.attention_mask == 1)).double()
    assert np.allclose(word_sums.to_numpy() + (cls.double() * special).sum(1).numpy(), 1.0, atol=1e-5)


def test_integrated_gradients_completeness_is_in_the_diagnostics(rnn_explanation):
    diagnostics = rnn_explanation.diagnostics
    assert len(diagnostics) == len(TEXTS) * len(rnn_explanation.methods)
    ig = diagnostics.query("method == 'integrated_gradients'")
    assert sorted(ig["text_id"]) == [0, 1]
    assert ig["completeness_gap"].abs().lt(0.01).all() and ig["n_steps"].gt(0).all() and ig["converged"].all()
    assert diagnostics.query("method != 'integrated_gradients'")["completeness_gap"].isna().all()


def test_agreement_has_every_pair_of_methods_per_text(rnn_explanation):
    table = rnn_explanation.agreement("kendall_tau")
    expected = {frozenset(pair) for pair in itertools.combinations(rnn_explanation.methods, 2)}
    for text_id in (0, 1):
        rows = table[table["text_id"] == text_id]
        assert {frozenset(pair) for pair in zip(rows["method_a"], rows["method_b"])} == expected
        assert len(rows) == len(expected)
    assert table["metric"].eq("kendall_tau").all() and table["variant"].eq("abs").all()
    assert table["value"].between(-1, 1).all()
    # each value is Kendall's tau-b of the two methods' |scores|, word by word
    scores = rnn_explanation.scores.set_index(["text_id", "method", "word_index"])["score"].abs().sort_index()
    for row in table.itertuples():
        a, b = (scores.loc[(row.text_id, method)] for method in (row.method_a, row.method_b))
        assert list(a.index) == list(b.index) and len(a) == len(TEXTS[row.text_id].split())
        assert row.value == pytest.approx(stats.kendalltau(a, b).statistic, abs=1e-12), (row.method_a, row.method_b)
    assert table["value"].abs().max() > 0.1
    attention_vs_causal = table[table["method_a"] == "rnn_attention"]
    assert attention_vs_causal["pair_kind"].eq("attention_vs_causal").all()
    two = rnn_explanation.agreement(["kendall_tau", "spearman"], variant="signed")
    assert set(two["metric"]) == {"kendall_tau", "spearman"} and len(two) == 2 * len(table)


def test_html_shows_every_word_with_its_score_per_method(rnn_explanation):
    snippet = rnn_explanation.html(1)
    assert snippet.startswith("<div") and snippet.endswith("</div>") and "<script" not in snippet
    titles = re.findall(r'<span title="([a-z_]+): ([^"]+)"[^>]*>([^<]*)</span>', snippet)
    rows = rnn_explanation.scores.query("text_id == 1")
    assert len(titles) == len(rows)
    for (method, shown, word), row in zip(titles, rows.itertuples()):
        assert (method, word) == (row.method, row.word)
        assert float(shown) == pytest.approx(row.score, rel=1e-3, abs=1e-12)
    for word in TEXTS[1].split():
        assert f">{word}</span>" in snippet
    assert "Attention" in snippet and "Integrated gradients" in snippet  # readable method labels
    predicted = rnn_explanation.texts.loc[1, "predicted_label"]
    assert f"predicted <b>{predicted}</b>" in snippet
    with pytest.raises(IndexError, match="texts 0..1"):
        rnn_explanation.html(2)


def test_words_beyond_max_length_are_shown_but_not_scored(rnn_run):
    explainer = Explainer.from_run(rnn_run, device="cpu")
    explainer.model.max_length = 3
    explanation = explainer.explain(["the film was great and dull"], methods=["rnn_attention"])
    assert explanation.texts.loc[0, ["n_words", "n_words_kept"]].tolist() == [6, 3]
    assert explanation.scores["word"].tolist() == ["the", "film", "was"]
    snippet = explanation.html(0)
    assert "the first 3 of 6 words" in snippet and "not scored" in snippet and ">dull</span>" in snippet


def test_methods_and_settings_are_checked(rnn_run):
    explainer = Explainer.from_run(rnn_run, device="cpu")
    with pytest.raises(UnknownNameError, match="choose one of"):
        explainer.explain(TEXTS, methods=["no_such_method"])
    with pytest.raises(MethodSettingsError, match="supports: .*rnn_attention"):
        explainer.explain(TEXTS, methods=["attention_rollout"])
    with pytest.raises(MethodSettingsError, match="not among the methods"):
        explainer.explain(TEXTS, methods=["saliency"], settings={"loo_delete": {"batch_size": 8}})
    with pytest.raises(ValueError, match="no words"):
        explainer.explain(["  "])
    explanation = explainer.explain(TEXTS[0], methods=["integrated_gradients"],
                                    settings={"integrated_gradients": {"n_steps": 8, "max_steps": 8}})
    assert explanation.settings["integrated_gradients"]["n_steps"] == 8
    assert explanation.diagnostics["n_steps"].tolist() == [8]


def test_run_folder_or_its_parent_and_label_names_from_the_run_data(tiny_rnn, tmp_path):
    run = tmp_path / "results" / "study" / "sst2" / "bilstm" / "0"
    tiny_rnn.save(str(run / "model"))
    data = tmp_path / "results" / "study" / "data" / "sst2"
    data.mkdir(parents=True)
    pd.DataFrame({"label": [1, 0], "label_name": ["positive", "negative"]}).to_parquet(data / "eval.parquet")
    explainer = Explainer.from_run(run, device="cpu")
    assert explainer.label_names == ["negative", "positive"]
    assert Explainer.from_checkpoint(run / "model", device="cpu").label_names == ["negative", "positive"]
    predicted = explainer.explain(TEXTS, methods=["rnn_attention"]).scores["predicted_label"]
    assert set(predicted) <= {"negative", "positive"}
    with pytest.raises(Exception, match="not a model folder"):
        Explainer.from_run(tmp_path)


def test_untrained_head_is_refused_unless_allowed(headless_checkpoint, bert_checkpoint, capsys):
    with pytest.raises(UntrainedHeadError, match=r"no fine-tuned classification head \(classifier\.bias"):
        Explainer.from_checkpoint(headless_checkpoint, device="cpu")
    allowed = Explainer.from_checkpoint(headless_checkpoint, allow_untrained_head=True, device="cpu")
    assert allowed.untrained_head
    assert not Explainer.from_checkpoint(bert_checkpoint, device="cpu").untrained_head

    assert main(["explain", "--checkpoint", str(headless_checkpoint), "a film"]) == 2
    error = capsys.readouterr().err
    assert str(headless_checkpoint) in error and "--allow-untrained-head" in error
    assert main(["explain", "--checkpoint", str(headless_checkpoint), "--allow-untrained-head",
                 "--methods", "saliency", "a film"]) == 0
    out = capsys.readouterr().out
    assert "note:" in out and "randomly initialised head" in out and "saliency" in out


def test_command_prints_a_word_by_method_table_and_writes_the_tidy_table(bert_checkpoint, tmp_path, capsys):
    out = tmp_path / "scores.parquet"
    methods = ["attention_last_mean", "saliency", "loo_delete"]
    code = main(["explain", "--checkpoint", str(bert_checkpoint), "--methods", ",".join(methods), "--out", str(out),
                 *TEXTS])
    assert code == 0
    printed = capsys.readouterr().out
    blocks = printed.split("\ntext ")[1:]
    assert len(blocks) == len(TEXTS)
    for block, text in zip(blocks, TEXTS):
        lines = block.strip().splitlines()
        assert "predicted" in lines[0] and "probability" in lines[0]
        assert lines[1].split() == ["word", *methods]
        assert [line.split()[1] for line in lines[2:2 + len(text.split())]] == text.split()
    table = pd.read_parquet(out)
    assert len(table) == sum(len(t.split()) for t in TEXTS) * len(methods)
    assert {"text_id", "text", "word_index", "word", "method", "score", "predicted", "probability"} <= set(table)
    assert {"model", "seed", "settings", "versions"} <= set(table)  # provenance
    assert table["model"].eq(str(bert_checkpoint)).all()
    assert f"wrote {len(table)} rows" in printed

    assert main(["explain", "--checkpoint", str(bert_checkpoint), "--methods", "rnn_attention", "a"]) == 2
    assert "supports:" in capsys.readouterr().err


def _readme_section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Python API and command line")
    return readme[start:readme.index("\n## ", start + 1)]


def _readme_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", _readme_section(), flags=re.DOTALL)


@pytest.fixture
def readme_run(tiny_bert, tmp_path, monkeypatch) -> Path:
    """The README's run folder, relative to a fresh working directory, holding the tiny BERT."""
    monkeypatch.chdir(tmp_path)
    tiny_bert.save(str(README_RUN))
    return README_RUN


def test_readme_python_example_runs(readme_run, capsys):
    (code,) = _readme_blocks("python")
    assert str(readme_run) in code
    with pd.option_context("display.max_columns", None, "display.width", 400):
        exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "integrated_gradients" in printed and "completeness_gap" in printed and "kendall_tau" in printed
    assert "gripping" in Path("example.html").read_text()


def _readme_commands() -> list[list[str]]:
    (block,) = _readme_blocks("bash")
    return [shlex.split(line) for line in block.splitlines() if line.strip()]


def test_readme_command_with_a_run_folder_runs(readme_run, capsys):
    (command,) = [c for c in _readme_commands() if str(readme_run) in c]
    assert command[0] == "attention-study"
    assert main(command[1:]) == 0
    assert "gripping" in capsys.readouterr().out
    assert len(pd.read_parquet("scores.parquet")) > 0


def test_readme_command_with_the_packaged_minilm_runs_as_written(capsys):
    (command,) = [c for c in _readme_commands() if "minilm-package" in c]
    assert main(command[1:]) == 0
    out = capsys.readouterr().out
    assert "means nothing" in out and "gripping" in out
