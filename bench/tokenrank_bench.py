#!/usr/bin/python3
"""Driver of bench/tokenrank.sh. Times come from each run's /provenance (compute_s of attention;
lse_s and solve_s of tokenrank), so process start-up and I/O are not counted; peak RSS too."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import h5py

ap = argparse.ArgumentParser()
ap.add_argument("--perron", required=True)
ap.add_argument("--repetitions", type=int, default=5)
ap.add_argument("--budget", type=float, default=60.0)
ap.add_argument("--json", required=True)
a = ap.parse_args()
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OPENBLAS_NUM_THREADS="1",
           HDF5_USE_FILE_LOCKING="FALSE")
work = tempfile.mkdtemp(prefix="perron-tokenrank-bench-")
out = os.path.join(work, "out.h5")
report = {}


def run(cmd, threads=2):
    r = subprocess.run(cmd, env=dict(env, OMP_NUM_THREADS=str(threads)), capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("step failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r.stdout


def generate(n, heads, d, structure="random"):
    path = os.path.join(work, "qkv_%s_%d_%d_%d.h5" % (structure, n, heads, d))
    if not os.path.exists(path):
        run([a.perron, "generate", "qkv", "--heads", str(heads), "--seq", str(n), "--dim", str(d), "--structure", structure,
             "--output", path])
    return path


def tokenrank(path, threads, *extra):
    run([a.perron, "tokenrank", "--input", path, "--output", out, "--overwrite", "--quiet", "--threads", str(threads)] + list(extra),
        threads)
    with h5py.File(out) as f:
        p, t = f["provenance"].attrs, f["tokenrank"].attrs
        return dict(lse_s=float(p["lse_s"]), solve_s=float(p["solve_s"]), iterations=int(t["iterations"]),
                    converged=bool(t["converged"]), solver=str(t["solver"]), rss=int(p["peak_rss_bytes_max_rank"]))


def attention(path, threads):
    run([a.perron, "attention", "--input", path, "--output", out, "--overwrite", "--quiet", "--threads", str(threads)], threads)
    with h5py.File(out) as f:
        return float(f["provenance"].attrs["compute_s"])


# (1) One step against one forward pass, same input, same threads; 4 fixed steps per run.
print("one TokenRank step against one forward attention pass (heads 2, d 64; medians of %d interleaved runs)" % a.repetitions)
print("%6s %7s %12s %12s %12s %8s" % ("N", "threads", "forward s", "step s", "LSE pass s", "step/fwd"))
rows = []
for n in (4096, 8192):
    path = generate(n, 2, 64)
    for threads in (1, 2):
        fwd, step, lse = [], [], []
        for _ in range(a.repetitions):
            fwd.append(attention(path, threads))
            r = tokenrank(path, threads, "--max-iterations", "4", "--tolerance", "1e-300")
            step.append(r["solve_s"] / r["iterations"])
            lse.append(r["lse_s"])
        f, s, l = statistics.median(fwd), statistics.median(step), statistics.median(lse)
        rows.append(dict(n=n, threads=threads, forward_s=f, step_s=s, lse_s=l, ratio=s / f))
        print("%6d %7d %12.4f %12.4f %12.4f %7.2fx" % (n, threads, f, s, l, s / f))
report["step_vs_forward"] = rows

# (2) Iterations to 1e-10 by structure; the causal chain by power iteration and by the sweep.
print("\niterations to L1 < 1e-10 (N 4096, heads 4, d 64, 2 threads, damping 0.85)")
print("%-9s %-7s %-11s %10s %10s %10s" % ("input", "causal", "solver", "iterations", "solve s", "total s"))
rows = []
for structure in ("random", "sink", "clusters"):
    path = generate(4096, 4, 64, structure)
    for causal, solver in ((False, "power"), (True, "power"), (True, "triangular")):
        r = tokenrank(path, 2, "--solver", solver, *(["--causal"] if causal else []))
        rows.append(dict(structure=structure, causal=causal, **r))
        print("%-9s %-7s %-11s %10d %10.3f %10.3f" % (structure, causal, r["solver"], r["iterations"], r["solve_s"],
                                                     r["solve_s"] + r["lse_s"]))
report["iterations"] = rows

# (3) The longest sequence ranked within the budget (random, heads 1, d 64, 2 threads).
print("\nlongest sequence ranked to 1e-10 within %.0f s (heads 1, d 64, 2 threads)" % a.budget)
print("%8s %10s %10s %12s %14s" % ("N", "iterations", "total s", "peak RSS MB", "RSS/N (bytes)"))
rows, n = [], 8192
while True:
    path = generate(n, 1, 64)
    r = tokenrank(path, 2)
    total = r["lse_s"] + r["solve_s"]
    rows.append(dict(n=n, total_s=total, **r))
    print("%8d %10d %10.2f %12.1f %14.0f" % (n, r["iterations"], total, r["rss"] / 2**20, r["rss"] / n))
    os.remove(path)
    # Time grows as N^2: double N while the next run fits the budget, else try 1.5x, else stop.
    if total * 4.3 < a.budget:
        n *= 2
    elif total * 2.4 < a.budget and n % 2 == 0 and n & (n - 1) == 0:
        n = n * 3 // 2
    else:
        break
report["reach"] = rows
reached = max((row for row in rows if row["total_s"] <= a.budget), key=lambda row: row["n"], default=None)
if reached:
    print("reached N = %d in %.1f s (an N x N float32 matrix would be %.1f GB)" % (reached["n"], reached["total_s"],
                                                                                  4.0 * reached["n"] ** 2 / 1e9))
with open(a.json, "w") as f:
    json.dump(report, f, indent=1)
print("wrote", a.json)
