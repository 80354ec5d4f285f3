"""Attention collection and the probe attention that interventions rely on."""

from __future__ import annotations

import torch
from conftest import make_batch

from analysis.attention import rollout
from analysis.importance import make_method
from analysis.models.attention_probe import AttentionControl, attention_control

SENTENCES = ["the film was great", "a dull plot , not great at all and long"]


def test_transformer_attention_rows_sum_to_one(tiny_bert):
    enc = tiny_bert.encode([s.split() for s in SENTENCES])
    with torch.no_grad():
        maps = tiny_bert.attention_maps(enc.input_ids, enc.attention_mask)
    assert maps.shape[:3] == (2, 2, 2)
    real = enc.attention_mask.bool()
    sums = maps.sum(-1)  # [B, L, H, T]
    assert torch.allclose(sums[:, :, :, :][real[:, None, None, :].expand_as(sums)], torch.tensor(1.0), atol=1e-5)
    # no attention flows to padding
    assert maps[0, ..., ~real[0]].abs().max() < 1e-6


def test_rnn_attention_is_a_distribution_over_real_tokens(tiny_rnn):
    batch = make_batch(tiny_rnn, SENTENCES)
    out = make_method("rnn_attention").explain(tiny_rnn, batch).token_scores
    real = batch.encoded.attention_mask.bool()
    assert torch.allclose(out.sum(-1), torch.ones(2), atol=1e-6)
    assert out[~real].abs().max() == 0


def test_probe_equals_eager_attention_on_padded_batches(tiny_bert):
    """The probe must see the padding mask (transformers 5 builds masks per implementation)."""
    words = [s.split() for s in SENTENCES]
    enc = tiny_bert.encode(words)
    single = tiny_bert.encode(words[:1])
    with torch.no_grad():
        batched = tiny_bert.logits(enc.input_ids, enc.attention_mask)[0]
        alone = tiny_bert.logits(single.input_ids, single.attention_mask)[0]
        tiny_bert.model.set_attn_implementation("eager")
        eager = tiny_bert.logits(enc.input_ids, enc.attention_mask)[0]
    assert torch.allclose(batched, alone, atol=1e-5)
    assert torch.allclose(batched, eager, atol=1e-6)


def test_rollout_of_identity_attention_is_identity():
    t = 5
    maps = torch.eye(t).expand(2, 3, 4, t, t).clone()  # [B, L, H, T, T]
    assert torch.allclose(rollout(maps), torch.eye(t).expand(2, t, t))


def test_rollout_single_layer_is_residual_adjusted_attention():
    torch.manual_seed(0)
    maps = torch.softmax(torch.randn(1, 1, 2, 4, 4), -1)
    expected = 0.5 * maps.mean(2)[:, 0] + 0.5 * torch.eye(4)
    assert torch.allclose(rollout(maps), expected / expected.sum(-1, keepdim=True), atol=1e-6)
    assert torch.allclose(rollout(maps).sum(-1), torch.ones(1, 4))


class _KeepOnlyToken(AttentionControl):
    def __init__(self, position: int) -> None:
        self.position = position
        self.calls = 0

    def probabilities(self, layer, probs, module):
        self.calls += 1
        out = torch.zeros_like(probs)
        out[..., self.position] = 1.0
        return out


def test_attention_intervention_really_changes_the_output(tiny_bert):
    """Guard against interventions that silently do nothing (e.g. under SDPA)."""
    enc = tiny_bert.encode([SENTENCES[1].split()])
    with torch.no_grad():
        before = tiny_bert.logits(enc.input_ids, enc.attention_mask)
        control = _KeepOnlyToken(position=3)
        with attention_control(control):
            after = tiny_bert.logits(enc.input_ids, enc.attention_mask)
            maps = tiny_bert.attention_maps(enc.input_ids, enc.attention_mask)
    assert control.calls >= tiny_bert.num_layers
    assert (after - before).abs().max() > 1e-4
    assert torch.all(maps[..., 3] == 1.0)


def test_attention_summaries(tiny_bert):
    batch = make_batch(tiny_bert, SENTENCES)
    enc = batch.encoded
    with torch.no_grad():
        maps = tiny_bert.attention_maps(enc.input_ids, enc.attention_mask)
    last = make_method("attention_last_mean").explain(tiny_bert, batch).token_scores
    every = make_method("attention_all_mean").explain(tiny_bert, batch).token_scores
    assert torch.allclose(last, maps[:, -1, :, 0, :].mean(1))
    assert torch.allclose(every, maps[:, :, :, 0, :].mean((1, 2)))
