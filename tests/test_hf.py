"""Hugging Face config.json -> catalog model row: parameter counts against published figures."""

import json
import shutil
import warnings
from pathlib import Path

import pytest

import dsx
from dsx.catalog import hf
from dsx.errors import DsxInputError
from dsx.solvers.model import model_shape

FIXTURES = Path(__file__).parent / "fixtures" / "hf"


@pytest.fixture(autouse=True)
def _forget_config_rows():
    """Config rows join the process-wide models catalog; drop them so other tests see the built-in one."""
    yield
    dsx.catalog._ADDED["models"].clear()
    dsx.catalog._clear_cache()

# (folder, published total, published active, source of the published figure); billions
PUBLISHED = [
    ("Qwen2.5-7B", 7.61, 7.61, "Qwen2.5 model card: 7.61 B parameters"),
    ("Qwen3-8B", 8.2, 8.2, "Qwen3-8B model card: 8.2 B"),
    ("Qwen3-30B-A3B", 30.5, 3.3, "Qwen3-30B-A3B model card: 30.5 B total, 3.3 B activated"),
    ("Qwen1.5-MoE-A2.7B", 14.3, 2.7, "Qwen1.5-MoE-A2.7B model card: 14.3 B total, 2.7 B activated"),
    ("DeepSeek-V3", 671.0, 37.0, "DeepSeek-V3 report (arXiv:2412.19437) §1: 671 B total, 37 B activated"),
    ("DeepSeek-V2", 236.0, 21.0, "DeepSeek-V2 report (arXiv:2405.04434) abstract: 236 B total, 21 B activated"),
    ("Llama-3.2-1B", 1.24, 1.24, "Llama 3.2 model card: 1.23 B (1,235,814,400 in safetensors)"),
    ("Mistral-7B-v0.1", 7.24, 7.24, "Mistral 7B (arXiv:2310.06825); 7.24 B in the released safetensors"),
    ("Mixtral-8x7B-v0.1", 46.7, 12.9, "Jiang et al. 2024 (arXiv:2401.04088) §2: 47 B total, 13 B active"),
    ("gemma-2-9b", 9.2417, 9.2417, "Gemma 2 report (arXiv:2408.00118) Table 2: 917.5 M embedding + 8,324 M"),
    ("gemma-3-27b-it", 27.016, 27.016, "Gemma 3 report (arXiv:2503.19786) Table 1: 1,416 M embedding + 25,600 M "
                                       "(vision encoder 417 M not in the language model)"),
    ("Phi-3-mini-4k-instruct", 3.8, 3.8, "Abdin et al. 2024 (arXiv:2404.14219): 3.8 B"),
    ("gpt-neox-20b", 20.55, 20.55, "Black et al. 2022 (arXiv:2204.06745) Table 1: 20,554,567,680"),
    ("gpt-j-6b", 6.053, 6.053, "EleutherAI gpt-j-6b model card: 6,053,381,344"),
    ("falcon-180B", 180.0, 180.0, "Almazrouei et al. 2023 (arXiv:2311.16867): 180 B"),
    # OpenAI's active counts exclude the input embedding (0.58 B); dsx's active count includes it
    ("gpt-oss-120b", 116.83, 5.13 + 0.579, "gpt-oss model card (arXiv:2508.10925) Table 1: 116.83 B, 5.13 B active"),
    ("gpt-oss-20b", 20.91, 3.61 + 0.579, "gpt-oss model card (arXiv:2508.10925) Table 1: 20.91 B, 3.61 B active"),
    ("Llama-4-Scout-17B-16E", 109.0, 17.0, "Meta Llama 4 model card: 17 B active, 109 B total (incl. vision)"),
]


@pytest.mark.parametrize("folder, total, active, source", PUBLISHED, ids=[p[0] for p in PUBLISHED])
def test_config_counts_match_published(folder, total, active, source):
    name, cfg, _ = hf.read(FIXTURES / folder)
    got_total, got_active = hf.count_params(hf.row(name, cfg))
    err_t, err_a = got_total / (total * 1e9) - 1, got_active / (active * 1e9) - 1
    print(f"{folder}: {got_total / 1e9:.3f} B ({100 * err_t:+.2f} %), active {got_active / 1e9:.3f} B "
          f"({100 * err_a:+.2f} %) vs {source}")
    assert abs(err_t) < 0.02 and abs(err_a) < 0.02


