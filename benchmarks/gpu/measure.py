"""Measure a real GPU (needs PyTorch + CUDA) for validating dsx's roofline predictions.

Runs, on whatever CUDA device is present:
  1. dense bf16/fp8 GEMMs (square and Llama-3.1 layer shapes)      -> achieved FLOP/s
  2. a large device-to-device copy                               -> achieved HBM bandwidth
  3. Llama-3.1-8B-shaped decode steps (random weights, all 32 layers, KV cache,
     CUDA-graph replay) at several batch sizes                     -> seconds per output token
  4. Llama-3.1-8B-shaped prefill (flash SDPA, causal)              -> seconds per prompt batch
  5. one Llama-3.1-8B-shaped transformer layer, forward + backward -> seconds per layer-step

Writes one CSV row per measurement (``kind, name, shape..., seconds, value, unit``) to the
path given (default ``gpu_measurements.csv``). Timings: CUDA events, warm-up, median of
repeats, random (never zero) inputs. tests/test_validation_gpu.py compares the committed
CSV with dsx's predictions.
"""

from __future__ import annotations

import csv
import statistics
import sys

import torch
import torch.nn.functional as F

DEV = "cuda"
BF16 = torch.bfloat16
# Llama-3.1-8B architecture (Llama Team 2024, Table 3; config.json)
L, H, A, AKV, DH, FF, V = 32, 4096, 32, 8, 128, 14336, 128256


def timed(fn, repeats=20, warmup=5):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b) / 1e3)
    return statistics.median(times)


