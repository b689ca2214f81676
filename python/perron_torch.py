#!/usr/bin/python3
"""perron_torch: Q, K and V out of a torch model, into the HDF5 layout that `perron attention`,
`perron tokenrank` and `perron attention-graph` read.

    import perron_torch
    cap = perron_torch.capture(model, input_ids)                 # every self-attention module
    perron_torch.write("qkv.h5", cap, tokens=words, model="tiny LM, step 2000")
    # then: mpirun -np 2 perron tokenrank --input qkv.h5 --output tr.h5

What is captured, layer by layer, in the order the layers run:
- `torch.nn.MultiheadAttention` (and so every `nn.TransformerEncoderLayer` and the self-attention
  of every `nn.TransformerDecoderLayer`): its own input projection applied to the query and key it
  is called with (`in_proj_weight` split in three, or `q_proj_weight`/`k_proj_weight`/
  `v_proj_weight`, with their biases), cut into heads; its scale is 1/√d, perron's default. A
  causal mask (the float −∞ upper triangle of `nn.Transformer.generate_square_subsequent_mask`,
  or a boolean one) or `is_causal=True` marks the layer causal. Cross-attention (query and key
  different tensors, as a decoder's `multihead_attn`) is skipped: TokenRank ranks a sequence by
  its attention to itself.
- Any other attention module, with `Projections(q=..., k=..., v=..., heads=H, kv_heads=Hk)`
  naming the submodules whose outputs are the queries, keys and values ([batch,] N, H·d, or
  already [batch, H, N, d] with `layout="bhnd"`). For rotary embeddings (RoPE), name the point
  after the rotation: the scores are q·k of the rotated vectors, so the q and k to capture are
  the rotated ones, not the projections' outputs. In a model that rotates inside its attention's
  forward (as most do), wrap the rotation in a module of its own (one returning (q, k), named as
  `q="attn.rotary:0"` and `k="attn.rotary:1"`: `:i` takes the i-th output), or pass callables
  `q=lambda module_outputs: ...`. With grouped-query attention (GQA) the keys have fewer heads
  than the queries; they are written as they are (kv_heads heads), and perron shares each key
  head among heads/kv_heads query heads, as the model does.

The file (a contract; README "Real models"): `layer_{l}/q`, `layer_{l}/k`, `layer_{l}/v`
float32 [heads, N, d] (or [batch, heads, N, d] for a batch of several); `/tokens` UTF-8 strings
[N] (or [batch, N]); root attributes `causal` (bool), `scale` (only when not 1/√d) and `model`
(free text).

Command line (a model saved whole with torch.save):
    python3 perron_torch.py MODEL.pt --ids 5,17,3 [--tokens a,b,c] --output qkv.h5 [--model TEXT]
"""
import argparse
import math
import sys
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Union

import h5py
import numpy as np
import torch

Source = Union[str, Callable]


@dataclass
class Projections:
    """Where a custom attention module's q, k and v come from: submodule names relative to the
    model (with ':i' for the i-th of a tuple output), or callables given the dict of every
    submodule's output by name. heads: query heads; kv_heads: key/value heads (GQA; default heads)."""
    q: Source
    k: Source
    v: Optional[Source] = None
    heads: int = 1
    kv_heads: Optional[int] = None
    layout: str = "bnhd"  # "bnhd": [batch, N, heads·d]; "bhnd": [batch, heads, N, d]
    causal: bool = False
    scale: Optional[float] = None  # None: 1/√d


@dataclass
class Layer:
    name: str
    q: np.ndarray  # [batch, heads, N, d]
    k: np.ndarray  # [batch, kv_heads, N, d]
    v: Optional[np.ndarray]
    causal: bool
    scale: Optional[float]
    output: Optional[np.ndarray] = None  # MultiheadAttention: the module's own output [batch, N, E]


@dataclass
class Capture:
    layers: List[Layer] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)  # modules not captured, and why

    @property
    def causal(self):
        return bool(self.layers) and all(layer.causal for layer in self.layers)


def _numpy(t):
    return t.detach().to(torch.float32).cpu().numpy()


def _is_causal_mask(mask, n):
    """Whether an attention mask is the causal one: -inf (or True = masked, for a boolean mask)
    exactly above the diagonal."""
    if mask is None or mask.dim() != 2 or mask.shape[0] != n or mask.shape[1] != n:
        return False
    above = torch.triu(torch.ones(n, n, dtype=torch.bool, device=mask.device), diagonal=1)
    if mask.dtype == torch.bool:
        return bool(torch.equal(mask, above))
    return bool(torch.isneginf(mask[above]).all()) and bool((mask[~above] == 0).all())


