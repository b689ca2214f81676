#!/usr/bin/python3
"""Checks perron attention output against a float64 numpy reference computed from the input.

usage: check_attention.py QKV.h5 OUT.h5 [--causal] [--window W] [--softcap C] [--mask NAME]
Fails when ||O - O_ref|| / ||O_ref|| or the same for the LSE is 1e-5 or more."""
import argparse
import sys

import h5py
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("qkv")
ap.add_argument("out")
ap.add_argument("--causal", action="store_true")
ap.add_argument("--window", type=int, default=0)
ap.add_argument("--softcap", type=float, default=0)
ap.add_argument("--mask")
a = ap.parse_args()
f = h5py.File(a.qkv)
q, k, v = (f[n][:].astype(np.float64) for n in ("q", "k", "v"))
g = q.shape[-3] // k.shape[-3]
k, v = np.repeat(k, g, axis=-3), np.repeat(v, g, axis=-3)
s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
if a.softcap > 0:
    s = a.softcap * np.tanh(s / a.softcap)
if a.mask:
    m = f[a.mask][:]
    s = s + (np.where(m, 0.0, -np.inf) if m.dtype == bool else m)
nq, nk = s.shape[-2], s.shape[-1]
i, j = np.arange(nq)[:, None], np.arange(nk)[None, :]
visible = np.ones((nq, nk), bool)
if a.causal:
    visible &= j <= i
if a.window > 0:
    visible &= (j > i - a.window) if a.causal else (np.abs(i - j) < a.window)
s = np.where(visible, s, -np.inf)
mx = s.max(-1, keepdims=True)
finite = np.isfinite(mx)
p = np.where(np.isfinite(s), np.exp(s - np.where(finite, mx, 0)), 0)
l = p.sum(-1, keepdims=True)
o = np.where(l > 0, (p / np.where(l > 0, l, 1)) @ v, 0)
lse = np.where(l > 0, np.where(finite, mx, 0) + np.log(np.where(l > 0, l, 1)), -np.inf)[..., 0]
r = h5py.File(a.out)["attention"]
out, got_lse = r["out"][:], r["lse"][:]
err = np.linalg.norm(out - o) / np.linalg.norm(o)
ok = np.isfinite(lse)
lse_err = np.linalg.norm(got_lse[ok] - lse[ok]) / np.linalg.norm(lse[ok])
print("relative error: out %.2e, lse %.2e; masked rows %d" % (err, lse_err, (~ok).sum()))
if not (np.isfinite(out).all() and err < 1e-5 and lse_err < 1e-5 and (got_lse[~ok] == -np.inf).all()):
    sys.exit("FAIL: attention differs from the float64 reference")
