"""The torch bridge (python/perron_torch.py) end to end: models of each supported kind built
here with fixed seeds, exported, and perron's attention and TokenRank checked against torch's
own outputs and a float64 dense oracle.

Usage: torch_bridge.py PERRON MPIEXEC WORK SOURCE_DIR

Kinds: a bare nn.MultiheadAttention (batch first, biases), an nn.TransformerEncoder of two causal
layers (seq first), an nn.TransformerDecoderLayer (its self-attention captured, its
cross-attention skipped), and a custom module with grouped-query attention (4 query heads, 2 key
heads), rotary embeddings taken after the rotation, and its own scale. perron's attention output
must match torch's to 1e-5 relative: for MultiheadAttention through the module's own out_proj,
against what the module returned; for the custom module, against its own attention output.
"""
import math
import os
import subprocess
import sys

import h5py
import numpy as np
import torch

perron, mpiexec, work, source = sys.argv[1:5]
sys.path.insert(0, os.path.join(source, "python"))
import perron_torch  # noqa: E402

torch.manual_seed(7)
failures = 0


def check(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    failures += 0 if ok else 1


def run(*args, ranks=2):
    cmd = [mpiexec, "-np", str(ranks), "--oversubscribe", "--bind-to", "none", perron, *args, "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("step failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r


def perron_attention(path, layer, ranks=2):
    out = os.path.join(work, "att-%s-%d.h5" % (os.path.basename(path), layer))
    run("attention", "--input", path, "--q", "layer_%d/q" % layer, "--k", "layer_%d/k" % layer, "--v", "layer_%d/v" % layer,
        "--output", out, "--overwrite", ranks=ranks)
    with h5py.File(out) as f:
        return f["attention/out"][:].astype(np.float64)


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


words = ["w%d" % i for i in range(40)]

# 1. A bare MultiheadAttention, batch first, with biases: through its own out_proj.
mha = torch.nn.MultiheadAttention(32, 4, batch_first=True).eval()
x = torch.randn(1, 24, 32)
cap = perron_torch.capture(mha, x, x, x)
path = perron_torch.write(os.path.join(work, "mha.h5"), cap, tokens=words[:24], model="bare MultiheadAttention")
out = perron_attention(path, 0)  # [heads, N, d]
mine = out.transpose(1, 0, 2).reshape(24, 32) @ mha.out_proj.weight.detach().numpy().T + mha.out_proj.bias.detach().numpy()
check(rel(mine, cap.layers[0].output[0]) < 1e-5, "MultiheadAttention: perron's attention through out_proj = torch's output "
      "(rel %.1e)" % rel(mine, cap.layers[0].output[0]))
with h5py.File(path) as f:
    check(f["layer_0/q"].shape == (4, 24, 8) and not f.attrs["causal"] and "scale" not in f.attrs
          and list(f["tokens"].asstr()[:3]) == ["w0", "w1", "w2"], "MultiheadAttention: layout, tokens, attributes")

# 2. A causal TransformerEncoder of two layers (sequence first): every layer's attention, and
#    TokenRank of the two-layer chain against the dense float64 oracle.
layer = torch.nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, dropout=0.0)
encoder = torch.nn.TransformerEncoder(layer, 2).eval()
src = torch.randn(20, 1, 32)
mask = torch.nn.Transformer.generate_square_subsequent_mask(20)
cap = perron_torch.capture(encoder, src, mask=mask)
path = perron_torch.write(os.path.join(work, "enc.h5"), cap, tokens=words[:20], model="TransformerEncoder, 2 layers")
check(len(cap.layers) == 2 and cap.causal, "TransformerEncoder: two causal layers captured")
for index, captured in enumerate(cap.layers):
    mod = encoder.layers[index].self_attn
    out = perron_attention(path, index, ranks=3)
    mine = out.transpose(1, 0, 2).reshape(20, 32) @ mod.out_proj.weight.detach().numpy().T + mod.out_proj.bias.detach().numpy()
    check(rel(mine, captured.output[0]) < 1e-5, "TransformerEncoder layer %d: causal attention = torch's (rel %.1e)"
          % (index, rel(mine, captured.output[0])))
result = os.path.join(work, "enc-tr.h5")
run("tokenrank", "--input", path, "--output", result, "--overwrite", "--precision", "double", "--tolerance", "1e-13")
r = subprocess.run([sys.executable, os.path.join(source, "tests/python/check_tokenrank.py"), path, result, "--causal"],
                   capture_output=True, text=True)
check(r.returncode == 0, "TransformerEncoder: TokenRank of both layers = the dense float64 oracle " + r.stdout.strip())
with h5py.File(result) as f:
    check(list(f["tokenrank/top_token"].asstr()[:3]) == [words[int(p)] for p in f["tokenrank/top_position"][:3]]
          and len(f["tokens"]) == 20, "TransformerEncoder: the words flow to /tokens and /tokenrank/top_token")
made = subprocess.run([sys.executable, os.path.join(source, "python/perron_plot.py"), result, "--outdir", work, "--top", "15"],
                      capture_output=True, text=True, check=True).stdout.split()
check(any(m.endswith("-text.png") for m in made) and any(m.endswith("-baselines.png") for m in made),
      "perron_plot draws the text coloured by relative score and the baselines: %s" % [os.path.basename(m) for m in made])

# 3. A TransformerDecoderLayer: its self-attention is captured, its cross-attention skipped.
dec = torch.nn.TransformerDecoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True).eval()
tgt, memory = torch.randn(1, 12, 16), torch.randn(1, 9, 16)
cap = perron_torch.capture(dec, tgt, memory)
check(len(cap.layers) == 1 and cap.layers[0].name == "self_attn" and any("multihead_attn" in s for s in cap.skipped),
      "TransformerDecoderLayer: self-attention captured, cross-attention skipped (%s)" % cap.skipped)
