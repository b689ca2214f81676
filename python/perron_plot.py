#!/usr/bin/python3
"""Figures of a perron result file, as PNG.

    /usr/bin/python3 python/perron_plot.py results/quickstart.h5 [--outdir DIR] [--top K]
    /usr/bin/python3 python/perron_plot.py layer0.h5 layer1.h5 ... [--outdir DIR]

writes DIR/NAME-convergence.png (residual per iteration, log scale; for the exact triangular
solve, which has no iterations, a panel that says so), DIR/NAME-scores.png (score against rank,
log-log) and DIR/NAME-top.png (the --top best, labelled with vertex ids, or positions and their
words), and for a TokenRank result DIR/NAME-positions.png (score by position, the mean chain),
DIR/NAME-heads.png (small multiples, one panel per head), DIR/NAME-baselines.png (TokenRank
against the column sums and against the positional null) and, when the result has /tokens,
DIR/NAME-text.png (the text coloured by score / null). Given several TokenRank results (one per
layer, say: `perron tokenrank --q layer_L/q --k layer_L/k`), it draws them all and also
DIR/NAME-compared.png, small multiples of their scores by position, one panel per file, on a
shared scale. Every title names the file and the chain (causal, layers, rollout, teleport).
Prints the paths. Needs h5py, numpy and matplotlib (Debian:
python3-h5py python3-matplotlib).
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


def _chain(r):
    """What the result ranks, for every title: the file and, for TokenRank, the chain."""
    a = r.attrs
    name = os.path.basename(r.path)
    if r.kind.endswith("personalized"):
        return "%s: %d personalized %s, damping %s, solver %s" % (
            name, len(r.seeds), "PageRank vectors" if r.kind.startswith("pagerank") else "TokenRank chains (mean chain)",
            a.get("damping"), a.get("solver_used", a.get("solver")))
    if r.kind == "pagerank":
        return "%s: PageRank, damping %s, %s, solver %s" % (name, a.get("damping"),
                                                            "personalized" if a.get("personalized") else "uniform teleport",
                                                            a.get("solver_used", a.get("solver")))
    return "%s: TokenRank, %s, %s layer%s%s, damping %s, teleport %s" % (
        name, "causal" if a.get("causal") else "not causal", a.get("layers", 1), "s" if a.get("layers", 1) != 1 else "",
        ", rollout" if a.get("rollout") else "", a.get("damping"), a.get("teleport", "uniform"))


def _label(r, i):
    return "%d \"%s\"" % (i, r.tokens[i]) if getattr(r, "tokens", None) is not None else str(i)


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def convergence(r, path):
    fig, ax = plt.subplots(figsize=(6, 4))
    if len(r.residual) == 0:  # the exact causal sweep: nothing to draw, so say why
        ax.axis("off")
        ax.text(0.5, 0.5, "solver %s: solved exactly, no iterations\n(no convergence history to plot)"
                % r.attrs.get("solver"), ha="center", va="center", fontsize=11)
        ax.set_title(_chain(r), fontsize=8)
        _save(fig, path)
        return
    it = np.arange(1, len(r.residual) + 1)
    ax.semilogy(it, np.maximum(r.residual, 1e-300), marker=".", lw=1)
    tol = r.attrs.get("tolerance")
    if tol:
        ax.axhline(tol, color="gray", ls="--", lw=1, label="tolerance %.0e" % tol)
        ax.legend()
    ax.set_xlabel("iteration")
    ax.set_ylabel("L1 change  ||x_k - x_(k-1)||_1")
    ax.set_title("%s\nconvergence: %s iterations" % (_chain(r), r.attrs.get("iterations")), fontsize=8)
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
    ax.set_title("%s\nscore distribution (n = %d)" % (_chain(r), len(s)), fontsize=8)
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _name(r):
    return "TokenRank" if r.kind == "tokenrank" else "PageRank"


def positions(r, path):
    """TokenRank by position: the mean chain, with the positional null when written."""
    fig, ax = plt.subplots(figsize=(7, 4))
    pos = np.arange(r.score.size)
    ax.semilogy(pos, np.maximum(r.score, 1e-300), color="black", lw=1.2, label="mean chain")
    if "null_score" in r.baselines:
        ax.semilogy(pos, np.maximum(r.baselines["null_score"], 1e-300), color="gray", ls="--", lw=1,
                    label="positional null (uniform attention)")
    ax.set_xlabel("position")
    ax.set_ylabel("TokenRank")
    ax.set_title("%s\nby position (N = %d)" % (_chain(r), r.score.size), fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    _save(fig, path)


def heads(r, path):
    """Small multiples: one panel per head, on a shared scale, readable at 8 and more heads."""
    h = len(r.head_scores)
    cols = min(4, h)
    rows = (h + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.2 * rows + 0.6), sharex=True, sharey=True, squeeze=False)
    pos = np.arange(r.score.size)
    for i, ax in enumerate(axes.flat):
        if i >= h:
            ax.axis("off")
            continue
        ax.semilogy(pos, np.maximum(r.head_scores[i], 1e-300), lw=0.8)
        ax.set_title("head %d" % i, fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("%s: TokenRank of each head's chain by position" % _chain(r), fontsize=8)
    _save(fig, path)


def baselines(r, path):
    """TokenRank against the one-step shortcut (column sums) and against the positional null."""
    pairs = [(name, label) for name, label in (("mean_column_sum", "attention received (column sum)"),
                                                ("null_score", "positional null (uniform attention)"))
             if name in r.baselines]
    fig, axes = plt.subplots(1, len(pairs), figsize=(5 * len(pairs), 4.2), squeeze=False)
    k = min(8, r.score.size)
    best = np.argsort(-r.score)[:k]
    for ax, (name, label) in zip(axes.flat, pairs):
        b = r.baselines[name]
        ax.loglog(np.maximum(b, 1e-300), np.maximum(r.score, 1e-300), ".", alpha=0.6)
        lo, hi = max(min(b[b > 0].min(), r.score[r.score > 0].min()), 1e-300), max(b.max(), r.score.max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="equal")
        for i in best:
            ax.annotate(_label(r, i), (b[i], r.score[i]), fontsize=7)
        ax.set_xlabel(label)
        ax.set_ylabel("TokenRank (mean chain)")
        ax.legend(fontsize=7)
    fig.suptitle(_chain(r), fontsize=8)
    _save(fig, path)


def text(r, path):
    """The tokens as words, each coloured by score / positional null (what content adds)."""
    rel = r.baselines["mean_relative_score"] * r.score.size  # 1 = as much as position alone predicts
    fig = plt.figure(figsize=(10, 1.0 + 0.3 * (1 + r.score.size // 12)))
    cmap = plt.get_cmap("coolwarm")
    norm = matplotlib.colors.LogNorm(vmin=max(rel[rel > 0].min(), 1e-3), vmax=max(rel.max(), 1.0 + 1e-9))
    x, y = 0.01, 1.0 - 0.75 / fig.get_figheight()  # below the title
    renderer = fig.canvas.get_renderer()
    for i, word in enumerate(r.tokens):
        t = fig.text(x, y, word, fontsize=9, va="top",
                     bbox=dict(facecolor=cmap(norm(max(rel[i], norm.vmin))), edgecolor="none", pad=1.5))
        width = t.get_window_extent(renderer=renderer).width / fig.bbox.width
        x += width + 0.006
        if x > 0.95:
            x, y = 0.01, y - 0.3 / fig.get_figheight()
    fig.suptitle("%s\nwords coloured by TokenRank / positional null (red: above what position predicts)" % _chain(r),
                 fontsize=8)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def compared(results, path):
    """Small multiples: one panel per result (one per layer, say), TokenRank by position with
    the positional null, on a shared scale."""
    cols = min(4, len(results))
    rows = (len(results) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows + 0.4), sharey=True, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(results):
            ax.axis("off")
            continue
        r = results[i]
        pos = np.arange(r.score.size)
        ax.semilogy(pos, np.maximum(r.score, 1e-300), lw=0.9, label="TokenRank")
        if "null_score" in r.baselines:
            ax.semilogy(pos, np.maximum(r.baselines["null_score"], 1e-300), "k--", lw=0.7, label="null")
        ax.set_title(_chain(r).replace(": ", ":\n", 1), fontsize=7)
        ax.set_xlabel("position", fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
    axes.flat[0].legend(fontsize=6)
    fig.suptitle("TokenRank by position, one panel per result", fontsize=8)
    _save(fig, path)


def top(r, path, k):
    """The k best from the full scores (not only the file's stored top list), labelled."""
    k = min(k, r.score.size)
    order = np.argsort(-r.score, kind="stable")[:k]
    if r.kind == "pagerank":
        labels = [str(v) for v in r.vertex_id[order]]
    else:
        labels = [_label(r, i) for i in order]
    fig, ax = plt.subplots(figsize=(7, 0.3 * k + 1.5))
    ax.barh(np.arange(k)[::-1], r.score[order])
    ax.set_yticks(np.arange(k)[::-1])
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("%s score" % _name(r))
    ax.set_ylabel("vertex id" if r.kind == "pagerank" else "position")
    ax.set_title("%s\ntop %d %s" % (_chain(r), k, "vertices" if r.kind == "pagerank" else "positions"), fontsize=8)
    _save(fig, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("result", nargs="+", help="one result, or several TokenRank results to compare")
    ap.add_argument("--outdir", default=None, help="where to write the PNGs (default: beside the result)")
    ap.add_argument("--top", type=int, default=20, help="bars in the top-k chart (from the full scores)")
    a = ap.parse_args()
    try:
        results = [perron_h5.load(path) for path in a.result]
    except (OSError, ValueError) as e:
        sys.exit("perron_plot: %s" % e)
    for r in results:
        draw(r, a.outdir, a.top)
    if len(results) > 1:
        if any(r.kind != "tokenrank" for r in results):
            sys.exit("perron_plot: several files are compared only when all are TokenRank results")
        outdir = a.outdir or os.path.dirname(os.path.abspath(a.result[0]))
        path = os.path.join(outdir, os.path.splitext(os.path.basename(a.result[0]))[0] + "-compared.png")
        compared(results, path)
        print(path)


def personalized(r, path, columns=60, rows=40):
    """A batch: each vector's scores over the vertices (or positions) that take the most mass
    across the batch, log scale; one row per seed set or query."""
    fig, ax = plt.subplots(figsize=(9, 5))
    if r.personalized is None:  # --top-k only: each vector's top list
        ax.axis("off")
        ax.text(0.5, 0.5, "written with --top-k: each vector's top list only\n(no matrix to draw; see r.top)",
                ha="center", va="center", fontsize=11)
    else:
        m = r.personalized[:rows]
        keep = np.sort(np.argsort(-m.sum(axis=0), kind="stable")[:columns])
        names = r.vertex_id[keep] if r.kind.startswith("pagerank") else keep
        im = ax.imshow(np.log10(np.maximum(m[:, keep], 1e-12)), aspect="auto", cmap="viridis")
        fig.colorbar(im, ax=ax, label="log10 score")
        ax.set_xticks(range(len(keep)))
        ax.set_xticklabels([str(v) for v in names], rotation=90, fontsize=5)
        ax.set_yticks(range(m.shape[0]))
        ax.set_yticklabels([str(s)[:24] for s in r.seeds[:rows]], fontsize=6)
        ax.set_xlabel("the %d %s with the most mass over the batch" % (len(keep), "vertices" if r.kind.startswith(
            "pagerank") else "positions"))
        ax.set_ylabel("personalized on")
    ax.set_title(_chain(r), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def draw(r, outdir, top_k):
    """Every figure of one result; prints their paths."""
    outdir = outdir or os.path.dirname(os.path.abspath(r.path))
    os.makedirs(outdir, exist_ok=True)
    stem = os.path.join(outdir, os.path.splitext(os.path.basename(r.path))[0])
    if r.kind.endswith("personalized"):
        made = [stem + "-convergence.png", stem + "-personalized.png"]
        convergence(r, made[0])
        personalized(r, made[1])
        print("\n".join(made))
        return
    made = [stem + "-convergence.png", stem + "-scores.png", stem + "-top.png"]
    convergence(r, made[0])
    scores(r, made[1])
    top(r, made[2], top_k)
    if r.kind == "tokenrank":
        made.append(stem + "-positions.png")
        positions(r, made[-1])
        made.append(stem + "-heads.png")
        heads(r, made[-1])
        if "mean_column_sum" in r.baselines or "null_score" in r.baselines:
            made.append(stem + "-baselines.png")
            baselines(r, made[-1])
        if r.tokens is not None and "mean_relative_score" in r.baselines:
            made.append(stem + "-text.png")
            text(r, made[-1])
    for p in made:
        print(p)


if __name__ == "__main__":
    main()