def gemms(rows):
    shapes = [("square", 8192, 8192, 8192), ("square", 4096, 4096, 4096),
              ("llama70b_mlp_up_tp8", 8192, 8192, 2 * 28672 // 8),
              ("llama70b_mlp_down_tp8", 8192, 28672 // 8, 8192),
              ("llama70b_qkv_tp8", 8192, 8192, (64 + 16) * 128 // 8),
              ("llama8b_mlp_up", 8192, 4096, 2 * 14336)]
    for name, m, k, n in shapes:
        for dtype in ("bf16", "fp8"):
            a = torch.randn(m, k, device=DEV, dtype=BF16)
            b = torch.randn(n, k, device=DEV, dtype=BF16)
            if dtype == "bf16":
                fn = lambda: a @ b.t()
            else:
                try:
                    a8, b8 = a.to(torch.float8_e4m3fn), b.to(torch.float8_e4m3fn)
                    one = torch.ones((), device=DEV)
                    torch._scaled_mm(a8, b8.t(), scale_a=one, scale_b=one, out_dtype=BF16)
                    fn = lambda: torch._scaled_mm(a8, b8.t(), scale_a=one, scale_b=one, out_dtype=BF16)
                except Exception as exc:  # fp8 GEMM not available in this build
                    print("fp8 skipped:", exc, file=sys.stderr)
                    continue
            t = timed(fn)
            rows.append(dict(kind="gemm", name=f"{name}_{dtype}", m=m, k=k, n=n, batch="", ctx="",
                             seconds=t, value=2 * m * n * k / t, unit="flop/s"))


def hbm(rows):
    n = 2 * 1024**3  # 2 GiB buffers, far above L2
    x = torch.empty(n, dtype=torch.uint8, device=DEV).random_(0, 255)
    y = torch.empty_like(x)
    t = timed(lambda: y.copy_(x), repeats=30)
    rows.append(dict(kind="hbm", name="d2d_copy", m=n, k="", n="", batch="", ctx="",
                     seconds=t, value=2 * n / t, unit="B/s"))


class Layer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        s = 0.02
        self.wqkv = torch.nn.Parameter(torch.randn((A + 2 * AKV) * DH, H, dtype=BF16) * s)
        self.wo = torch.nn.Parameter(torch.randn(H, A * DH, dtype=BF16) * s)
        self.wgu = torch.nn.Parameter(torch.randn(2 * FF, H, dtype=BF16) * s)
        self.wd = torch.nn.Parameter(torch.randn(H, FF, dtype=BF16) * s)
        self.n1 = torch.nn.Parameter(torch.ones(H, dtype=BF16))
        self.n2 = torch.nn.Parameter(torch.ones(H, dtype=BF16))

    def forward(self, x, kcache=None, vcache=None, pos=None):
        b, s, _ = x.shape
        h = F.rms_norm(x, (H,), self.n1)
        q, k, v = (h @ self.wqkv.t()).split([A * DH, AKV * DH, AKV * DH], dim=-1)
        q = q.view(b, s, A, DH).transpose(1, 2)
        k = k.view(b, s, AKV, DH).transpose(1, 2)
        v = v.view(b, s, AKV, DH).transpose(1, 2)
        if kcache is None:
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        else:  # decode: write the new token, attend over the whole cache
            kcache[:, :, pos:pos + 1] = k
            vcache[:, :, pos:pos + 1] = v
            o = F.scaled_dot_product_attention(q, kcache, vcache, enable_gqa=True)
        x = x + o.transpose(1, 2).reshape(b, s, A * DH) @ self.wo.t()
        h = F.rms_norm(x, (H,), self.n2)
        g, u = (h @ self.wgu.t()).chunk(2, dim=-1)
        return x + (F.silu(g) * u) @ self.wd.t()


DECODE_SHORT = [(b, 2048) for b in (1, 8, 32, 64, 128)]
#: long contexts: the KV cache, not the weights, dominates the bytes of a step
DECODE_LONG = [(64, 4096), (16, 8192), (8, 32768)]


def decode(rows, layers, cases=DECODE_SHORT):
    head = torch.randn(V, H, device=DEV, dtype=BF16) * 0.02
    for batch, ctx in cases:
        kc = [torch.randn(batch, AKV, ctx + 1, DH, device=DEV, dtype=BF16) for _ in layers]
        vc = [torch.randn(batch, AKV, ctx + 1, DH, device=DEV, dtype=BF16) for _ in layers]
        x = torch.randn(batch, 1, H, device=DEV, dtype=BF16)

        def step():
            h = x
            for layer, k, v in zip(layers, kc, vc):
                h = layer(h, k, v, ctx)
            return F.rms_norm(h, (H,)) @ head.t()

        with torch.no_grad():
            step()
            g = torch.cuda.CUDAGraph()
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                step()
            torch.cuda.current_stream().wait_stream(s)
            with torch.cuda.graph(g):
                step()
            t = timed(g.replay, repeats=30)
        rows.append(dict(kind="decode", name="llama-3.1-8b", m="", k="", n="", batch=batch, ctx=ctx + 1,
                         seconds=t, value=batch / t, unit="token/s"))
        del kc, vc
        torch.cuda.empty_cache()


def prefill(rows, layers):
    head = torch.randn(V, H, device=DEV, dtype=BF16) * 0.02
    for batch, seq in ((1, 2048), (4, 2048), (1, 8192), (8, 1024)):
        x = torch.randn(batch, seq, H, device=DEV, dtype=BF16)

        def fwd():
            h = x
            for layer in layers:
                h = layer(h)
            return F.rms_norm(h[:, -1:], (H,)) @ head.t()  # logits of the last token only

        with torch.no_grad():
            t = timed(fwd, repeats=10, warmup=3)
        rows.append(dict(kind="prefill", name="llama-3.1-8b", m="", k="", n="", batch=batch, ctx=seq,
                         seconds=t, value=batch * seq / t, unit="token/s"))


def train_layer(rows):
    layer = Layer().to(DEV)
    for batch, seq in ((1, 2048), (4, 2048), (1, 8192)):
        x = torch.randn(batch, seq, H, device=DEV, dtype=BF16, requires_grad=True)
        gy = torch.randn(batch, seq, H, device=DEV, dtype=BF16)

        def step():
            y = layer(x)
            y.backward(gy)

        t = timed(step, repeats=10, warmup=3)
        rows.append(dict(kind="train_layer", name="llama-3.1-8b", m="", k="", n="", batch=batch, ctx=seq,
                         seconds=t, value=batch * seq / t, unit="token/s"))


def main(path="gpu_measurements.csv", parts="gemm,hbm,decode,prefill,train,decode_long"):
    torch.manual_seed(0)
    parts = set(parts.split(","))
    props = torch.cuda.get_device_properties(0)
    print(f"device: {props.name}, {props.total_memory / 2**30:.0f} GiB, torch {torch.__version__}")
    rows: list[dict] = []
    if "gemm" in parts:
        gemms(rows)
    if "hbm" in parts:
        hbm(rows)
    layers = [Layer().to(DEV) for _ in range(L)]
    for p in (q for layer in layers for q in layer.parameters()):
        p.requires_grad_(False)
    if "decode" in parts:
        decode(rows, layers)
    if "decode_long" in parts:
        decode(rows, layers, DECODE_LONG)
    if "prefill" in parts:
        prefill(rows, layers)
    del layers
    torch.cuda.empty_cache()
    if "train" in parts:
        train_layer(rows)
    for r in rows:
        r["device"] = props.name
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["device", "kind", "name", "m", "k", "n", "batch", "ctx",
                                          "seconds", "value", "unit"])
        w.writeheader()
        w.writerows(rows)
    for r in rows:
        print(f"{r['kind']:12s} {r['name']:28s} b={r['batch']!s:>4} ctx={r['ctx']!s:>5} "
              f"{r['seconds'] * 1e3:9.3f} ms  {r['value']:.4g} {r['unit']}")


if __name__ == "__main__":
    main(*sys.argv[1:])
