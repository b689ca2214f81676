#!/usr/bin/python3
"""Checks a perron PageRank result file the way a user reads it (h5py), against an
independent float64 oracle (scipy sparse power iteration) on the same edge list.

usage: check_pagerank.py RESULT.h5 EDGELIST [--undirected] [--personalization FILE]
       [--expect-ranks N] [--damping D]
       check_pagerank.py --compare A.h5 B.h5 --max-l1 X
"""
import argparse
import sys

import h5py
import numpy as np
import scipy.sparse as sp


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def load_edges(path):
    rows = []
    with open(path) as f:
        for line in f:
            t = line.split()
            if not t or t[0][0] in "#%":
                continue
            rows.append((int(t[0]), int(t[1]), float(t[2]) if len(t) > 2 else 1.0))
    return np.array(rows, dtype=object)


def oracle(edges, undirected, damping, personalization):
    src = np.array([int(e) for e in edges[:, 0]], dtype=np.uint64)
    dst = np.array([int(e) for e in edges[:, 1]], dtype=np.uint64)
    w = np.array([float(e) for e in edges[:, 2]])
    if undirected:
        keep = src != dst
        src, dst, w = np.concatenate([src, dst[keep]]), np.concatenate([dst, src[keep]]), np.concatenate([w, w[keep]])
    ids = np.unique(np.concatenate([src, dst]))
    n = len(ids)
    s, d = np.searchsorted(ids, src), np.searchsorted(ids, dst)
    # duplicates collapse to the largest weight
    key = s.astype(np.int64) * n + d
    order = np.lexsort((-w, key))
    key, w = key[order], w[order]
    first = np.concatenate([[True], key[1:] != key[:-1]])
    key, w = key[first], w[first]
    A = sp.csr_matrix((w, (key // n, key % n)), shape=(n, n))
    out = np.asarray(A.sum(axis=1)).ravel()
    dangling = out == 0
    P = sp.diags(np.where(dangling, 0.0, 1.0 / np.where(dangling, 1.0, out))) @ A
    PT = P.T.tocsr()
    t = np.full(n, 1.0 / n)
    if personalization:
        t = np.zeros(n)
        for line in open(personalization):
            f = line.split()
            if f and f[0][0] not in "#%":
                t[np.searchsorted(ids, int(f[0]))] += float(f[1]) if len(f) > 1 else 1.0
        t /= t.sum()
    x = t.copy()
    for _ in range(10000):
        y = damping * (PT @ x) + damping * x[dangling].sum() * t + (1 - damping) * t
        done = np.abs(y - x).sum() < 1e-14
        x = y
        if done:
            break
    return ids, x


def check_layout(f):
    for name in ["score", "vertex_id", "residual", "top_vertex_id", "top_score"]:
        if "pagerank/" + name not in f:
            fail("missing dataset /pagerank/" + name)
    g = f["pagerank"]
    for a in ["damping", "tolerance", "iterations", "converged", "n", "m", "dangling", "convention", "eliminated"]:
        if a not in g.attrs:
            fail("missing attribute /pagerank@" + a)
    p = f["provenance"].attrs
    for a in ["perron_version", "git_commit", "command_line", "config", "ranks", "threads_per_rank", "host",
              "start_time", "end_time", "load_s", "partition_s", "plan_s", "iterate_s", "write_s"]:
        if a not in p:
            fail("missing attribute /provenance@" + a)
    if not isinstance(p["config"], str) or "[pagerank]" not in p["config"]:
        fail("config attribute is not the TOML text: %r" % p["config"])
    if g["score"].dtype != np.float64 or g["vertex_id"].dtype != np.uint64:
        fail("wrong dtypes %s %s" % (g["score"].dtype, g["vertex_id"].dtype))
    if len(g["residual"]) != g.attrs["iterations"]:
        fail("residual has %d entries for %d iterations" % (len(g["residual"]), g.attrs["iterations"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("result")
    ap.add_argument("edges", nargs="?")
    ap.add_argument("--undirected", action="store_true")
    ap.add_argument("--personalization")
    ap.add_argument("--damping", type=float, default=0.85)
    ap.add_argument("--expect-ranks", type=int)
    ap.add_argument("--compare")
    ap.add_argument("--max-l1", type=float, default=1e-12)
    a = ap.parse_args()
    f = h5py.File(a.result, "r")
    check_layout(f)
    g = f["pagerank"]
    ids, x = g["vertex_id"][:], g["score"][:]
    if a.compare:
        h = h5py.File(a.compare, "r")["pagerank"]
        if not (h["vertex_id"][:] == ids).all():
            fail("vertex ids differ")
        l1 = np.abs(h["score"][:] - x).sum()
        print("L1(%s, %s) = %.3e" % (a.result, a.compare, l1))
        if not l1 <= a.max_l1:
            fail("L1 %.3e > %.1e" % (l1, a.max_l1))
        return
    if a.expect_ranks is not None and f["provenance"].attrs["ranks"] != a.expect_ranks:
        fail("ranks = %d, expected %d" % (f["provenance"].attrs["ranks"], a.expect_ranks))
    if abs(x.sum() - 1.0) > 1e-12:
        fail("scores sum to %.17g" % x.sum())
    if not (np.diff(ids.astype(np.float64)) > 0).all():
        fail("vertex_id is not increasing")
    oid, ox = oracle(load_edges(a.edges), a.undirected, a.damping, a.personalization)
    if not (oid == ids).all():
        fail("vertex sets differ: %d vs %d" % (len(oid), len(ids)))
    l1 = np.abs(ox - x).sum()
    # tolerance 1e-10 on the step bounds the error by about tol·α/(1−α)
    if not l1 < 1e-9:
        fail("L1 to the scipy oracle %.3e" % l1)
    top = g["top_vertex_id"][:]
    best = ids[np.lexsort((ids, -x))][: len(top)]
    if not (top == best).all():
        fail("top_vertex_id %s != %s" % (top[:5], best[:5]))
    if not np.allclose(g["top_score"][:], np.sort(x)[::-1][: len(top)], rtol=0, atol=0):
        fail("top_score does not match the scores")
    print("OK %s: n=%d, %d iterations, L1 to scipy oracle %.2e" % (a.result, len(ids), g.attrs["iterations"], l1))


main()