def test_issue_figures_qwen_and_deepseek():
    """Issue 11: Qwen2.5-7B 7.6 B; Qwen3-30B-A3B 30.5 B / 3.3 B; DeepSeek-V3 671 B / 37 B (within 2 %)."""
    ds = model_shape(dsx.Space(model=[str(FIXTURES / f) for f in ("Qwen2.5-7B", "Qwen3-30B-A3B", "DeepSeek-V3")])
                     .to_dataset())
    # the folder names are also built-in ids or aliases: the config rows get "-hf"
    assert list(ds.model.values) == ["Qwen2.5-7B-hf", "Qwen3-30B-A3B-hf", "DeepSeek-V3-hf"]
    for model, total, active in (("Qwen2.5-7B-hf", 7.6, 7.6), ("Qwen3-30B-A3B-hf", 30.5, 3.3),
                                 ("DeepSeek-V3-hf", 671, 37)):
        t, a = float(ds.params.sel(model=model)) / 1e9, float(ds.active_params.sel(model=model)) / 1e9
        print(f"{model}: {t:.2f} B / {a:.2f} B active")
        assert t == pytest.approx(total, rel=0.02) and a == pytest.approx(active, rel=0.02)


def test_space_accepts_folder_config_file_and_dict():
    by_folder = dsx.Space(model=str(FIXTURES / "Mistral-7B-v0.1")).to_dataset()
    by_file = dsx.Space(model=str(FIXTURES / "Mistral-7B-v0.1" / "config.json")).to_dataset()
    cfg = json.loads((FIXTURES / "Mistral-7B-v0.1" / "config.json").read_text())
    by_dict = dsx.Space(model={**cfg, "name": "my-mistral"}).to_dataset()
    assert by_folder.model.item() == by_file.model.item() == "Mistral-7B-v0.1-hf"  # catalog alias taken
    assert by_dict.model.item() == "my-mistral"
    for ds in (by_folder, by_file, by_dict):
        assert int(ds.layers) == 32 and int(ds.kv_heads) == 8 and int(ds.ffn) == 14336
    assert "my-mistral" in dsx.catalog.names("models")
    assert dsx.catalog.resolve("models", "mistral-7b-v0.1") == "mistral-7b"  # the built-in row is untouched


def test_config_model_runs_the_whole_stack():
    ds = dsx.training(dsx.Space(model=str(FIXTURES / "Qwen2.5-7B"), hardware="H100", gpus=8))
    assert float(ds.params) / 1e9 == pytest.approx(7.6157, abs=1e-3)
    assert bool(ds.feasible) and float(ds.step_time) > 0


def test_safetensors_index_sets_published_count():
    name, cells = hf.catalog_row(FIXTURES / "Qwen2.5-7B")
    # total_size 15,231,233,024 B of bfloat16 weights = 7,615,616,512 parameters
    assert float(cells["params_published"].split()[0]) == 15231233024 / 2