path = perron_torch.write(os.path.join(work, "dec.h5"), cap)
out = perron_attention(path, 0, ranks=1)
mod = dec.self_attn
mine = out.transpose(1, 0, 2).reshape(12, 16) @ mod.out_proj.weight.detach().numpy().T + mod.out_proj.bias.detach().numpy()
check(rel(mine, cap.layers[0].output[0]) < 1e-5, "TransformerDecoderLayer: self-attention = torch's (rel %.1e)"
      % rel(mine, cap.layers[0].output[0]))


# 4. A custom attention with GQA, rotary embeddings applied in a submodule of their own, and a
#    scale of its own: captured after the rotation, written with kv_heads key heads.
class Rotary(torch.nn.Module):
    """RoPE on [batch, heads, N, d] (rotate-half form); returns the rotated (q, k)."""

    def forward(self, q, k):
        n, d = q.shape[-2], q.shape[-1]
        inv = 1.0 / (10000 ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
        ang = torch.arange(n, dtype=torch.float32)[:, None] * inv[None, :]
        cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)

        def rot(x):
            x1, x2 = x[..., : d // 2], x[..., d // 2:]
            return x * cos + torch.cat([-x2, x1], -1) * sin
        return rot(q), rot(k)


class GqaAttention(torch.nn.Module):
    def __init__(self, e=32, heads=4, kv_heads=2, scale=0.3):
        super().__init__()
        self.heads, self.kv_heads, self.d, self.scale = heads, kv_heads, e // heads, scale
        self.q_proj = torch.nn.Linear(e, e)
        self.k_proj = torch.nn.Linear(e, kv_heads * self.d)
        self.v_proj = torch.nn.Linear(e, kv_heads * self.d)
        self.rotary = Rotary()

    def forward(self, x):
        b, n, _ = x.shape
        q = self.q_proj(x).view(b, n, self.heads, self.d).transpose(1, 2)
        k = self.k_proj(x).view(b, n, self.kv_heads, self.d).transpose(1, 2)
        v = self.v_proj(x).view(b, n, self.kv_heads, self.d).transpose(1, 2)
        q, k = self.rotary(q, k)
        group = self.heads // self.kv_heads
        k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
        s = q @ k.transpose(-1, -2) * self.scale
        s = s.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1), float("-inf"))
        return torch.softmax(s, -1) @ v  # [b, heads, N, d]


