"""Any Hugging Face model: a Hub ``config.json`` read into a catalog model row.

``dsx.Space(model="path/to/folder")``, ``model="path/to/config.json"`` or ``model={...}`` (the
parsed JSON, with a ``name``) reads the architecture fields of a transformers config into
the same columns a catalog model has (``layers``, ``hidden``, ``heads``, MoE and MLA
columns), so :func:`dsx.solvers.model.model_shape` counts its parameters like any catalog
row. The id is the folder name (or ``name`` in a dict), with ``-hf`` appended when that name is
already a built-in id or alias (``Qwen2.5-7B`` -> ``Qwen2.5-7B-hf``). No network access and no
``transformers``: the JSON is parsed here, family by family (``model_type``).

When ``model.safetensors.index.json`` sits beside the config, its ``metadata.total_size``
divided by the bytes per stored weight (``torch_dtype``) is the checkpoint's own parameter
count: it becomes ``params_published`` and a mismatch of more than
:data:`PARAM_CHECK_TOLERANCE` with the architecture count warns.

References
----------
Hugging Face transformers configuration classes (``LlamaConfig``, ``MixtralConfig``,
``Qwen2Config``, ``Qwen2MoeConfig``, ``Qwen3MoeConfig``, ``Gemma2Config``, ``Gemma3TextConfig``,
``DeepseekV3Config``, ``GPTNeoXConfig``, ``GPTJConfig``, ``FalconConfig``, ``Phi3Config``,
``GptOssConfig``, ``Llama4TextConfig``): field names and their defaults.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from ..errors import DsxInputError

__all__ = ["FAMILIES", "PARAM_CHECK_TOLERANCE", "is_source", "read", "row", "count_params"]

#: Relative difference between the architecture count and the safetensors index count that warns.
PARAM_CHECK_TOLERANCE = 0.03

_DTYPE_BYTES = {"float32": 4, "fp32": 4, "float16": 2, "fp16": 2, "bfloat16": 2, "bf16": 2,
                "float8_e4m3fn": 1, "fp8": 1, "int8": 1}

# family defaults that differ between transformers config classes: gated MLP, tied head,
# LayerNorm vs RMSNorm, linear-layer biases, and the key spelling of each shape field
_LLAMA = {"gated": True, "tied": False, "norm": "rms", "bias": False}
FAMILIES: dict[str, dict[str, Any]] = {
    "llama": _LLAMA, "mistral": _LLAMA, "mixtral": _LLAMA, "llama4_text": _LLAMA,
    "qwen2": _LLAMA, "qwen2_moe": _LLAMA, "qwen3": _LLAMA, "qwen3_moe": _LLAMA,
    "phi3": _LLAMA, "deepseek_v2": _LLAMA, "deepseek_v3": _LLAMA,
    "gemma": {**_LLAMA, "tied": True}, "gemma2": {**_LLAMA, "tied": True},
    "gemma3_text": {**_LLAMA, "tied": True},
    "gpt_oss": {**_LLAMA, "bias": True},
    "gpt_neox": {"gated": False, "tied": False, "norm": "layer", "bias": True},
    "gptj": {"gated": False, "tied": False, "norm": "layer", "bias": True},
    "falcon": {"gated": False, "tied": True, "norm": "layer", "bias": False},
}
# multimodal wrappers whose language model sits in ``text_config``
_WRAPPERS = {"gemma3": "gemma3_text", "llama4": "llama4_text", "mistral3": "mistral"}
# alternative key spellings (GPT-J, GPT-2 style and Falcon configs)
_ALIASES = {"hidden_size": ("n_embd", "d_model"), "num_hidden_layers": ("n_layer", "num_layers"),
            "num_attention_heads": ("n_head",), "max_position_embeddings": ("n_positions", "max_seq_len")}


def is_source(value: Any) -> bool:
    """Whether ``value`` names a config (a dict, a folder or a ``.json`` file) rather than a catalog id."""
    if isinstance(value, (dict, Path)):
        return True
    if not isinstance(value, str):
        return False
    return value.endswith(".json") or "/" in value or "\\" in value or Path(value).is_dir()


def read(source: Any) -> tuple[str, dict, dict | None]:
    """``(id, config, safetensors index or None)`` from a folder, a ``config.json`` path or a dict."""
    if isinstance(source, dict):
        cfg = dict(source)
        name = cfg.get("name") or Path(str(cfg.get("_name_or_path", ""))).name
        if not name:
            raise DsxInputError("model: a config dict needs a 'name' (the model id); add name='my-model'")
        return str(name), cfg, None
    p = Path(source)
    folder, file = (p, p / "config.json") if p.is_dir() else (p.parent, p)
    if not file.is_file():
        raise DsxInputError(f"model: no config.json at {str(file)!r}; pass a Hugging Face model folder, "
                            "its config.json, or a catalog id (`dsx catalog models`)")
    try:
        cfg = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise DsxInputError(f"model: {str(file)!r} is not readable JSON ({exc}); pass the Hub config.json") from None
    index_file = folder / "model.safetensors.index.json"
    index = json.loads(index_file.read_text()) if index_file.is_file() else None
    return str(cfg.get("name") or folder.resolve().name), cfg, index


def _get(cfg: dict, key: str, where: str, default: Any = KeyError) -> Any:
    for k in (key, *_ALIASES.get(key, ())):
        if cfg.get(k) is not None:
            return cfg[k]
    if default is KeyError:
        raise DsxInputError(f"model config {where}: missing field {key!r}, which model_type "
                            f"{cfg.get('model_type')!r} needs; add it to config.json")
    return default


def row(name: str, cfg: dict) -> dict[str, Any]:
    """The catalog model columns (canonical numbers, flags, labels) of a Hub config.

    Parameters
    ----------
    name : str
        Model id (used in messages and as ``name``).
    cfg : dict
        Parsed ``config.json``.

    Returns
    -------
    dict
        Columns of ``models.csv`` except ``params_published`` and ``source``.

    Raises
    ------
    DsxInputError
        Unknown ``model_type`` or a missing field, naming it; head counts that do not divide
        (hidden_size by num_attention_heads without an explicit head_dim, num_attention_heads by
        num_key_value_heads), naming both values.
    """
    cfg, mtype = _unwrapped(name, cfg)
    fam = FAMILIES[mtype]
    where = repr(name)
    h = int(_get(cfg, "hidden_size", where))
    layers = int(_get(cfg, "num_hidden_layers", where))
    heads = int(_get(cfg, "num_attention_heads", where))
    kv = _kv_heads(cfg, mtype, heads, where)
    _check_heads(cfg, h, heads, kv, where)
    experts = cfg.get("num_local_experts") or cfg.get("num_experts") or cfg.get("n_routed_experts") or 0
    bias = bool(cfg.get("attention_bias", fam["bias"])) if mtype == "gpt_oss" else fam["bias"]
    out: dict[str, Any] = {
        "name": name, "family": mtype, "arch": "decoder", "layers": layers, "hidden": h, "heads": heads,
        "kv_heads": kv, "head_dim": int(_get(cfg, "head_dim", where, h // heads)),
        "ffn": int(_dense_ffn(cfg, mtype, h, bool(experts), where)), "gated": fam["gated"],
        "vocab": int(_get(cfg, "vocab_size", where)),
        "tied_embeddings": bool(cfg.get("tie_word_embeddings", fam["tied"])),
        "learned_positions": False, "bias": bias,
        "norm": fam["norm"], "max_context": int(_get(cfg, "max_position_embeddings", where, 0)),
        "experts": 0, "experts_per_token": 0, "shared_experts": 0, "expert_ffn": 0, "dense_layers": 0,
        "attention": "gqa" if kv < heads else "mha",
        "q_lora_rank": 0, "kv_lora_rank": 0, "rope_dim": 0, "nope_dim": 0, "v_head_dim": 0,
    }
    if experts:
        out.update(_expert_columns(cfg, mtype, int(experts), layers, where))
    if cfg.get("kv_lora_rank"):
        out.update(attention="mla", q_lora_rank=int(cfg.get("q_lora_rank") or 0),
                   kv_lora_rank=int(cfg["kv_lora_rank"]), rope_dim=int(_get(cfg, "qk_rope_head_dim", where)),
                   nope_dim=int(_get(cfg, "qk_nope_head_dim", where)), v_head_dim=int(_get(cfg, "v_head_dim", where)),
                   kv_heads=heads)
    return out


def _unwrapped(name: str, cfg: dict) -> tuple[dict, str]:
    """The text model's config and family (a multimodal wrapper's ``text_config``); refuses unknown families."""
    mtype = cfg.get("model_type")
    if mtype in _WRAPPERS:
        text = cfg.get("text_config")
        if not isinstance(text, dict):
            raise DsxInputError(f"model config {name!r}: model_type {mtype!r} needs a 'text_config' object")
        cfg = {"model_type": _WRAPPERS[mtype], **text}
        mtype = cfg["model_type"] if cfg["model_type"] in FAMILIES else _WRAPPERS[mtype]
    if mtype not in FAMILIES:
        raise DsxInputError(f"model config {name!r}: model_type {mtype!r} is not supported; expected one of "
                            f"{', '.join(sorted(FAMILIES))} (or describe it as a row in a user models.csv)")
    return cfg, mtype


def _kv_heads(cfg: dict, mtype: str, heads: int, where: str) -> int:
    """Key/value heads: stated, else as many as query heads (Falcon: multi-query unless its new decoder)."""
    kv = _get(cfg, "num_key_value_heads", where, None)
    if mtype == "falcon":  # new decoder architecture: num_kv_heads; otherwise multi-query (one KV head) or MHA
        multi = 1 if cfg.get("multi_query", True) else heads
        kv = cfg.get("num_kv_heads") if cfg.get("new_decoder_architecture") else multi
    return int(kv if kv is not None else heads)


def _check_heads(cfg: dict, h: int, heads: int, kv: int, where: str) -> None:
    """Refuse head counts no model can have: each key/value head serves a whole group of query heads
    (grouped-query attention), and without an explicit ``head_dim`` the heads split ``hidden_size``
    evenly (transformers' attention modules reshape hidden_size into heads x head_dim).
    MLA configs (``kv_lora_rank``) size their heads from ``qk_*_head_dim``, not hidden_size."""
    if heads < 1 or kv < 1:
        raise DsxInputError(f"model config {where}: num_attention_heads {heads} and num_key_value_heads {kv} "
                            "must both be >= 1; fix config.json")
    if heads % kv:
        raise DsxInputError(f"model config {where}: num_attention_heads {heads} is not divisible by "
                            f"num_key_value_heads {kv} (each key/value head serves a whole group of query "
                            "heads); fix config.json")
    if h % heads and _get(cfg, "head_dim", where, None) is None and not cfg.get("kv_lora_rank"):
        raise DsxInputError(f"model config {where}: hidden_size {h} is not divisible by num_attention_heads "
                            f"{heads} (head_dim would be {h / heads:.4g}); fix config.json or give head_dim")


def _dense_ffn(cfg: dict, mtype: str, h: int, moe: bool, where: str) -> float:
    """The dense MLP width (ungated families: 4h unless stated; an all-MoE config may leave it out)."""
    if mtype in ("gpt_neox", "gptj", "falcon"):
        return cfg.get("intermediate_size") or cfg.get("n_inner") or cfg.get("ffn_hidden_size") or 4 * h
    if mtype == "llama4_text":
        return _get(cfg, "intermediate_size_mlp", where)
    return _get(cfg, "intermediate_size", where, 0 if moe else KeyError)


def _expert_columns(cfg: dict, mtype: str, experts: int, layers: int, where: str) -> dict[str, Any]:
    """Routed and shared experts, their width and the dense layers of an MoE config."""
    fe = _get(cfg, "moe_intermediate_size", where, None) or _get(cfg, "intermediate_size", where)
    shared = cfg.get("n_shared_experts") or 0
    if cfg.get("shared_expert_intermediate_size"):  # Qwen2-MoE: one wide shared expert
        shared = cfg["shared_expert_intermediate_size"] / fe
    if mtype == "llama4_text":  # one shared expert as wide as a routed one
        shared = 1
    return {"experts": experts, "experts_per_token": int(_get(cfg, "num_experts_per_tok", where)),
            "shared_experts": shared, "expert_ffn": int(fe), "dense_layers": layers - _moe_layers(cfg, layers)}


def _moe_layers(cfg: dict, layers: int) -> int:
    """Layers with a routed MoE block; the others have a dense MLP (model_shape needs only the count).

    DeepSeek: layer ``i`` is MoE when ``i >= first_k_dense_replace`` and ``i % moe_layer_freq == 0``;
    Qwen-MoE: when ``(i + 1) % decoder_sparse_step == 0`` and ``i`` not in ``mlp_only_layers``;
    Llama 4: the listed ``moe_layers``, else every ``interleave_moe_layer_step``-th layer.
    """
    if cfg.get("moe_layers"):
        return len(cfg["moe_layers"])
    first = int(cfg.get("first_k_dense_replace") or 0)
    freq = int(cfg.get("moe_layer_freq") or 1)
    step = int(cfg.get("decoder_sparse_step") or 1)
    inter = int(cfg.get("interleave_moe_layer_step") or 1)
    dense_only = set(cfg.get("mlp_only_layers") or [])
    return sum(1 for i in range(layers) if i >= first and i % freq == 0 and (i + 1) % step == 0
               and (i + 1) % inter == 0 and i not in dense_only)


def count_params(columns: dict[str, Any]) -> tuple[float, float]:
    """``(total, active)`` parameters of a row, by :func:`dsx.solvers.model.model_shape`."""
    from ..solvers.model import model_shape

    keys = ("arch layers hidden heads kv_heads head_dim ffn gated vocab tied_embeddings learned_positions bias "
            "norm max_context experts experts_per_token shared_experts expert_ffn dense_layers attention "
            "q_lora_rank kv_lora_rank rope_dim nope_dim v_head_dim").split()
    out = model_shape.kernel(**{k: columns[k] for k in keys})
    return float(out["params"]), float(out["active_params"])


def checkpoint_params(cfg: dict, index: dict | None) -> float | None:
    """Parameters stored in the checkpoint: ``metadata.total_size`` / bytes per weight, or None."""
    size = ((index or {}).get("metadata") or {}).get("total_size")
    if not size:
        return None
    dtype = str(cfg.get("torch_dtype") or cfg.get("dtype") or (cfg.get("text_config") or {}).get("torch_dtype")
                or "bfloat16").replace("torch.", "")
    if (cfg.get("quantization_config") or {}).get("quant_method") == "fp8":
        dtype = "fp8"
    return float(size) / _DTYPE_BYTES.get(dtype, 2)


def catalog_row(source: Any) -> tuple[str, dict[str, str]]:
    """``(id, {column: text})`` ready to add to the models catalog; warns on a parameter mismatch."""
    name, cfg, index = read(source)
    cols = row(name, cfg)
    total, active = count_params(cols)
    stored = checkpoint_params(cfg, index)
    if stored is not None and abs(total / stored - 1) > PARAM_CHECK_TOLERANCE:
        warnings.warn(f"model {name!r}: config.json gives {total / 1e9:.3f} B parameters but the safetensors "
                      f"index holds {stored / 1e9:.3f} B ({100 * (total / stored - 1):+.1f} %); check the "
                      "config (shared or tied weights, extra modules such as vision towers or MTP layers)",
                      stacklevel=3)
    text = {k: ("true" if v is True else "false" if v is False else str(v)) for k, v in cols.items()}
    text["params_published"] = f"{stored} param" if stored is not None else ""
    text["active_params_published"] = ""
    text["source"] = ("Hugging Face config.json" + (" + model.safetensors.index.json total_size" if stored else "")
                      + f"; architecture count {total / 1e9:.3f} B total, {active / 1e9:.3f} B active")
    return name, text
