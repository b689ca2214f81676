"""Checks a `perron tokenrank` result against a dense float64 numpy reference.

Usage: check_tokenrank.py INPUT.h5 RESULT.h5 [--causal] [--window W] [--mask NAME] [--rollout]
                          [--damping A] [--teleport FILE.h5] [--max-l1 X]

The reference builds every A_h = softmax(QKᵀ/√d) (float32 inputs promoted to float64), the chain
of each head and the mean chain, the product over layers (top layer first) with rollout's
(A + I)/2 if asked, and solves (I − αÃ)ᵀ x = t; π = x / Σx.
"""
import argparse
import sys

import h5py
import numpy as np


def attention_matrices(q, k, causal, window, mask):
    hq, n, d = q.shape
    group = hq // k.shape[0]
    out = []
    i, j = np.indices((n, n))
    visible = np.ones((n, n), bool)
    if causal:
        visible &= j <= i
    if window > 0:
        visible &= (j > i - window) if causal else (np.abs(i - j) < window)
    for h in range(hq):
        s = q[h] @ k[h // group].T / np.sqrt(d)
        if mask is not None:
            s = s + mask
        s = np.where(visible, s, -np.inf)
        m = s.max(axis=1, keepdims=True)
        e = np.where(np.isfinite(s), np.exp(s - np.where(np.isfinite(m), m, 0)), 0.0)
        sums = e.sum(axis=1, keepdims=True)
        out.append(np.divide(e, sums, out=np.zeros_like(e), where=sums > 0))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("result")
    ap.add_argument("--causal", action="store_true")
    ap.add_argument("--window", type=int, default=0)
    ap.add_argument("--mask")
    ap.add_argument("--rollout", action="store_true")
    ap.add_argument("--damping", type=float, default=0.85)
    ap.add_argument("--teleport")
    ap.add_argument("--max-l1", type=float, default=1e-9)
    a = ap.parse_args()

    f = h5py.File(a.input, "r")
    layers = [""] if "q" in f else sorted((g for g in f if g.startswith("layer_")), key=lambda g: int(g[6:]))
    mask = None
    if a.mask:
        m = f[a.mask][()]
        mask = np.where(m, 0.0, -np.inf) if m.dtype == bool else m.astype(np.float64)
    chains = None
    rollouts = None  # the rollout chain's, for the /tokenrank/rollout baseline
    for layer in reversed(layers):  # a step applies the top layer first: Ã = A_{L-1} ... A_0
        prefix = layer + "/" if layer else ""
        q = f[prefix + "q"][()].astype(np.float64)
        k = f[prefix + "k"][()].astype(np.float64)
        mats = attention_matrices(q, k, a.causal, a.window, mask)
        mats.append(sum(mats) / len(mats))
        n = q.shape[1]
        halves = [0.5 * m + 0.5 * np.eye(n) for m in mats]
        rollouts = halves if rollouts is None else [c @ m for c, m in zip(rollouts, halves)]
        if a.rollout:
            mats = halves
        chains = mats if chains is None else [c @ m for c, m in zip(chains, mats)]
    n = chains[0].shape[0]
    t = np.full(n, 1.0 / n) if not a.teleport else h5py.File(a.teleport, "r")["teleport"][()].astype(np.float64)
    t = t / t.sum()
    ref = []
    for c in chains:
        x = np.linalg.solve((np.eye(n) - a.damping * c).T, t)
        ref.append(x / x.sum())

    r = h5py.File(a.result, "r")["tokenrank"]
    score, mean = r["score"][()], r["mean_score"][()]
    heads = len(chains) - 1
    assert score.shape == (heads, n), f"/tokenrank/score has shape {score.shape}, expected {(heads, n)}"
    assert mean.shape == (n,), f"/tokenrank/mean_score has shape {mean.shape}"
    errors = [np.abs(score[h] - ref[h]).sum() for h in range(heads)] + [np.abs(mean - ref[-1]).sum()]
    top = r["top_position"][()]
    assert np.allclose(r["top_score"][()], mean[top]), "top_score is not mean_score at top_position"
    assert r.attrs["converged"], "not converged"
    # One undamped step of each chain from uniform (the column sums), and for several layers of
    # the rollout chain; a row that sees no key gives its mass back uniformly.
    def one_step(c):
        u = np.full(n, 1.0 / n)
        y = u @ c
        return y + (1.0 - y.sum()) * u
    for name, mats in (("column_sum", chains), ("rollout", rollouts if len(layers) > 1 else None)):
        if mats is None:
            assert name not in r, "/tokenrank/%s written for one layer" % name
            continue
        want = [one_step(c) for c in mats]
        errors.append(np.abs(r[name][()] - np.array(want[:-1])).sum(axis=1).max())
        errors.append(np.abs(r["mean_" + name][()] - want[-1]).sum())
    # The positional null (uniform attention over the visible keys, the same chain shape) and
    # the scores relative to it, when written (not with --mask).
    if "null_score" in r:
        u = attention_matrices(np.zeros((1, n, 1)), np.zeros((1, n, 1)), a.causal, a.window, None)[0]
        if a.rollout:
            u = 0.5 * u + 0.5 * np.eye(n)
        chain = np.linalg.matrix_power(u, len(layers))
        null = np.linalg.solve((np.eye(n) - a.damping * chain).T, t)
        null /= null.sum()
        errors.append(np.abs(r["null_score"][()] - null).sum())
        rel = mean / null
        errors.append(np.abs(r["mean_relative_score"][()] - rel / rel.sum()).sum())
        rel_h = score / null
        errors.append(np.abs(r["relative_score"][()] - rel_h / rel_h.sum(axis=1, keepdims=True)).sum(axis=1).max())
    else:
        assert a.mask, "/tokenrank/null_score is missing"
    worst = max(errors)
    print(f"tokenrank {a.result}: solver {r.attrs['solver']}, {r.attrs['iterations']} iterations, "
          f"L1 to the float64 reference {worst:.2e} (limit {a.max_l1:g})")
    if not worst < a.max_l1:
        print("FAIL: per chain", errors)
        sys.exit(1)


if __name__ == "__main__":
    main()