gqa = GqaAttention().eval()
x = torch.randn(1, 18, 32)
with torch.no_grad():
    own = gqa(x)[0].numpy().astype(np.float64)
spec = perron_torch.Projections(q="rotary:0", k="rotary:1", v=lambda o: o["v_proj"].view(1, 18, 2, 8).transpose(1, 2),
                                heads=4, kv_heads=2, layout="bhnd", causal=True, scale=0.3)
cap = perron_torch.capture(gqa, x, modules=[spec])
path = perron_torch.write(os.path.join(work, "gqa.h5"), cap, tokens=words[:18], model="GQA with RoPE")
with h5py.File(path) as f:
    check(f["layer_0/q"].shape == (4, 18, 8) and f["layer_0/k"].shape == (2, 18, 8) and bool(f.attrs["causal"])
          and abs(f.attrs["scale"] - 0.3) < 1e-15, "GQA: 4 query heads, 2 key heads as they are, causal, scale 0.3")
out = perron_attention(path, 0, ranks=2)
check(rel(out, own) < 1e-5, "GQA with RoPE: perron's attention = the module's own (rel %.1e)" % rel(out, own))
# Captured before the rotation instead, the scores differ: the point of hooking after it.
before = perron_torch.capture(gqa, x, modules=[perron_torch.Projections(q="q_proj", k="k_proj", v="v_proj", heads=4,
                                                                        kv_heads=2, causal=True, scale=0.3)])
path = perron_torch.write(os.path.join(work, "gqa-before.h5"), before)
check(rel(perron_attention(path, 0, ranks=1), own) > 1e-2, "GQA: the projections before RoPE do not give the model's attention")
result = os.path.join(work, "gqa-tr.h5")
run("tokenrank", "--input", os.path.join(work, "gqa.h5"), "--output", result, "--overwrite", "--precision", "double",
    "--tolerance", "1e-13")
with h5py.File(os.path.join(work, "gqa.h5")) as f:
    q, k = f["layer_0/q"][:].astype(np.float64), f["layer_0/k"][:].astype(np.float64)
s_ = np.einsum("hnd,hmd->hnm", q, np.repeat(k, 2, axis=0)) * 0.3
s_ = np.where(np.tril(np.ones((18, 18), bool)), s_, -np.inf)
a = np.exp(s_ - s_.max(-1, keepdims=True))
a = (a / a.sum(-1, keepdims=True)).mean(0)
t = np.full(18, 1 / 18)
x_ = np.linalg.solve((np.eye(18) - 0.85 * a).T, t)
x_ /= x_.sum()
with h5py.File(result) as f:
    got = f["tokenrank/mean_score"][:]
check(np.abs(got - x_).sum() < 1e-9, "GQA: TokenRank = the dense float64 oracle (L1 %.1e)" % np.abs(got - x_).sum())

# 5. What the bridge refuses: a model without MultiheadAttention and no projections named, a
#    mask other than the causal one, and a submodule name that is not there.
for what, call in (("no attention named", lambda: perron_torch.capture(torch.nn.Linear(4, 4), torch.randn(2, 4))),
                   ("a non-causal mask", lambda: perron_torch.capture(mha, x, x, x, attn_mask=torch.zeros(18, 18).fill_(-1.0))),
                   ("an unknown submodule", lambda: perron_torch.capture(gqa, x, modules=[perron_torch.Projections(q="nope", k="k_proj")]))):
    try:
        call()
        check(False, "refuses " + what)
    except ValueError as e:
        check(True, "refuses %s: %s" % (what, e))

print("%d check(s) failed" % failures if failures else "all checks passed")
sys.exit(1 if failures else 0)