def _split_heads(x, heads, batch_first):
    """[N, B, E] (or [B, N, E] when batch_first) → [B, heads, N, E/heads]."""
    if not batch_first:
        x = x.transpose(0, 1)
    b, n, e = x.shape
    return x.reshape(b, n, heads, e // heads).permute(0, 2, 1, 3)


def _mha_projections(m, query, key, value):
    """q, k, v of a MultiheadAttention call: its input projections, as its forward applies them."""
    e = m.embed_dim
    if m._qkv_same_embed_dim:
        wq, wk, wv = m.in_proj_weight[:e], m.in_proj_weight[e:2 * e], m.in_proj_weight[2 * e:]
    else:
        wq, wk, wv = m.q_proj_weight, m.k_proj_weight, m.v_proj_weight
    bq = bk = bv = None
    if m.in_proj_bias is not None:
        bq, bk, bv = m.in_proj_bias[:e], m.in_proj_bias[e:2 * e], m.in_proj_bias[2 * e:]
    lin = torch.nn.functional.linear
    return lin(query, wq, bq), lin(key, wk, bk), lin(value, wv, bv)


def _unbatched(x):
    return x.dim() == 2


def capture(model, *inputs, modules=None, **kwargs):
    """Runs model(*inputs, **kwargs) once and records q, k and v per self-attention layer.

    modules: None (every torch.nn.MultiheadAttention used as self-attention, in the order they
    run), or a list of MultiheadAttention submodule names and Projections, in layer order."""
    named = dict(model.named_modules())
    out = Capture()
    records = []  # (order key, Layer)
    restore = []
    hooks = []
    outputs = {}  # custom sources: submodule name → its last output

    def mha_wrapper(name, m):
        name = name or type(m).__name__  # the model itself
        original = m.forward

        def forward(query, key, value, *args, **kw):
            result = original(query, key, value, *args, **kw)
            if query is not key:
                out.skipped.append(f"{name}: cross-attention (query and key differ)")
                return result
            with torch.no_grad():
                batch_first = m.batch_first and not _unbatched(query)
                qq, kk, vv = (t.unsqueeze(1) if _unbatched(t) else t for t in (query, key, value))
                q, k, v = _mha_projections(m, qq, kk, vv)
                n = qq.shape[1] if batch_first else qq.shape[0]
                mask = kw.get("attn_mask", args[1] if len(args) > 1 else None)
                causal = bool(kw.get("is_causal", False)) or _is_causal_mask(mask, n)
                if mask is not None and not causal:
                    raise ValueError(f"{name}: an attention mask that is not the causal one is not supported")
                if kw.get("key_padding_mask") is not None and bool(kw["key_padding_mask"].any()):
                    raise ValueError(f"{name}: padded keys (key_padding_mask) are not supported: export one "
                                     "unpadded sequence per batch entry")
                own = result[0]
                own = own.unsqueeze(1) if _unbatched(query) else own
                if not batch_first:
                    own = own.transpose(0, 1)
                records.append(Layer(name, _numpy(_split_heads(q, m.num_heads, batch_first)),
                                     _numpy(_split_heads(k, m.num_heads, batch_first)),
                                     _numpy(_split_heads(v, m.num_heads, batch_first)), causal, None, _numpy(own)))
            return result

        m.forward = forward
        restore.append(lambda: delattr(m, "forward"))

    def store(name):
        def hook(_module, _args, result):
            outputs[name] = result
        return hook

    projections = []
    if modules is None:
        modules = [n for n, m in named.items() if isinstance(m, torch.nn.MultiheadAttention)]
        if not modules:
            raise ValueError("the model has no torch.nn.MultiheadAttention: name its attention's projections with "
                             "modules=[Projections(q=..., k=..., heads=...)]")
    def watch(base):
        if base not in outputs:
            outputs[base] = None
            hooks.append(named[base].register_forward_hook(store(base)))

    for spec in modules:
        if isinstance(spec, Projections):
            projections.append(spec)
            for source in (spec.q, spec.k, spec.v):
                if isinstance(source, str):
                    base = source.split(":")[0]
                    if base not in named:
                        raise ValueError(f"no submodule named '{base}' in the model")
                    watch(base)
                elif callable(source):  # it may read any submodule's output
                    for base in named:
                        if base:
                            watch(base)
        elif spec in named and isinstance(named[spec], torch.nn.MultiheadAttention):
            mha_wrapper(spec, named[spec])
        else:
            raise ValueError(f"'{spec}' is neither a torch.nn.MultiheadAttention of the model nor a Projections")
    # Keep the Python path of the attention: the fused inference path of nn.TransformerEncoder
    # layers skips MultiheadAttention.forward when no gradient is needed.
    was = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in was:
            p.requires_grad_(True)
        with torch.enable_grad():
            model(*inputs, **kwargs)
    finally:
        for p, flag in was:
            p.requires_grad_(flag)
        for undo in restore:
            undo()
        for h in hooks:
            h.remove()
    for index, spec in enumerate(projections):
        records.append(_custom_layer(f"projections {index}", spec, outputs))
    out.layers = records
    if not out.layers:
        raise ValueError("no self-attention ran: " + "; ".join(out.skipped))
    return out


def _custom_layer(name, spec, outputs):
    def pick(source):
        if callable(source):
            return source(outputs)
        base, _, index = source.partition(":")
        value = outputs[base]
        if value is None:
            raise ValueError(f"submodule '{base}' did not run")
        return value[int(index)] if index else value

    def heads_first(x, heads):
        with torch.no_grad():
            if spec.layout == "bhnd":
                return _numpy(x if x.dim() == 4 else x.unsqueeze(0))
            x = x if x.dim() == 3 else x.unsqueeze(0)
            b, n, e = x.shape
            return _numpy(x.reshape(b, n, heads, e // heads).permute(0, 2, 1, 3))

    kv = spec.kv_heads or spec.heads
    return Layer(name, heads_first(pick(spec.q), spec.heads), heads_first(pick(spec.k), kv),
                 heads_first(pick(spec.v), kv) if spec.v is not None else None, spec.causal, spec.scale)


def write(path, cap, tokens=None, causal=None, model=""):
    """Writes a capture in perron's layout (see the module's doc). tokens: N strings, or batch
    lists of N; causal: overrides what the capture found."""
    layers = cap.layers
    first = layers[0]
    batch, _, n, d = first.q.shape
    for layer in layers:
        if layer.q.shape[0] != batch or layer.q.shape[2] != n:
            raise ValueError(f"{layer.name}: every layer needs the batch and N of {first.name}")
    is_causal = cap.causal if causal is None else bool(causal)
    with h5py.File(path, "w") as f:
        for index, layer in enumerate(layers):
            g = f.create_group(f"layer_{index}")
            for key in ("q", "k", "v"):
                value = getattr(layer, key)
                if value is None:
                    continue
                g.create_dataset(key, data=value[0] if batch == 1 else value, dtype="f4")
            g.attrs["module"] = layer.name
        f.attrs["causal"] = is_causal
        scales = {layer.scale for layer in layers}
        if len(scales) > 1:
            raise ValueError("the layers use different scales; perron reads one per file")
        scale = scales.pop()
        if scale is not None and not math.isclose(scale, 1.0 / math.sqrt(d), rel_tol=1e-12):
            f.attrs["scale"] = float(scale)
        f.attrs["model"] = model
        if tokens is not None:
            arr = np.array(tokens, dtype=object)
            if arr.shape[-1] != n or (arr.ndim == 2 and arr.shape[0] != batch):
                raise ValueError(f"tokens: {arr.shape} strings for batch {batch} and N {n}")
            if arr.ndim == 2 and batch == 1:
                arr = arr[0]
            f.create_dataset("tokens", data=arr.astype(str).astype(object), dtype=h5py.string_dtype("utf-8"))
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="a model saved whole with torch.save(model, FILE)")
    ap.add_argument("--ids", required=True, help="comma-separated token ids of one sequence")
    ap.add_argument("--tokens", help="comma-separated words, one per id")
    ap.add_argument("--output", required=True)
    ap.add_argument("--model-text", default="", help="free text for the file's 'model' attribute")
    a = ap.parse_args(argv)
    model = torch.load(a.model, map_location="cpu")
    model.eval()
    ids = torch.tensor([[int(t) for t in a.ids.split(",")]])
    cap = capture(model, ids)
    write(a.output, cap, tokens=a.tokens.split(",") if a.tokens else None, model=a.model_text or a.model)
    print(f"wrote {a.output}: {len(cap.layers)} layers, N = {ids.shape[1]}, causal = {cap.causal}"
          + (f"; skipped {'; '.join(cap.skipped)}" if cap.skipped else ""))


if __name__ == "__main__":
    sys.exit(main())
