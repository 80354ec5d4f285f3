"""Every declared encoder family, end to end, on tiny random checkpoints built offline.

For BERT, DistilBERT, ELECTRA, RoBERTa, XLM-RoBERTa, ALBERT, DeBERTa-v2/v3 and ModernBERT a
2-layer checkpoint (hidden size 32, a vocabulary of a few dozen to 300 tokens, the
family's own tokenizer class trained or written here) is saved with ``save_pretrained``
and loaded with the project's loader, as a real checkpoint would be. Every attention
method, integrated gradients and leave-one-out then run through ``compute_importance``,
and each test asserts a property the method is defined by. Checkpoints whose family
declares a condition that breaks a method's requirement (ModernBERT with mean pooling,
DeBERTa-v2 with a convolution) are refused at config validation and again at load time.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import ROOT, make_batch

from analysis.attention.encoder_support import encoder_method_problems, supported_encoders, supported_encoders_markdown
from analysis.attention.norms import alti_layer, attention_vectors, words_on_first_tokens
from analysis.attention.tracing import trace_layers
from analysis.attention.value_zeroing import ZeroValues, rerun_layer
from analysis.config import ConfigError, methods_for, validate_config
from analysis.importance import IMPORTANCE_METHODS, MethodSettingsError, compute_importance, make_method
from analysis.models import attention_probe
from analysis.models.attention_probe import AttentionControl, attention_control
from analysis.models.families import ENCODER_FAMILIES, family_for_model_type, unmet_requirements
from analysis.models.family_adapters import encoder_layers
from analysis.models.transformer import TransformerClassifier

SENTENCES = ["the film was great", "a dull plot , not great at all", "an awful film", "the acting was dull but fun"]
EXPLAINED = SENTENCES[:2]
FAMILIES = {  # model_type -> declared family name
    "bert": "BERT", "distilbert": "DistilBERT", "electra": "ELECTRA", "roberta": "RoBERTa",
    "xlm-roberta": "XLM-RoBERTa", "albert": "ALBERT", "deberta-v2": "DeBERTa-v2/v3", "modernbert": "ModernBERT",
}
ATTENTION_METHODS = sorted(n for n in IMPORTANCE_METHODS.names() if IMPORTANCE_METHODS.get(n).family == "attention"
                           and "transformer" in IMPORTANCE_METHODS.get(n).model_kinds)


# ---------------------------------------------------------------------------------- tiny checkpoints


def _words() -> list[str]:
    return sorted({w for s in SENTENCES for w in s.split()})


def _letters() -> list[str]:
    return sorted(set("".join(_words())))


def _wordpiece():
    from transformers import BertTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *_words(), *_letters(), *("##" + c for c in _letters())]
    return BertTokenizer(vocab={token: i for i, token in enumerate(vocab)})


def _unigram(specials: list[str]) -> list[tuple[str, float]]:
    """A SentencePiece-style vocabulary: whole words with their word-start marker, then letters."""
    return ([(s, 0.0) for s in specials] + [("▁" + w, -2.0) for w in _words()] + [("▁", -3.0)]
            + [(c, -5.0) for c in _letters()] + [("▁" + c, -5.0) for c in _letters()])


def _byte_level_bpe(specials: list[str]):
    """A byte-level BPE trained on the sentences, without a prefix space (as GPT-2, RoBERTa and ModernBERT ship)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(SENTENCES * 5, trainer)
    return tokenizer


