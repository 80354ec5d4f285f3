"""Norm-based decompositions of the attention block: attention norms and ALTI.

Attention norm (Kobayashi et al. 2020, *Attention is Not Only a Weight: Analyzing
Transformers with Vector Norms*): the output of multi-head attention at position ``i`` is
``sum_j sum_h alpha^h_ij f_h(x_j)`` with ``f_h(x) = W_O^h (W_V^h x + b_V^h)``; the
contribution of token ``j`` is the norm ``|| sum_h alpha^h_ij f_h(x_j) ||``, which is large
only when ``j`` gets attention *and* its transformed vector is long. Raw attention
ignores the second factor.

ALTI (Ferrando, Gállego & Costa-jussà 2022, *Measuring the Mixing of Contextual
Information in the Transformer*): the attention block's output after the residual and
the layer norm is decomposed into one vector per input token,
``y_i = sum_j T_i(x_j) + bias`` with ``T_i(x_j) = L_i(sum_h alpha^h_ij f_h(x_j) + [i=j] x_i)``
and ``L_i`` the layer norm's linear part at ``i`` (centring, division by the standard
deviation of the whole pre-norm sum, scaling by gamma). Token ``j``'s contribution is
``max(0, ||y_i||_1 - ||y_i - T_i(x_j)||_1)``, normalised over ``j``; the layer matrices are
multiplied through the layers as in rollout (no identity added: the residual is already
inside the decomposition), and the [CLS] row is read off.

Pre-layer-norm encoders (ModernBERT: ``x + W_O attention(LN(x))``). The layer norm sits
before attention and normalises each token on its own, so it belongs to the value
transform, ``f_h(x_j) = W_O^h (W_V^h LN(x_j) + b_V^h)``, and mixes no tokens; the values
the probe records are already computed from ``LN(x_j)``. Hence:

- attention norm: ``|| sum_h alpha^h_ij f_h(x_j) ||`` with that ``f_h`` is an exact
  decomposition of the attention sublayer's output ``W_O attention(LN(x))_i`` (minus
  ``b_O``), with nothing folded or approximated. This is the pre-LN reading of
  Kobayashi et al. (2021, *Incorporating Residual and Normalization Layers into Analysis
  of Masked Language Models*), whose point is that the norm placed *after* attention in a
  post-LN block must be folded in; before attention there is nothing to fold. Included:
  attention weights, the value transform with the token's own pre-attention norm, ``W_O``.
  Not included, as in the 2020 definition for post-LN families: the residual stream
  ``x_i``, ``b_O``, the feed-forward block and its norm, and the final norm after the last
  layer; scores of different layers are not rescaled to a common residual norm.
- ALTI: the decomposed vector is the residual stream after the attention sublayer,
  ``y_i = x_i + sum_j sum_h alpha^h_ij f_h(x_j) + b_O`` (no norm after it), with
  ``T_i(x_j) = sum_h alpha^h_ij f_h(x_j) + [i=j] x_i``; the contribution measure
  ``max(0, ||y_i||_1 - ||y_i - T_i(x_j)||_1)``, its normalisation and the rollout over
  layers are Ferrando et al.'s, as applied to pre-LN transformers by Ferrando & Voita
  (2024, *Information Flow Routes*). The feed-forward block is left out in both variants
  (it mixes no tokens).
"""

from __future__ import annotations

import torch

from analysis.attention.tracing import LayerTrace, head_output_vectors


def attention_vectors(probs: torch.Tensor, value: torch.Tensor, projection: torch.nn.Linear, *,
                      position: int = 0) -> torch.Tensor:
    """``sum_h alpha^h_{position, j} f_h(x_j)`` for every token ``j``: [B, T, D].

    ``probs`` [B, H, T, T]; ``value`` = ``W_V x_j + b_V`` per head [B, H, T, Dh] (``LN(x_j)``
    in place of ``x_j`` in a pre-LN family); ``projection`` = ``W_O``. Since
    ``sum_h alpha^h W_O^h v^h = W_O [alpha^1 v^1; ...; alpha^H v^H]``, the weighted values
    of all heads go through ``W_O`` in one matrix product. The vectors plus ``b_O`` (which
    belongs to no token and is left out) sum to the output projection's output at ``position``.
    """
    batch, heads, length, head_dim = value.shape
    weighted = probs[:, :, position, :, None] * value  # [B, H, T, Dh]
    joined = weighted.transpose(1, 2).reshape(batch, length, heads * head_dim)  # heads side by side
    return joined @ projection.weight.T


def attention_norm_rows(probs: torch.Tensor, value: torch.Tensor, projection: torch.nn.Linear, *,
                        position: int = 0, word_index: torch.Tensor | None = None) -> torch.Tensor:
    """``|| sum_h alpha^h_{position, j} f_h(x_j) ||`` for every token ``j``: [B, T] (:func:`attention_vectors`).

    With ``word_index`` a word of several subword tokens is scored as one: the norm of the sum
    of its tokens' vectors (its whole contribution to the attention output), on its first
    token, 0 on the others; special tokens keep their own norms.
    """
    vectors = attention_vectors(probs, value, projection, position=position)
    return (vectors if word_index is None else words_on_first_tokens(vectors, word_index)).norm(dim=-1)


