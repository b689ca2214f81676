#!/usr/bin/python3
"""Figures of a perron result file, as PNG.

    /usr/bin/python3 python/perron_plot.py results/quickstart.h5 [--outdir DIR] [--top K]

writes DIR/NAME-convergence.png (residual per iteration, log scale), DIR/NAME-scores.png (score
against rank, log-log) and DIR/NAME-top.png (top-k bar chart with vertex ids or positions), and
for a TokenRank result DIR/NAME-positions.png (score by position, every head and the mean chain);
prints their paths. Needs h5py, numpy and matplotlib (Debian: python3-h5py python3-matplotlib).
"""
import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only: no display needed on a cluster node
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import perron_h5  # noqa: E402


def convergence(r, path):
    fig, ax = plt.subplots(figsize=(6, 4))
    it = np.arange(1, len(r.residual) + 1)
    ax.semilogy(it, np.maximum(r.residual, 1e-300), marker=".", lw=1)
    tol = r.attrs.get("tolerance")
    if tol:
        ax.axhline(tol, color="gray", ls="--", lw=1, label="tolerance %.0e" % tol)
        ax.legend()
    ax.set_xlabel("iteration")
    ax.set_ylabel("L1 change  ||x_k - x_(k-1)||_1")
    ax.set_title("Convergence: %s iterations, damping %s" % (r.attrs.get("iterations"), r.attrs.get("damping")))
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def scores(r, path):
    fig, ax = plt.subplots(figsize=(6, 4))
    s = np.sort(r.score)[::-1]
    ax.loglog(np.arange(1, len(s) + 1), s, lw=1)
    ax.axhline(1.0 / len(s), color="gray", ls="--", lw=1, label="uniform 1/n")
    ax.set_xlabel("rank")
    ax.set_ylabel("%s score" % _name(r))
    ax.set_title("Score distribution (n = %d)" % len(s))
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _name(r):
    return "TokenRank" if r.kind == "tokenrank" else "PageRank"


def heads(r, path):
    """TokenRank by position: the mean chain and every head's chain."""
    fig, ax = plt.subplots(figsize=(7, 4))
    pos = np.arange(r.score.size)
    for h, row in enumerate(r.head_scores):
        ax.semilogy(pos, np.maximum(row, 1e-300), lw=0.6, alpha=0.6, label="head %d" % h if len(r.head_scores) <= 8 else None)
    ax.semilogy(pos, np.maximum(r.score, 1e-300), color="black", lw=1.2, label="mean chain")
    ax.set_xlabel("position")
    ax.set_ylabel("TokenRank")
    ax.set_title("TokenRank by position (N = %d, damping %s)" % (r.score.size, r.attrs.get("damping")))
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def top(r, path, k):
    key = "vertex_id" if r.kind == "pagerank" else "position"
    ids = np.asarray(r.top[key])[:k]
    vals = np.asarray(r.top["score"])[:k]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(ids) + 1.5))
    ax.barh(np.arange(len(ids))[::-1], vals)
    ax.set_yticks(np.arange(len(ids))[::-1])
    ax.set_yticklabels([str(i) for i in ids])
    ax.set_xlabel("%s score" % _name(r))
    ax.set_ylabel(key.replace("_", " "))
    ax.set_title("Top %d %s" % (len(ids), "vertices" if r.kind == "pagerank" else "positions"))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("result")
    ap.add_argument("--outdir", default=None, help="where to write the PNGs (default: beside the result)")
    ap.add_argument("--top", type=int, default=20, help="bars in the top-k chart")
    a = ap.parse_args()
    try:
        r = perron_h5.load(a.result)
    except (OSError, ValueError) as e:
        sys.exit("perron_plot: %s" % e)
    outdir = a.outdir or os.path.dirname(os.path.abspath(a.result))
    os.makedirs(outdir, exist_ok=True)
    stem = os.path.join(outdir, os.path.splitext(os.path.basename(a.result))[0])
    made = [stem + "-convergence.png", stem + "-scores.png", stem + "-top.png"]
    convergence(r, made[0])
    scores(r, made[1])
    top(r, made[2], a.top)
    if r.kind == "tokenrank":
        made.append(stem + "-positions.png")
        heads(r, made[-1])
    for p in made:
        print(p)


if __name__ == "__main__":
    main()