def build_tokenizer(model_type: str):
    from tokenizers import processors
    from transformers import (
        AlbertTokenizer,
        DebertaV2Tokenizer,
        PreTrainedTokenizerFast,
        RobertaTokenizer,
        XLMRobertaTokenizer,
    )

    if model_type in ("bert", "distilbert", "electra"):
        return _wordpiece()
    if model_type == "roberta":
        model = json.loads(_byte_level_bpe(["<s>", "<pad>", "</s>", "<unk>", "<mask>"]).to_str())["model"]
        return RobertaTokenizer(vocab=model["vocab"], merges=[tuple(m) for m in model["merges"]])
    if model_type == "xlm-roberta":
        return XLMRobertaTokenizer(vocab=_unigram(["<s>", "<pad>", "</s>", "<unk>", "<mask>"]))
    if model_type == "albert":
        return AlbertTokenizer(vocab=_unigram(["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]))
    if model_type == "deberta-v2":
        return DebertaV2Tokenizer(vocab=_unigram(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    bpe = _byte_level_bpe(["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"])  # ModernBERT: a generic tokenizer.json
    bpe.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", bpe.token_to_id("[CLS]")), ("[SEP]", bpe.token_to_id("[SEP]"))])
    return PreTrainedTokenizerFast(tokenizer_object=bpe, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
                                   pad_token="[PAD]", mask_token="[MASK]")


def build_checkpoint(folder: Path, model_type: str, **overrides) -> Path:
    """A random-weight 2-layer classifier of ``model_type`` with its tokenizer, saved like a hub checkpoint."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    tokenizer = build_tokenizer(model_type)
    settings = dict(vocab_size=len(tokenizer), num_hidden_layers=2, num_attention_heads=2, hidden_size=32,
                    intermediate_size=64, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
                    num_labels=2, initializer_range=0.3)  # large weights: outputs that depend on the input
    settings.update({
        "distilbert": dict(dim=32, n_layers=2, n_heads=2, hidden_dim=64),
        "electra": dict(embedding_size=16),
        "albert": dict(embedding_size=16),  # one layer's weights shared by both layers
        "roberta": dict(max_position_embeddings=66),  # position ids start at pad_token_id + 1
        "xlm-roberta": dict(max_position_embeddings=66),
        "deberta-v2": dict(num_attention_heads=4, relative_attention=True, pos_att_type=["p2c", "c2p"],
                           position_biased_input=False, position_buckets=8, max_relative_positions=64,
                           norm_rel_ebd="layer_norm", share_att_key=True),  # as DeBERTa-v3
        "modernbert": dict(num_attention_heads=4, local_attention=4, global_attn_every_n_layers=2,
                           cls_token_id=tokenizer.cls_token_id, sep_token_id=tokenizer.sep_token_id,
                           bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
                           classifier_pooling="cls"),
    }.get(model_type, {}))
    settings.update(overrides)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(AutoConfig.for_model(model_type, **settings))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("families")
    built = {t: build_checkpoint(root / t, t) for t in FAMILIES}
    built["modernbert-mean"] = build_checkpoint(root / "modernbert-mean", "modernbert", classifier_pooling="mean")
    built["deberta-v2-conv"] = build_checkpoint(root / "deberta-v2-conv", "deberta-v2", conv_kernel_size=3)
    return built


@pytest.fixture(scope="session")
def models(checkpoints) -> dict[str, TransformerClassifier]:
    return {t: TransformerClassifier.load(str(checkpoints[t]), num_labels=2, max_length=64) for t in checkpoints}


@pytest.fixture(params=list(FAMILIES))
def family(request) -> str:
    return request.param


def _examples(sentences: list[str] = EXPLAINED) -> pd.DataFrame:
    return pd.DataFrame({"example_id": [f"ex{i}" for i in range(len(sentences))],
                         "words": [s.split() for s in sentences], "label": [0] * len(sentences)})


class IgnoreToken(AttentionControl):
    """Attention that never looks at token ``position`` (its column zeroed, rows renormalised); records layers."""

    def __init__(self, position: int | None) -> None:
        self.position = position
        self.layers: list[int] = []

    def probabilities(self, layer: int, probs: torch.Tensor, module: torch.nn.Module) -> torch.Tensor:
        self.layers.append(layer)
        if self.position is None:
            return probs
        probs = probs.clone()
        probs[..., self.position] = 0.0
        return probs / probs.sum(-1, keepdim=True)


# ------------------------------------------------------------------------------------------ loading


def test_each_family_loads_with_its_declaration(models, family):
    model = models[family]
    assert model.family is family_for_model_type(family)
    assert model.family.name == FAMILIES[family]
    assert model.num_layers == 2 and model.max_length == 64
    parts = encoder_layers(model.model)
    assert [p.index for p in parts] == [0, 1]
    assert all(p.layer_norm == model.family.layer_norm for p in parts)
    assert (parts[0].layer is parts[1].layer) == model.family.layout.shared_layers  # ALBERT shares its layer
    assert model.provenance["encoder_family"] == FAMILIES[family]
    assert model.provenance["resolved_revision"].startswith("local ")


def test_pre_split_words_are_tokenized_as_in_running_text(models, family):
    """A word after the first gets the same tokens as in a sentence (byte-level BPE needs a prefix space)."""
    tokenizer = models[family].tokenizer
    split = tokenizer(["the", "film"], is_split_into_words=True, add_special_tokens=False)
    running = tokenizer("the film", add_special_tokens=False)
    film = [t for t, w in zip(split["input_ids"], split.word_ids()) if w == 1]
    assert film == [t for t, w in zip(running["input_ids"], running.word_ids()) if w == 1]


def test_probe_attention_is_the_models_own(models, checkpoints, family):
    """Rows sum to one and equal the family's own eager attention; logits are unchanged by the probe."""
    from transformers import AutoModelForSequenceClassification

    model = models[family]
    own = AutoModelForSequenceClassification.from_pretrained(str(checkpoints[family]), attn_implementation="eager")
    enc = model.encode([s.split() for s in EXPLAINED])
    with torch.no_grad():
        maps = model.attention_maps(enc.input_ids, enc.attention_mask)  # [B, L, H, T, T]
        reference = own.eval()(input_ids=enc.input_ids, attention_mask=enc.attention_mask, output_attentions=True)
        logits = model.logits(enc.input_ids, enc.attention_mask)
    expected = torch.stack(reference.attentions, dim=1)
    for row, real in enumerate(enc.attention_mask.bool()):
        rows = maps[row][:, :, real]  # real query positions
        assert torch.allclose(rows.sum(-1), torch.tensor(1.0), atol=1e-5)
        assert torch.allclose(rows, expected[row][:, :, real], atol=1e-6)
    assert torch.allclose(logits, reference.logits, atol=1e-6)


def test_interventions_change_the_output_only_when_they_change_attention(models, family):
    model = models[family]
    enc = model.encode([s.split() for s in EXPLAINED])
    with torch.no_grad():
        plain = model.logits(enc.input_ids, enc.attention_mask)
        with attention_control(keep := IgnoreToken(None)):
            kept = model.logits(enc.input_ids, enc.attention_mask)
        with attention_control(IgnoreToken(2)):
            ignored = model.logits(enc.input_ids, enc.attention_mask)
    assert keep.layers == [0, 1]  # one call per layer, numbered in forward order (ALBERT: the shared layer twice)
    assert torch.allclose(kept, plain, atol=1e-6)  # plain runs the fused kernel, kept the eager path
    assert (ignored - plain).abs().max() > 1e-4


def test_unread_attention_runs_the_fused_kernel_to_the_same_output(models, family, monkeypatch):
    """Where nothing reads the probabilities, the probe runs PyTorch's fused attention (families on the
    attention interface), to the eager path's output; a control, attention maps, gradients or training keep it
    eager."""
    model = models[family]
    fused = torch.nn.functional.scaled_dot_product_attention
    calls = []
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention",
                        lambda *a, **k: calls.append(1) or fused(*a, **k))
    enc = model.encode([s.split() for s in EXPLAINED])
    with torch.no_grad():
        short = model.logits(enc.input_ids, enc.attention_mask)
    assert not calls  # these texts are shorter than FUSED_MIN_TOKENS: eager
    monkeypatch.setattr(attention_probe, "FUSED_MIN_TOKENS", 1)
    expected = model.num_layers if model.family.layout.probe == "interface" else 0
    with torch.no_grad():
        plain = model.logits(enc.input_ids, enc.attention_mask)
        assert len(calls) == expected
        with attention_control(AttentionControl()):
            eager = model.logits(enc.input_ids, enc.attention_mask)
        maps = model.attention_maps(enc.input_ids, enc.attention_mask)
    assert len(calls) == expected
    assert torch.allclose(plain, eager, atol=1e-6) and torch.allclose(short, eager, atol=1e-6)
    assert torch.allclose(maps.sum(-1)[enc.attention_mask.bool()[:, None, None, :].expand_as(maps[..., 0])],
                          torch.tensor(1.0), atol=1e-5)
    model.logits(enc.input_ids, enc.attention_mask)  # autograd on: gradients stay the eager path's
    model.model.train()
    try:
        with torch.no_grad():
            model.logits(enc.input_ids, enc.attention_mask)
    finally:
        model.model.eval()
    assert len(calls) == expected  # training: dropout on the probabilities stays the eager path's


# ------------------------------------------------------------------------------------------ methods


@pytest.fixture(scope="session")
def importance_tables(models) -> dict[tuple[str, str], tuple[pd.DataFrame, pd.DataFrame]]:
    """Every attention method, integrated gradients and leave-one-out through the engine, on every family."""
    methods = {name: {} for name in ATTENTION_METHODS}
    methods.update(integrated_gradients={"n_steps": 16, "max_steps": 128, "tolerance": 0.01}, loo_delete={})
    return {(family, name): compute_importance(models[family], _examples(), make_method(name, settings),
                                               progress=False)
            for family in FAMILIES for name, settings in methods.items()}


def test_every_method_runs_through_the_engine(importance_tables, family):
    for name in [*ATTENTION_METHODS, "integrated_gradients", "loo_delete"]:
        table, diagnostics = importance_tables[(family, name)]
        assert table.groupby("example_id").size().to_dict() == {"ex0": 4, "ex1": 8}, name
        assert np.isfinite(table["score"]).all(), name
        if not IMPORTANCE_METHODS.get(name).signed:
            assert (table["score"] >= 0).all(), name


def test_every_method_scores_the_same_with_the_fused_attention_kernel(models, importance_tables, family,
                                                                     monkeypatch):
    """With the fused kernel allowed on every text (these are shorter than FUSED_MIN_TOKENS), the engine's scores
    equal the eager path's: methods that read or change attention or take gradients keep it eager, the others only
    run faster."""
    monkeypatch.setattr(attention_probe, "FUSED_MIN_TOKENS", 1)
    kernel = torch.nn.functional.scaled_dot_product_attention
    calls: dict[str, int] = {}
    for name in [*ATTENTION_METHODS, "integrated_gradients", "loo_delete"]:
        monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention",
                            lambda *a, _name=name, **k: calls.update({_name: calls.get(_name, 0) + 1}) or kernel(*a, **k))
        settings = {"n_steps": 16, "max_steps": 128, "tolerance": 0.01} if name == "integrated_gradients" else {}
        fused, _ = compute_importance(models[family], _examples(), make_method(name, settings), progress=False)
        eager, _ = importance_tables[(family, name)]
        assert list(fused["word_index"]) == list(eager["word_index"]), name
        np.testing.assert_allclose(fused["score"], eager["score"], atol=1e-5, rtol=1e-4, err_msg=name)
    if models[family].family.layout.probe == "interface":  # the ablation passes did run it
        assert calls.get("loo_delete")


def test_integrated_gradients_is_complete(models, importance_tables, family):
    """sum(attributions) = f(x) - f(baseline) within the tolerance (Sundararajan et al.'s completeness), and the
    word table the study uses keeps it: its words sum to f(x) - f(baseline) plus exactly the recorded gap, so
    special tokens get nothing and pooling loses nothing."""
    model = models[family]
    table, diagnostics = importance_tables[(family, "integrated_gradients")]
    assert diagnostics["converged"].all()
    assert (diagnostics["completeness_gap"].abs() <= 0.01).all()
    enc = model.encode([s.split() for s in EXPLAINED])
    baseline = torch.where(enc.word_index >= 0, torch.full_like(enc.input_ids, model.pad_token_id), enc.input_ids)
    with torch.no_grad():
        probs = model.probabilities(enc.input_ids, enc.attention_mask).double()
        # through the embeddings, as IG's path runs: from input ids, RoBERTa and XLM-R would give every
        # [PAD] of the baseline the padding position
        at_baseline = torch.softmax(model.logits_from_embeddings(model.embed(baseline), enc.attention_mask).double(),
                                    dim=-1)
    target = probs.argmax(-1, keepdim=True)
    expected = (probs.gather(1, target) - at_baseline.gather(1, target))[:, 0].numpy()
    gaps = diagnostics.set_index("example_id").loc[["ex0", "ex1"], "completeness_gap"].to_numpy()
    sums = table.groupby("example_id")["score"].sum().loc[["ex0", "ex1"]].to_numpy()
    assert np.allclose(sums, expected + gaps, atol=1e-5)
    assert np.abs(expected).max() > 1e-3  # the comparison is not between zeros


def test_leave_one_out_is_the_probability_drop(models, importance_tables, family):
    model = models[family]
    table, _ = importance_tables[(family, "loo_delete")]
    words = EXPLAINED[1].split()
    enc = model.encode([words, words[:2] + words[3:]])  # the sentence, and without its third word
    with torch.no_grad():
        probs = model.probabilities(enc.input_ids[:1], enc.attention_mask[:1])[0]
        target = int(probs.argmax())
        without = model.probabilities(enc.input_ids[1:], enc.attention_mask[1:])[0, target]
    score = table.set_index(["example_id", "word_index"]).loc[("ex1", 2), "score"]
    assert score == pytest.approx(float(probs[target] - without), abs=1e-6)


def test_attention_summaries_are_distributions(models, family):
    """The [CLS] rows of raw attention, rollout, value zeroing and ALTI each sum to one; flow is within [0, 1]."""
    model = models[family]
    batch = make_batch(model, EXPLAINED)
    real = batch.encoded.attention_mask.bool()
    for name in ("attention_last_mean", "attention_all_mean", "attention_rollout", "value_zeroing", "alti"):
        scores = make_method(name).explain(model, batch).token_scores.double()
        assert torch.allclose(scores.sum(-1), torch.tensor(1.0, dtype=torch.float64), atol=1e-5), name
        assert scores[~real].abs().max() == 0, name
    flow = make_method("attention_flow", {"cache": False}).explain(model, batch).token_scores
    assert ((flow[real] >= 0) & (flow[real] <= 1 + 1e-9)).all()


def test_attention_norm_is_the_norm_of_the_decomposition(models, family):
    """The per-token vectors plus b_O sum to the output projection's output at [CLS]; the scores are their norms, a
    word's vectors summed first (on its first token)."""
    model = models[family]
    batch = make_batch(model, EXPLAINED)
    enc = batch.encoded
    scores = make_method("attention_norm_last").explain(model, batch).token_scores
    with torch.no_grad():
        trace = trace_layers(model.model, enc.input_ids, enc.attention_mask)
        for layer, parts in enumerate(trace.parts):
            vectors = attention_vectors(trace.probabilities[layer], trace.values[layer], parts.output_projection)
            bias = parts.output_projection.bias
            total = vectors.sum(1) + (bias if bias is not None else 0.0)
            assert torch.allclose(total, trace.updates[layer][:, 0], atol=1e-5)
    assert torch.allclose(scores, words_on_first_tokens(vectors, enc.word_index).norm(dim=-1), atol=1e-6)


def test_alti_reconstructs_the_attention_block_output(models, family):
    """Post-LN: the vectors reassemble LN(x + attention); pre-LN: the residual stream x + attention."""
    model = models[family]
    enc = model.encode([s.split() for s in EXPLAINED])
    with torch.no_grad():
        trace = trace_layers(model.model, enc.input_ids, enc.attention_mask)
        for layer in range(trace.num_layers):
            contributions, reconstruction = alti_layer(trace, layer, enc.attention_mask)
            assert torch.allclose(reconstruction, trace.attention_outputs[layer], atol=1e-4)
            real = enc.attention_mask.bool()
            assert torch.allclose(contributions.sum(-1)[real], torch.tensor(1.0), atol=1e-5)
        if model.family.layer_norm == "pre":  # the block output is the residual stream after attention
            assert torch.allclose(trace.attention_outputs[0], trace.inputs[0] + trace.updates[0])


def test_value_zeroing_reruns_the_layer(models, family):
    """Zeroing nothing reproduces each layer's output; zeroing one token's values changes it; a row rerun alone
    equals the same row rerun in the batch (its masks, rotary tables or relative positions sliced with it)."""
    model = models[family]
    enc = model.encode([s.split() for s in EXPLAINED])
    rows = torch.arange(2)
    with torch.no_grad():
        trace = trace_layers(model.model, enc.input_ids, enc.attention_mask, keep_calls=True)
        for layer in range(trace.num_layers):
            same = rerun_layer(trace, layer, rows, AttentionControl())
            assert torch.allclose(same, trace.outputs[layer], atol=1e-5)
            zeroed = rerun_layer(trace, layer, rows, ZeroValues(layer, torch.tensor([2, 2])))
            assert (zeroed - trace.outputs[layer]).abs().max() > 1e-4
            single = rerun_layer(trace, layer, rows[1:], ZeroValues(layer, torch.tensor([2])))  # one row of two
            # float32 hidden states of a one-row and a two-row pass: the BLAS may sum in another order by shape
            # (on some CPUs it does), as the rerun of the whole batch above
            assert single.shape[0] == 1 and torch.allclose(single[0], zeroed[1], atol=1e-5)
            assert (single[0] - trace.outputs[layer][1]).abs().max() > 1e-4


def test_attention_x_gradient_is_a_directional_derivative(checkpoints, family):
    """sum_j alpha_ij dp/dalpha_ij over one row = d/dt p when that row of one head is scaled by t, at t = 1."""
    model = TransformerClassifier.load(str(checkpoints[family]), num_labels=2, max_length=64)
    model.model.double()
    batch = make_batch(model, EXPLAINED[:1])
    layer, head, position = 0, 1, model.classification_position
    from analysis.attention.attention_gradient import attention_times_gradient

    enc = batch.encoded
    products, _ = attention_times_gradient(model.model, model.embed(enc.input_ids), enc.attention_mask, batch.target)

    class ScaleRow(AttentionControl):
        def __init__(self, t: float) -> None:
            self.t = t

        def probabilities(self, at: int, probs: torch.Tensor, module: torch.nn.Module) -> torch.Tensor:
            if at != layer:
                return probs
            probs = probs.clone()
            probs[:, head, position] *= self.t
            return probs

    eps = 1e-3  # ModernBERT's rotary embedding rounds to float32 even in a float64 model
    with torch.no_grad():
        ends = []
        for t in (1 + eps, 1 - eps):
            with attention_control(ScaleRow(t)):
                ends.append(model.probabilities(enc.input_ids, enc.attention_mask)[0, int(batch.target[0])])
    derivative = float((ends[0] - ends[1]) / (2 * eps))
    assert float(products[0, layer, head, position].sum()) == pytest.approx(derivative, rel=1e-3, abs=1e-9)


# ------------------------------------------------------------------------------------------ refusals


@pytest.fixture
def tiny_config():
    return yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())


def test_validate_refuses_what_a_family_condition_breaks(tiny_config, checkpoints):
    config = copy.deepcopy(tiny_config)
    config["models"]["modern_mean"] = {"family": "transformer", "checkpoint": str(checkpoints["modernbert-mean"])}
    config["models"]["deberta_conv"] = {"family": "transformer", "checkpoint": str(checkpoints["deberta-v2-conv"])}
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    message = str(error.value)
    for method in ("attention_last_mean", "attention_rollout", "attention_flow", "attention_norm_last",
                   "attention_norm_all", "value_zeroing", "attention_x_gradient", "alti"):
        assert f"models.modern_mean with importance.methods.{method}: method '{method}' is refused" in message
    assert "ModernBERT (model_type 'modernbert'): the checkpoint has classifier_pooling: mean" in message
    # the causal tests and the per-head analysis read the [CLS] row too: refused with the same reason
    for block in ("interventions", "heads"):
        assert (f"models.modern_mean with {block}.enabled" in message) == bool(config.get(block, {}).get("enabled"))
    assert "models.deberta_conv with interventions.enabled" not in message  # raw attention is fine there
    refused = {"attention_rollout", "attention_flow", "value_zeroing", "alti"}  # they propagate through layers
    for method in ("attention_last_mean", "attention_norm_last", "attention_x_gradient", *refused):
        assert (f"models.deberta_conv with importance.methods.{method}:" in message) == (method in refused), method
    assert "DeBERTa-v2/v3 (model_type 'deberta-v2')" in message and "conv_kernel_size > 0" in message
    assert "integrated_gradients" not in message and "models.minilm" not in message


def test_every_declared_family_validates_with_every_method(tiny_config, checkpoints):
    config = copy.deepcopy(tiny_config)
    config["models"].update({t.replace("-", "_"): {"family": "transformer", "checkpoint": str(checkpoints[t])}
                             for t in FAMILIES})
    validated = validate_config(config)  # raises ConfigError on any refusal
    assert encoder_method_problems(validated) == []
    for family in FAMILIES:  # every attention method of the config applies to every declared family
        assert set(methods_for(validated, family.replace("-", "_"))) >= {"attention_last_mean", "alti", "value_zeroing"}


def test_load_time_refusal_repeats_the_validate_message(models, tiny_config, checkpoints):
    config = copy.deepcopy(tiny_config)
    config["models"] = {"modern_mean": {"family": "transformer", "checkpoint": str(checkpoints["modernbert-mean"])}}
    config["importance"]["methods"] = {"attention_rollout": {}}
    config["interventions"]["enabled"] = config["heads"]["enabled"] = False
    (validate_message,) = encoder_method_problems(config)
    with pytest.raises(MethodSettingsError) as error:
        compute_importance(models["modernbert-mean"], _examples(), make_method("attention_rollout"), progress=False)
    assert str(error.value) in validate_message
    assert not make_method("attention_rollout").supports(models["modernbert-mean"])
    assert make_method("attention_last_mean").supports(models["deberta-v2-conv"])
    assert not make_method("value_zeroing").supports(models["deberta-v2-conv"])
    assert make_method("value_zeroing", {"aggregate": "last"}).supports(models["deberta-v2-conv"])
    table, _ = compute_importance(models["modernbert-mean"], _examples(), make_method("loo_delete"), progress=False)
    assert len(table) == 12  # gradient and ablation methods run on every checkpoint


def test_an_uncached_hub_checkpoint_defers_the_check_and_revisions_pin_hub_ids_only(tiny_config, checkpoints, caplog):
    config = copy.deepcopy(tiny_config)
    config["models"] = {"hub": {"family": "transformer", "checkpoint": "no-such-org/no-such-model", "revision": "v1"},
                        "local": {"family": "transformer", "checkpoint": str(checkpoints["bert"]), "revision": "v1"}}
    with caplog.at_level(logging.WARNING, logger="analysis.attention.encoder_support"):
        problems = encoder_method_problems(config)
    assert problems == [f"models.local.revision: {str(checkpoints['bert'])!r} is not a hub id (a local folder or "
                        "packaged checkpoint has no revisions); remove `revision` or give a hub id"]
    assert "models.hub: the config of checkpoint 'no-such-org/no-such-model' at revision 'v1' cannot be read " \
           "offline" in caplog.text
    assert "checked when it loads" in caplog.text


def test_undeclared_families_get_no_attention_method():
    class Config:
        model_type = "gpt2"

    unmet = unmet_requirements(Config())
    assert list(unmet) == ["declared_family"] and "declare one in analysis/models/families.py" in unmet["declared_family"]


# ------------------------------------------------------------------------------------- table, provenance


def test_supported_encoders_table_comes_from_the_declarations():
    rows = {row["family"]: row for row in supported_encoders()}
    assert set(rows) == {f.name for f in ENCODER_FAMILIES} | {"any other model_type"}
    for name in ("BERT", "RoBERTa", "XLM-RoBERTa", "ELECTRA", "DistilBERT", "ALBERT", "DeBERTa-v2/v3", "ModernBERT"):
        assert rows[name]["attention_methods"] == ATTENTION_METHODS
    for name in ("BERT", "RoBERTa", "XLM-RoBERTa", "ELECTRA", "DistilBERT", "ALBERT"):
        assert not rows[name]["refused"]
    (pooling,) = rows["ModernBERT"]["refused"]
    assert pooling["when"] == "classifier_pooling: mean" and pooling["methods"] == ATTENTION_METHODS
    (conv,) = rows["DeBERTa-v2/v3"]["refused"]
    assert conv["when"] == "conv_kernel_size > 0"
    assert set(conv["methods"]) == {"attention_rollout", "attention_flow", "value_zeroing", "alti"}
    assert rows["any other model_type"]["refused"][0]["methods"] == ATTENTION_METHODS
    assert "integrated_gradients" in rows["BERT"]["other_methods"]
    markdown = supported_encoders_markdown()
    assert sum(line.startswith("| ") for line in markdown.splitlines()) == len(rows) + 1  # and the header
    assert "| ModernBERT | `modernbert` | pre |" in markdown


def test_saved_models_keep_the_checkpoint_record(models, tmp_path):
    model = models["albert"]
    model.save(str(tmp_path / "trained"))
    saved = json.loads((tmp_path / "trained" / "adapter.json").read_text())
    assert saved["provenance"] == model.provenance
    reloaded = TransformerClassifier.load_trained(str(tmp_path / "trained"))
    assert reloaded.provenance == model.provenance
    assert reloaded.num_layers == 2


def test_readme_lists_the_supported_encoders_the_code_declares(capsys):
    """The README's table is the code's: regenerate it with `attention-study encoders` when a family changes."""
    from pathlib import Path

    from analysis.attention.encoder_support import supported_encoders_markdown
    from analysis.cli import main

    table = supported_encoders_markdown().split("\n\n")[0]
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert table in readme
    assert main(["encoders"]) == 0
    assert table in capsys.readouterr().out


def test_layers_below_replay_runs_only_the_layers_above_and_gives_the_same_logits(models, family):
    """The adversarial search's shortcut: the layers below its layer answer from one recorded pass."""
    from analysis.attention.tracing import LayersBelow
    from analysis.interventions.attention import make_adapter

    model = models[family]
    enc = model.encode([s.split() for s in EXPLAINED])
    with torch.no_grad():
        plain = model.logits(enc.input_ids, enc.attention_mask)
        below = LayersBelow(model.module, enc.input_ids, enc.attention_mask, 1)
        with below.replay(), attention_control(ran := IgnoreToken(None)):
            replayed = model.logits(enc.input_ids, enc.attention_mask)
        with attention_control(IgnoreToken(None)):  # the patch is gone: every layer runs again
            again = model.logits(enc.input_ids, enc.attention_mask)
    assert ran.layers == [1]  # layer 0 answered from the recording (ALBERT: the shared layer's first call only)
    assert torch.allclose(replayed, plain, atol=1e-6) and torch.allclose(again, plain, atol=1e-6)

    adapter = make_adapter(model)  # adversarial layer: the last
    distribution = adapter.distribution(enc).float()
    distribution = (distribution + 0.3 * torch.rand_like(distribution) * enc.attention_mask[:, None, :])
    distribution = (distribution / distribution.sum(-1, keepdim=True)).requires_grad_()
    full = adapter.logits_with_distribution(enc.input_ids, enc.attention_mask, distribution)
    fast = adapter.distribution_forward(enc.input_ids, enc.attention_mask)(distribution)
    assert torch.allclose(fast, full, atol=1e-6) and (full - plain).abs().max() > 1e-5
    (grad_full,) = torch.autograd.grad(full[:, 1].sum(), distribution)
    (grad_fast,) = torch.autograd.grad(fast[:, 1].sum(), distribution)
    assert torch.allclose(grad_fast, grad_full, atol=1e-6) and grad_full.abs().max() > 0
