#!/usr/bin/python3
"""TokenRank against the attention a token receives.

    tokenrank_vs_attention.py TOKENRANK.h5 GRAPH.h5 [--top K]

TOKENRANK.h5 is a `perron tokenrank` result, GRAPH.h5 the `perron attention-graph --top-k N`
export of the same input and head (the mean chain by default). The attention a token receives is
its column sum c_j = sum_i A_ij, i.e. one undamped step u^T A from uniform u, normalised to sum 1;
TokenRank is the damped stationary distribution, where attention received from important tokens
counts for more. Prints their L1 distance, Spearman and Pearson correlations, the overlap of
their top-K sets, and the tokens where they disagree most; with --plot, draws TokenRank against
the column sums (log-log, the top tokens labelled).

The two files must describe the same chain: the same N, batch entry, causal mask, window,
scale and softcap, a single layer (the export's --layer, and a TokenRank of that one layer) and
the same head (the export's --head; -1, the mean chain, compares with /tokenrank/mean_score).
Anything else is refused with the attribute that differs: comparing N = 8192 with N = 2048
would print numbers about nothing.
"""
import argparse

import h5py
import numpy as np


def ranks(x):
    order = np.argsort(-x, kind="stable")
    r = np.empty(x.size)
    r[order] = np.arange(x.size)
    return r


def same_chain(tokenrank, graph, tr_path, graph_path):
    """The score vector of `tokenrank` that the export's chain matches; SystemExit naming the
    attribute that differs."""
    t, g = tokenrank["tokenrank"].attrs, graph.attrs
    if g.get("source_format") != "attention-graph":
        raise SystemExit(f"{graph_path} is not a perron attention-graph export (no source_format = attention-graph)")
    for name in ("n", "batch_index", "causal", "window", "scale", "softcap", "mask", "rollout"):
        if name in t and name in g and t[name] != g[name]:
            raise SystemExit(f"{tr_path} and {graph_path} describe different chains: {name} = {t[name]} and {g[name]}")
    if int(t.get("layers", 1)) != 1:
        raise SystemExit(f"{tr_path} ranks the product of {int(t['layers'])} layers; {graph_path} exports one layer's "
                         "attention: rank that layer alone (perron tokenrank --q layer_L/q --k layer_L/k) to compare")
    head = int(g.get("head", -1))
    return tokenrank["tokenrank/mean_score"][()] if head < 0 else tokenrank["tokenrank/score"][head]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tokenrank")
    ap.add_argument("graph")
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--plot", help="PNG: TokenRank against the column sums")
    a = ap.parse_args()
    tr = h5py.File(a.tokenrank, "r")
    g = h5py.File(a.graph, "r")
    pi = same_chain(tr, g, a.tokenrank, a.graph)
    n = pi.size
    dst = g["dst"][()].astype(np.int64)
    if dst.size and dst.max() >= n:
        raise SystemExit(f"{a.graph} has edges into position {dst.max()}, past the N = {n} of {a.tokenrank}")
    received = np.bincount(dst, weights=g["weight"][()], minlength=n)
    received = received / received.sum()
    spearman = np.corrcoef(ranks(pi), ranks(received))[0, 1]
    pearson = np.corrcoef(pi, received)[0, 1]
    k = min(a.top, n)
    top_pi, top_c = set(np.argsort(-pi)[:k]), set(np.argsort(-received)[:k])
    print(f"N = {n}: L1(TokenRank, column sums) = {np.abs(pi - received).sum():.4f}, Spearman {spearman:.4f}, "
          f"Pearson {pearson:.4f}, top-{k} overlap {len(top_pi & top_c)}/{k}")
    print(f"largest score: TokenRank {pi.max():.4g} at {pi.argmax()}, column sums {received.max():.4g} at {received.argmax()}")
    ratio = pi / np.maximum(received, 1e-300)
    words = tr["tokens"].asstr()[()] if "tokens" in tr else None
    label = (lambda i: f'{i} "{words[i]}"') if words is not None else str
    for name, idx in (("TokenRank above column sum", np.argsort(-ratio)[:3]), ("TokenRank below column sum", np.argsort(ratio)[:3])):
        print(name + ": " + ", ".join(f"{label(i)} ({pi[i]:.3g} vs {received[i]:.3g})" for i in idx))
    if a.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 5))
        ax.loglog(received, pi, ".", alpha=0.6)
        lo = max(min(received[received > 0].min(), pi[pi > 0].min()), 1e-12)
        hi = max(received.max(), pi.max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="equal")
        for i in np.argsort(-pi)[:k]:
            ax.annotate(label(i), (received[i], pi[i]), fontsize=7)
        head = int(g.attrs.get("head", -1))
        ax.set_xlabel("attention received (column sum, normalised)")
        ax.set_ylabel("TokenRank")
        ax.set_title(f"{a.tokenrank}: TokenRank vs column sums\nN = {n}, {'mean chain' if head < 0 else f'head {head}'}, "
                     f"causal {bool(g.attrs.get('causal', 0))}, Spearman {spearman:.3f}", fontsize=9)
        ax.legend()
        fig.tight_layout()
        fig.savefig(a.plot, dpi=120)
        print("wrote", a.plot)


if __name__ == "__main__":
    main()