def words_on_first_tokens(vectors: torch.Tensor, word_index: torch.Tensor) -> torch.Tensor:
    """Token vectors [B, T, D] with each word's vectors summed onto its first token (its other tokens 0); tokens of
    no word (``word_index`` -1: special tokens, padding) unchanged. A word's tokens are contiguous."""
    word_index = word_index.to(vectors.device)
    valid = word_index >= 0
    index = torch.where(valid, word_index, torch.zeros_like(word_index))[..., None].expand_as(vectors)
    sums = torch.zeros_like(vectors).scatter_add(1, index, vectors * valid[..., None])
    previous = torch.nn.functional.pad(word_index[:, :-1], (1, 0), value=-1)
    first = valid & (word_index != previous)
    return torch.where(first[..., None], sums.gather(1, index), torch.where(valid[..., None], 0.0, vectors))


def attention_norm_layers(trace: LayerTrace, *, position: int = 0, word_index: torch.Tensor | None = None) -> torch.Tensor:
    """Kobayashi et al.'s norm of every layer's row ``position``: [B, L, T] (per word with ``word_index``:
    :func:`attention_norm_rows`)."""
    rows = [attention_norm_rows(probs, value, parts.output_projection, position=position, word_index=word_index)
            for parts, probs, value in zip(trace.parts, trace.probabilities, trace.values)]
    return torch.stack(rows, dim=1)


def normalise_rows(matrix: torch.Tensor) -> torch.Tensor:
    """Rows divided by their sum; all-zero rows (padding) stay zero."""
    total = matrix.sum(dim=-1, keepdim=True)
    return torch.where(total > 0, matrix / torch.where(total > 0, total, torch.ones_like(total)),
                       torch.zeros_like(matrix))


def alti_layer(trace: LayerTrace, layer: int, attention_mask: torch.Tensor, *, outputs: torch.Tensor | None = None,
               max_elements: int = 2**25) -> tuple[torch.Tensor, torch.Tensor]:
    """ALTI contributions of one layer, rows: output positions ``outputs`` (default all), columns: inputs.

    Returns the row-normalised contributions [B, P, T] and the decomposition's
    reconstruction of the attention block output at those positions [B, P, D], which
    equals the model's own output (``trace.attention_outputs``) up to rounding (a check
    that the family adapter found the right modules). Post-LN layers decompose
    ``LN(x + W_O attention)``, pre-LN layers ``x + W_O attention(LN(x))`` (module docstring).
    Examples are processed in chunks so the [b, P, T, D] decomposition holds at most about
    ``max_elements`` numbers.
    """
    parts = trace.parts[layer]
    post_ln = parts.layer_norm == "post"
    norm = parts.attention_layer_norm
    f_all = head_output_vectors(trace.values[layer], parts.output_projection)  # [B, H, T, D]
    batch, _, length, dim = f_all.shape
    positions = torch.arange(length, device=f_all.device) if outputs is None else outputs.to(f_all.device)
    n_out = len(positions)
    x_all = trace.inputs[layer][:, positions]  # residual of each output position [B, P, D]
    probs_all = trace.probabilities[layer][:, :, positions, :]  # [B, H, P, T]
    bias = parts.output_projection.bias
    gamma = getattr(norm, "weight", None)
    gamma = gamma if gamma is not None else torch.ones(dim, dtype=f_all.dtype, device=f_all.device)
    beta = getattr(norm, "bias", None)
    beta = beta if beta is not None else torch.zeros(dim, dtype=f_all.dtype, device=f_all.device)
    step = max(1, max_elements // max(1, n_out * length * dim))
    diagonal = (torch.arange(n_out, device=f_all.device), positions)
    contributions, reconstructions = [], []
    for start in range(0, batch, step):
        rows = slice(start, start + step)
        terms = torch.einsum("bhij,bhjd->bijd", probs_all[rows], f_all[rows])  # sum_h alpha_ij f_h(x_j)
        terms[:, diagonal[0], diagonal[1], :] += x_all[rows]  # the residual belongs to token i itself
        pre_norm = terms.sum(dim=2) + (bias if bias is not None else 0.0)  # [b, P, D]
        if post_ln:
            scale = torch.rsqrt(pre_norm.var(dim=-1, unbiased=False, keepdim=True) + norm.eps)  # [b, P, 1]
            output = (pre_norm - pre_norm.mean(dim=-1, keepdim=True)) * gamma * scale + beta  # y_i
            terms -= terms.mean(dim=-1, keepdim=True)
            terms *= gamma * scale[:, :, None, :]  # T_i(x_j): the layer norm's linear part at i
        else:  # pre-LN: no norm after the residual; y_i is the sum itself
            output = pre_norm
        distance = torch.sub(output[:, :, None, :], terms, out=terms).abs_().sum(dim=-1)  # ||y_i - T_i(x_j)||_1
        contributions.append(torch.clamp(output.abs().sum(dim=-1, keepdim=True) - distance, min=0.0))
        reconstructions.append(output)
    contribution = torch.cat(contributions)
    real = attention_mask.to(contribution.dtype).to(contribution.device)
    contribution = contribution * real[:, positions, None] * real[:, None, :]
    return normalise_rows(contribution), torch.cat(reconstructions)


def alti(trace: LayerTrace, attention_mask: torch.Tensor, *, position: int = 0,
         max_elements: int = 2**25) -> torch.Tensor:
    """ALTI of every input token for output ``position``: row ``position`` of ``C_L ... C_1``, [B, T].

    Only the last layer's row ``position`` is decomposed (no other row of ``C_L`` enters it).
    """
    last = trace.num_layers - 1
    result = None
    for layer in range(last):
        contribution, _ = alti_layer(trace, layer, attention_mask, max_elements=max_elements)
        result = contribution if result is None else contribution @ result
    row = torch.tensor([position], device=attention_mask.device)
    top, _ = alti_layer(trace, last, attention_mask, outputs=row, max_elements=max_elements)
    return (top if result is None else top @ result)[:, 0]
