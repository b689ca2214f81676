#!/usr/bin/python3
"""Baseline for bench/pagerank.sh: PageRank power iteration with scipy's CSR SpMV (float64),
same conventions as perron (Graph500 edges read as undirected, or as directed with --directed;
duplicates collapsed, self-loops kept, dangling mass to the uniform teleport). Prints one JSON line with seconds per iteration,
peak RSS and the scores' checksum; writes the scores for the cross-check when asked.

usage: scipy_pagerank.py EDGES.bin ITERATIONS [SCORES.npy] [--directed]
"""
import json
import resource
import sys
import time

import numpy as np
import scipy.sparse as sp


def graph_matrix(path, directed=False):
    """The graph of a binary Graph500 edge list as perron reads it with --undirected: ids (sorted
    original ids) and A with A[v, u] = 1 for each edge u - v in either direction, duplicates
    collapsed, a self-loop once; `directed`: each edge u → v in its own direction only."""
    pairs = np.fromfile(path, dtype="<u8").reshape(-1, 2)
    if directed:
        src, dst = pairs[:, 0].copy(), pairs[:, 1].copy()
    else:
        src = np.concatenate([pairs[:, 0], pairs[pairs[:, 0] != pairs[:, 1], 1]])
        dst = np.concatenate([pairs[:, 1], pairs[pairs[:, 0] != pairs[:, 1], 0]])
    del pairs
    ids = np.unique(np.concatenate([src, dst]))
    n = len(ids)
    s = np.searchsorted(ids, src).astype(np.int64)
    d = np.searchsorted(ids, dst).astype(np.int64)
    del src, dst
    A = sp.csr_matrix((np.ones(len(s)), (d, s)), shape=(n, n))  # A[v, u] = 1 for u → v
    A.sum_duplicates()
    A.data[:] = 1.0                                               # collapse duplicates
    return ids, A


def main():
    directed = "--directed" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--directed"]
    path, iterations = args[0], int(args[1])
    t0 = time.perf_counter()
    ids, A = graph_matrix(path, directed)
    n = len(ids)
    out = np.asarray(A.sum(axis=0)).ravel()
    dangling = out == 0
    inv = np.where(dangling, 0.0, 1.0 / np.where(dangling, 1.0, out))
    load_s = time.perf_counter() - t0
    alpha = 0.85
    x = np.full(n, 1.0 / n)
    t1 = time.perf_counter()
    for _ in range(iterations):
        y = alpha * (A @ (x * inv)) + (alpha * x[dangling].sum() + 1.0 - alpha) / n
        x = y
    iterate_s = time.perf_counter() - t1
    if len(args) > 2:
        np.save(args[2], np.stack([ids.astype(np.float64), x]))
    print(json.dumps({"n": int(n), "m": int(A.nnz), "load_s": load_s, "s_per_iteration": iterate_s / iterations,
                      "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


if __name__ == "__main__":
    main()
