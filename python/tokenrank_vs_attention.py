#!/usr/bin/python3
"""TokenRank against the attention a token receives.

    tokenrank_vs_attention.py TOKENRANK.h5 GRAPH.h5 [--top K]

TOKENRANK.h5 is a `perron tokenrank` result, GRAPH.h5 the `perron attention-graph --top-k N`
export of the same input and head (the mean chain by default). The attention a token receives is
its column sum c_j = sum_i A_ij, i.e. one undamped step u^T A from uniform u, normalised to sum 1;
TokenRank is the damped stationary distribution, where attention received from important tokens
counts for more. Prints their L1 distance, Spearman and Pearson correlations, the overlap of
their top-K sets, and the tokens where they disagree most.
"""
import argparse

import h5py
import numpy as np


def ranks(x):
    order = np.argsort(-x, kind="stable")
    r = np.empty(x.size)
    r[order] = np.arange(x.size)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tokenrank")
    ap.add_argument("graph")
    ap.add_argument("--top", type=int, default=10)
    a = ap.parse_args()
    pi = h5py.File(a.tokenrank, "r")["tokenrank/mean_score"][()]
    g = h5py.File(a.graph, "r")
    n = pi.size
    received = np.bincount(g["dst"][()].astype(np.int64), weights=g["weight"][()], minlength=n)
    received = received / received.sum()
    spearman = np.corrcoef(ranks(pi), ranks(received))[0, 1]
    pearson = np.corrcoef(pi, received)[0, 1]
    k = min(a.top, n)
    top_pi, top_c = set(np.argsort(-pi)[:k]), set(np.argsort(-received)[:k])
    print(f"N = {n}: L1(TokenRank, column sums) = {np.abs(pi - received).sum():.4f}, Spearman {spearman:.4f}, "
          f"Pearson {pearson:.4f}, top-{k} overlap {len(top_pi & top_c)}/{k}")
    print(f"largest score: TokenRank {pi.max():.4g} at {pi.argmax()}, column sums {received.max():.4g} at {received.argmax()}")
    ratio = pi / np.maximum(received, 1e-300)
    for name, idx in (("TokenRank above column sum", np.argsort(-ratio)[:3]), ("TokenRank below column sum", np.argsort(ratio)[:3])):
        print(name + ": " + ", ".join(f"{i} ({pi[i]:.3g} vs {received[i]:.3g})" for i in idx))


if __name__ == "__main__":
    main()
