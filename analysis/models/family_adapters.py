"""Where the parts of an encoder layer live, found from the family declarations.

Attention probabilities and value vectors are read through the probe attention
(:mod:`analysis.models.attention_probe`), which works for every family. Methods that
decompose an attention block further need more parts of each layer, whose names differ
by family and are declared once per family layout in :mod:`analysis.models.families`:

- the attention output projection ``W_O`` (BERT/RoBERTa: ``attention.output.dense``;
  DistilBERT: ``attention.out_lin``; ALBERT: ``attention.dense``; ModernBERT: ``attn.Wo``),
  for attention norms (Kobayashi et al. 2020) and ALTI (Ferrando et al. 2022);
- the attention layer norm: post-LN families normalise ``x + W_O attention(x)`` with it
  (BERT/RoBERTa: ``attention.output.LayerNorm``; DistilBERT: ``sa_layer_norm``), which ALTI
  decomposes; pre-LN families (ModernBERT) normalise the attention's input with it
  (``attn_norm``, an identity in ModernBERT's first layer), so it sits inside the value
  transform and the decompositions need not fold it;
- the layer module itself, whose inputs and outputs are the per-layer hidden states,
  for value zeroing (Mohebbi et al. 2023), which reruns one layer at a time.

One :class:`EncoderAdapter` serves each :class:`~analysis.models.families.ModuleLayout`
(BERT, RoBERTa, XLM-R and ELECTRA share the BERT-style one). Adding a family is one
declaration in :mod:`analysis.models.families`.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from analysis.models.attention_probe import PROBE_NAME, install_module_probe
from analysis.models.families import (
    ENCODER_FAMILIES,
    FAMILIES_BY_MODEL_TYPE,
    EncoderFamily,
    ModuleLayout,
    family_for_model_type,
)


@dataclass(frozen=True)
class LayerParts:
    """The modules of one encoder layer that attention decompositions need.

    ``index`` is the layer's position (0 = closest to the embeddings); it equals the
    probe's layer numbering of ``self_attention``. ``layer_norm`` is the family's
    placement, ``"post"`` or ``"pre"``. Modules of different layers are the same objects
    when the family shares layers (ALBERT). ``shared_layer_arguments``: keyword arguments
    of ``layer`` that hold no per-example rows (see :class:`~analysis.models.families.ModuleLayout`).
    """

    index: int
    layer: nn.Module
    self_attention: nn.Module
    value_projection: nn.Linear
    output_projection: nn.Linear
    attention_layer_norm: nn.Module
    layer_norm: str = "post"
    fused_qkv: bool = False
    shared_layer_arguments: tuple[str, ...] = ()

    @property
    def num_heads(self) -> int:
        attention = self.self_attention
        for name in ("num_attention_heads", "n_heads", "num_heads"):
            if hasattr(attention, name):
                return int(getattr(attention, name))
        config = getattr(attention, "config", None)
        if config is not None and hasattr(config, "num_attention_heads"):
            return int(config.num_attention_heads)
        raise AttributeError(f"{type(attention).__name__} exposes no head count")


class FamilyAdapterError(RuntimeError):
    """A model's family has no declaration, or its modules are not where the declaration says."""


def _follow(module: nn.Module, path: str) -> nn.Module:
    for name in path.split("."):
        module = getattr(module, name)
    return module


