"""Whole-model attention methods layer by layer, as Abnar & Zuidema (2020) plot them.

Attention rollout and attention flow combine the layers below the top; Abnar & Zuidema
compare them with raw attention *at every layer*: rollout and flow computed through layer
``l`` only, raw attention of layer ``l``. This module computes, for each explained example
and each layer ``l`` (1 to L in the text; the tables hold a 0-based ``layer``, like the per-head table):

- ``attention_rollout`` through layer ``l`` ([CLS] row of ``A'_l ... A'_1``),
- ``attention_flow`` through layer ``l`` (max flow into [CLS] at the top of the first ``l`` layers),
- ``attention_norm_last`` at layer ``l`` (Kobayashi et al.'s norm of layer ``l``'s [CLS] row),

each with the registered method's own code and configured settings, so at the top layer
each equals that method's score. Rows have the per-head table's columns, with ``head`` one
of the codes below (the head mean of a layer is :data:`~analysis.heads.agreement.MEAN`),
and are compared with causal importance exactly like the heads
(:func:`analysis.heads.agreement.head_agreement`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from analysis.heads.agreement import HEAD_COLUMNS

ROLLOUT, FLOW, NORM = -2, -3, -4
LAYER_METHODS = {ROLLOUT: "attention_rollout", FLOW: "attention_flow", NORM: "attention_norm_last"}
"""``head`` code of each whole-model method computed layer by layer -> the registered method."""


def layer_methods(configured: dict[str, dict[str, Any]]) -> dict[int, str]:
    """The codes of the layer-by-layer methods among the configured importance methods."""
    return {code: name for code, name in LAYER_METHODS.items() if name in configured}


def layer_scores(model: Any, examples: pd.DataFrame, methods: dict[str, dict[str, Any]], *, batch_size: int = 32,
                 pooling: str = "sum") -> pd.DataFrame:
    """Scores of each configured layer-by-layer method through every layer, pooled to words (:data:`HEAD_COLUMNS`).

    ``methods`` maps registered names (:data:`LAYER_METHODS`) to their settings; the others are
    ignored. Flow rows of examples longer than the method's ``max_tokens`` are NaN, as in the method.
    """
    from analysis.attention.flow import WORD_POOLING, attention_flow
    from analysis.attention.methods import rollout
    from analysis.attention.norms import attention_norm_layers
    from analysis.attention.tracing import trace_layers
    from analysis.importance import make_method, pool_to_words
    from analysis.models.training import length_bucketed_batches

    codes = layer_methods(methods)
    settings = {code: make_method(name, methods[name], where=f"importance.methods.{name}").settings
                for code, name in codes.items()}
    words = list(map(list, examples["words"]))
    ids = examples["example_id"].astype(str).tolist()
    encoded = model.encode(words)
    position = model.classification_position
    frames = []
    for index in length_bucketed_batches(encoded.n_words_kept, batch_size):
        index = index.tolist()
        enc = encoded.select(index).to(model.device)
        with torch.no_grad():
            maps = model.attention_maps(enc.input_ids, enc.attention_mask)  # [B, L, H, T, T]
            norms = (attention_norm_layers(trace_layers(model.module, enc.input_ids, enc.attention_mask),
                                           position=position, word_index=enc.word_index) if NORM in codes else None)
        n_layers = maps.shape[1]
        for layer in range(n_layers):
            for code in codes:
                if code == ROLLOUT:
                    scores = rollout(maps[:, :layer + 1], residual_weight=settings[code]["residual_weight"])[:, position]
                elif code == FLOW:
                    scores = attention_flow(maps[:, :layer + 1], enc.attention_mask, enc.word_index,
                                            residual_weight=float(settings[code]["residual_weight"]),
                                            max_tokens=settings[code]["max_tokens"], sink_position=position,
                                            resolution_bits=settings[code]["resolution_bits"]).scores
                else:
                    scores = norms[:, layer]
                # flow scores a word as one unit; a layer's norms sit on each word's first subword (its other
                # subwords hold 0), so only "first" reads them whatever the study's pooling (as the main method does)
                pooled = pool_to_words(scores, enc.word_index, list(enc.n_words_kept),
                                       WORD_POOLING if code == FLOW else "first" if code == NORM else pooling)
                for k, i in enumerate(index):
                    n = len(pooled[k])
                    frames.append(pd.DataFrame({"example_id": ids[i], "layer": layer, "head": code,
                                                "word_index": np.arange(n), "weight": pooled[k]}))
    if not frames:
        return pd.DataFrame(columns=HEAD_COLUMNS)
    return pd.concat(frames, ignore_index=True)[HEAD_COLUMNS]
