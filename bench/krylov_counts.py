#!/usr/bin/python3
"""Products with the operator that scipy's Krylov solvers take on the real directed graphs, with and
without an incomplete-LU preconditioner, against power iteration's steps to 1e-10: whether another
method than perron's BiCGSTAB could reach issue #16's 0.35x of power's steps (docs/benchmarks.md,
"Solver auto"). The system is PageRank's over the vertices that link out, (I - alpha P_NN^T) z = b,
without perron's elimination of low-degree vertices. The last columns answer the same question for
a direct solve, which takes no steps at all: SuperLU's fill (L + U entries over the system's) and
the time of its factorisation and solve over that of power iteration, both in scipy here (medians of
5 interleaved runs).

    /usr/bin/python3 bench/krylov_counts.py [DATA_DIR]      (default ../shared/data/real)
"""
import os
import statistics
import sys
import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla

ALPHA = 0.85
GRAPHS = [("wiki-Vote.txt", 0), ("hollins.txt", 0), ("p2p-Gnutella08.txt", 0), ("california.el", 0),
          ("email-Eu-core.txt", 1)]  # (file, header lines that are not '#' comments)


def load(path, skip):
    """The graph's 0/1 adjacency (duplicates merged), ids renumbered densely in sorted order."""
    edges = []
    with open(path) as f:
        for i, line in enumerate(f):
            if i < skip or line.startswith("#") or not line.strip():
                continue
            s, d = line.split()[:2]
            edges.append((int(s), int(d)))
    e = np.array(edges, dtype=np.int64)
    ids, dense = np.unique(e.ravel(), return_inverse=True)
    e = dense.reshape(-1, 2)
    n = len(ids)
    a = sp.csr_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    a.sum_duplicates()
    a.data[:] = 1.0
    return a


def power_steps(pt, n):
    """Power iteration from the uniform vector, dangling mass spread uniformly, to L1 change < 1e-10."""
    x, steps = np.full(n, 1.0 / n), 0
    while True:
        y = ALPHA * (pt @ x)
        y += (1.0 - y.sum()) / n
        change, x, steps = np.abs(y - x).sum(), y, steps + 1
        if change < 1e-10:
            return steps


def lu_against_power(m, b, pt, n, repetitions=5):
    """SuperLU (COLAMD order) on m: its fill, and the seconds of factorisation and solve over those of
    power_steps, medians of interleaved runs."""
    lu_s, power_s, fill = [], [], 0.0
    for _ in range(repetitions):
        t = time.perf_counter()
        lu = sla.splu(m, permc_spec="COLAMD")
        lu.solve(b)
        lu_s.append(time.perf_counter() - t)
        fill = (lu.L.nnz + lu.U.nnz) / m.nnz
        t = time.perf_counter()
        power_steps(pt, n)
        power_s.append(time.perf_counter() - t)
    return fill, statistics.median(lu_s) / statistics.median(power_s)


def products(m, b, method, preconditioner=None):
    """Products with m that `method` takes to a relative residual of 1e-11."""
    count = [0]

    def matvec(v):
        count[0] += 1
        return m @ v

    op = sla.LinearOperator(m.shape, matvec=matvec)
    solve = sla.bicgstab if method == "bicgstab" else sla.gmres
    extra = {} if method == "bicgstab" else {"restart": 60}
    _, info = solve(op, b, tol=1e-11, atol=0.0, maxiter=1000, M=preconditioner, **extra)
    return count[0] if info == 0 else f"{count[0]}!"  # ! = did not converge


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                                                               "real")
    if not os.path.isdir(data):
        print(f"SKIP: no data folder {data}")
        return
    print(f"{'graph':20s} {'power':>6s} {'bicgstab':>9s} {'gmres':>6s} {'bicgstab':>9s} {'gmres':>6s} {'bicgstab':>9s} "
          f"{'gmres':>6s} {'LU fill':>8s} {'LU time':>8s}")
    print(f"{'':20s} {'':>6s} {'':>9s} {'':>6s} {'ILU(0)':>9s} {'ILU(0)':>6s} {'ILUT':>9s} {'ILUT':>6s} {'':>8s} "
          f"{'/power':>8s}")
    for name, skip in GRAPHS:
        a = load(os.path.join(data, name), skip)
        n = a.shape[0]
        out = np.asarray(a.sum(axis=1)).ravel()
        linked = np.where(out > 0)[0]
        pt = (sp.diags(1.0 / np.maximum(out, 1)) @ a).T.tocsr()
        m = (sp.eye(len(linked)) - ALPHA * pt[linked][:, linked]).tocsc()
        b = np.full(len(linked), 1.0 / n)
        row = [power_steps(pt, n), products(m, b, "bicgstab"), products(m, b, "gmres")]
        # ILU with no fill beyond m's pattern (scipy's closest to ILU(0)), then threshold ILU with 3x fill.
        for options in ({"drop_tol": 0.0, "fill_factor": 1}, {"drop_tol": 1e-3, "fill_factor": 3}):
            ilu = sla.spilu(m, permc_spec="NATURAL", **options)
            pre = sla.LinearOperator(m.shape, matvec=ilu.solve)
            row += [products(m, b, "bicgstab", pre), products(m, b, "gmres", pre)]
        fill, lu_time = lu_against_power(m, b, pt, n)
        print(f"{name:20s} {row[0]:6d} {row[1]!s:>9s} {row[2]!s:>6s} {row[3]!s:>9s} {row[4]!s:>6s} {row[5]!s:>9s} "
              f"{row[6]!s:>6s} {fill:7.1f}x {lu_time:7.2f}x")


if __name__ == "__main__":
    main()