def test_index_mismatch_warns(tmp_path):
    folder = tmp_path / "odd-model"
    shutil.copytree(FIXTURES / "Qwen2.5-7B", folder)
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": 2 * 9.0e9}}))
    with pytest.warns(UserWarning, match=r"odd-model.*7\.6\d\d B.*9\.000 B"):
        hf.catalog_row(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hf.catalog_row(FIXTURES / "Qwen2.5-7B")  # the real index agrees: no warning


def test_unknown_model_type_and_missing_field_are_named():
    cfg = json.loads((FIXTURES / "Mistral-7B-v0.1" / "config.json").read_text())
    with pytest.raises(DsxInputError, match="model_type 'mamba' is not supported"):
        dsx.Space(model={**cfg, "model_type": "mamba", "name": "m"})
    del cfg["num_key_value_heads"], cfg["vocab_size"]
    with pytest.raises(DsxInputError, match="missing field 'vocab_size'"):
        dsx.Space(model={**cfg, "name": "m"})
    cfg["vocab_size"] = 32000
    del cfg["intermediate_size"]  # a dense model needs its MLP width
    with pytest.raises(DsxInputError, match="missing field 'intermediate_size'"):
        dsx.Space(model={**cfg, "name": "m"})
    with pytest.raises(DsxInputError, match="needs a 'name'"):
        hf.read({"model_type": "llama"})
    with pytest.raises(DsxInputError, match="no config.json"):
        dsx.Space(model="no/such/folder")


def test_impossible_head_counts_are_refused():
    """30 heads in a 4096-wide model ran with head_dim 136 (4096 // 30), and 30 query heads over 8 KV heads."""
    llama = {"name": "bad", "model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32,
             "num_attention_heads": 30, "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128256}
    with pytest.raises(DsxInputError) as e:
        dsx.Space(model=llama)
    assert str(e.value) == ("model config 'bad': num_attention_heads 30 is not divisible by num_key_value_heads 8 "
                            "(each key/value head serves a whole group of query heads); fix config.json")
    with pytest.raises(DsxInputError) as e:
        hf.row("bad", {**llama, "num_key_value_heads": 10})
    assert str(e.value) == ("model config 'bad': hidden_size 4096 is not divisible by num_attention_heads 30 "
                            "(head_dim would be 136.5); fix config.json or give head_dim")
    with pytest.raises(DsxInputError, match="num_attention_heads 0 and num_key_value_heads 8 must both be >= 1"):
        hf.row("bad", {**llama, "num_attention_heads": 0})
    # an explicit head_dim decouples the heads from hidden_size (Gemma-style configs)
    assert hf.row("ok", {**llama, "num_key_value_heads": 10, "head_dim": 128})["head_dim"] == 128


def test_family_mechanisms():
    rows = {f: hf.row(*hf.read(FIXTURES / f)[:2]) for f in
            ("gemma-2-9b", "falcon-180B", "gpt-j-6b", "DeepSeek-V3", "Qwen1.5-MoE-A2.7B", "gpt-oss-120b")}
    assert rows["gemma-2-9b"]["tied_embeddings"] and rows["gemma-2-9b"]["head_dim"] == 256
    assert rows["falcon-180B"]["kv_heads"] == 8 and not rows["falcon-180B"]["gated"]
    assert rows["falcon-180B"]["ffn"] == 4 * 14848
    assert rows["gpt-j-6b"]["hidden"] == 4096 and rows["gpt-j-6b"]["ffn"] == 16384
    v3 = rows["DeepSeek-V3"]
    assert (v3["attention"], v3["dense_layers"], v3["shared_experts"], v3["q_lora_rank"]) == ("mla", 3, 1, 1536)
    assert rows["Qwen1.5-MoE-A2.7B"]["shared_experts"] == 4  # 5632-wide shared expert = 4 x 1408
    assert rows["gpt-oss-120b"]["bias"] and rows["gpt-oss-120b"]["experts"] == 128


def test_moe_layer_placement_fields():
    """decoder_sparse_step / mlp_only_layers (Qwen-MoE), interleave step (Llama 4), first_k_dense (DeepSeek)."""
    name, cfg, _ = hf.read(FIXTURES / "Qwen1.5-MoE-A2.7B")
    assert hf.row(name, cfg)["dense_layers"] == 0
    assert hf.row(name, {**cfg, "decoder_sparse_step": 2})["dense_layers"] == 12
    assert hf.row(name, {**cfg, "mlp_only_layers": [0, 1, 23]})["dense_layers"] == 3
    scout = json.loads((FIXTURES / "Llama-4-Scout-17B-16E" / "config.json").read_text())
    scout["text_config"]["interleave_moe_layer_step"] = 2  # Maverick's placement
    assert hf.row("m", scout)["dense_layers"] == 24
    assert hf.row(*hf.read(FIXTURES / "DeepSeek-V3")[:2])["dense_layers"] == 3