class EncoderAdapter:
    """Finds :class:`LayerParts` in a Hugging Face encoder of one module layout."""

    def __init__(self, layout: ModuleLayout) -> None:
        self.layout = layout
        self.description = (f"a {layout.name} encoder ({layout.layers}[i].{layout.self_attention} / "
                            f"{layout.output_projection} / {layout.attention_layer_norm})")

    def layer_modules(self, model: nn.Module) -> list[nn.Module]:
        """The encoder layers in forward order (a shared layer appears once per call)."""
        if self.layout.layer_order is not None:
            return self.layout.layer_order(model)
        return list(_follow(model, self.layout.layers))

    def parts(self, index: int, layer: nn.Module, family: EncoderFamily | None = None) -> LayerParts:
        """The parts of one layer."""
        layout = self.layout
        return LayerParts(
            index=index, layer=layer, self_attention=_follow(layer, layout.self_attention),
            value_projection=_follow(layer, layout.value_projection),
            output_projection=_follow(layer, layout.output_projection),
            attention_layer_norm=_follow(layer, layout.attention_layer_norm),
            layer_norm=family.layer_norm if family is not None else "post", fused_qkv=layout.fused_qkv,
            shared_layer_arguments=layout.shared_layer_arguments)

    def layers(self, model: nn.Module) -> list[LayerParts]:
        """Every layer's parts, checked against the probe's layer numbering."""
        try:
            found = self.layers_unchecked(model)
        except AttributeError as error:
            raise FamilyAdapterError(
                f"{type(model).__name__} does not have the module layout of {self.description} "
                f"({error}); correct its family's ModuleLayout in analysis/models/families.py"
            ) from error
        for parts in found:
            numbered = getattr(parts.self_attention, "_study_layers", (parts.index,))
            if parts.index not in numbered:
                raise FamilyAdapterError(
                    f"layer {parts.index} of {type(model).__name__}: its attention module runs as layer(s) "
                    f"{list(numbered)} in the probe's forward order; the layout's layer order is wrong"
                )
        return found

    def install_probe(self, model: nn.Module) -> None:
        """Route ``model``'s attention through the probe: the attention interface, or module hooks."""
        if self.layout.probe == "interface":
            set_interface_probe(model)
            return
        parent_path, _, name = self.layout.probability_site.rpartition(".")
        for parts in self.layers_unchecked(model):
            install_module_probe(parts.self_attention, value_projection=parts.value_projection,
                                 probability_parent=_follow(parts.layer, parent_path), probability_name=name,
                                 heads=parts.num_heads)

    def layers_unchecked(self, model: nn.Module) -> list[LayerParts]:
        """Every layer's parts, without the check against the probe's numbering (for installing the probe)."""
        family = family_for_model_type(getattr(model.config, "model_type", None))
        return [self.parts(i, layer, family) for i, layer in enumerate(self.layer_modules(model))]


def set_interface_probe(model: nn.Module) -> None:
    """Switch a model that uses transformers' attention interface to the probe attention."""
    if getattr(model.config, "_attn_implementation", None) != PROBE_NAME:
        model.set_attn_implementation(PROBE_NAME)


_ADAPTERS: dict[str, EncoderAdapter] = {}
for _family in ENCODER_FAMILIES:
    _ADAPTERS.setdefault(_family.layout.name, EncoderAdapter(_family.layout))


def adapter_for(model: nn.Module) -> EncoderAdapter:
    """The adapter of a Hugging Face model, chosen by ``model.config.model_type``."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    family = family_for_model_type(model_type)
    if family is None:
        raise FamilyAdapterError(
            f"no encoder family adapter for model_type {model_type!r} ({type(model).__name__}); supported: "
            f"{FAMILIES_BY_MODEL_TYPE.names()}. Attention norms, value zeroing and ALTI need one; declare the family "
            "in analysis/models/families.py, or drop those methods from importance.methods"
        )
    return _ADAPTERS[family.layout.name]


def install_probe(model: nn.Module) -> None:
    """Route ``model``'s attention through the probe, as its family declares (interface for undeclared ones)."""
    if family_for_model_type(getattr(model.config, "model_type", None)) is None:
        set_interface_probe(model)
    else:
        adapter_for(model).install_probe(model)


def encoder_layers(model: nn.Module) -> list[LayerParts]:
    """Every layer's :class:`LayerParts` of ``model`` (a Hugging Face encoder classifier)."""
    return adapter_for(model).layers(model)
