#!/usr/bin/python3
"""Driver of bench/pagerank.sh: interleaves repetitions of scipy and perron configurations
on one generated graph, reports medians and ratios as a table and as JSON."""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

import h5py
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--perron", required=True)
ap.add_argument("--scale", type=int, default=20)
ap.add_argument("--edge-factor", type=int, default=16)
ap.add_argument("--iterations", type=int, default=20)
ap.add_argument("--repetitions", type=int, default=5)
ap.add_argument("--json", required=True)
a = ap.parse_args()

here = os.path.dirname(os.path.abspath(__file__))
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_btl_vader_single_copy_mechanism="none", OMPI_MCA_rmaps_base_oversubscribe="1",
           OPENBLAS_NUM_THREADS="1", HDF5_USE_FILE_LOCKING="FALSE")
work = tempfile.mkdtemp(prefix="perron-bench-")
graph = os.path.join(work, "kron.bin")


def run(cmd, **kw):
    r = subprocess.run(cmd, env=kw.pop("env", env), capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit("benchmark step failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r.stdout


print("generating Kronecker scale %d, edge factor %d ..." % (a.scale, a.edge_factor), flush=True)
run(["mpirun", "-np", "2", "--bind-to", "none", a.perron, "generate", "kronecker", "--scale", str(a.scale),
     "--edge-factor", str(a.edge_factor), "--seed", "1", "--output", graph])

configs = [("scipy CSR (baseline)", None, None), ("perron", 1, 2), ("perron", 2, 1)]
samples = {i: [] for i in range(len(configs))}
rss = {i: [] for i in range(len(configs))}
info = {}
for rep in range(a.repetitions):
    for i, (name, ranks, threads) in enumerate(configs):
        if ranks is None:
            out = json.loads(run(["/usr/bin/python3", os.path.join(here, "scipy_pagerank.py"), graph, str(a.iterations),
                                  os.path.join(work, "scipy.npy")], env=dict(env, OMP_NUM_THREADS="2")))
            samples[i].append(out["s_per_iteration"])
            rss[i].append(out["peak_rss_bytes"])
            info.update(n=out["n"], m=out["m"])
            continue
        result = os.path.join(work, "r%d.h5" % i)
        run(["mpirun", "-np", str(ranks), "--bind-to", "none", a.perron, "pagerank", "--input", graph, "--undirected",
             "--iterations", str(a.iterations), "--threads", str(threads), "--output", result, "--overwrite", "--quiet",
             "--top-k", "10"])
        with h5py.File(result) as f:
            p = f["provenance"].attrs
            samples[i].append(p["iterate_s"] / f["pagerank"].attrs["iterations"])
            rss[i].append(int(p["peak_rss_bytes_sum"]))
            info["halo_bytes_%d" % ranks] = int(f["pagerank"].attrs["halo_bytes_per_iteration"])
    print("repetition %d/%d done" % (rep + 1, a.repetitions), flush=True)

# Cross-check: perron's scores equal scipy's (same iterations, same conventions).
ref = np.load(os.path.join(work, "scipy.npy"))
with h5py.File(os.path.join(work, "r1.h5")) as f:
    l1 = float(np.abs(f["pagerank/score"][:] - ref[1]).sum())
    same_ids = bool((f["pagerank/vertex_id"][:].astype(np.float64) == ref[0]).all())

base = statistics.median(samples[0])
rows = []
for i, (name, ranks, threads) in enumerate(configs):
    med = statistics.median(samples[i])
    rows.append({"kernel": name, "ranks": ranks or 1, "threads": threads or 2, "s_per_iteration": med,
                 "edges_per_s": info["m"] / med, "speedup_vs_scipy": base / med,
                 "peak_rss_bytes": statistics.median(rss[i]), "samples": samples[i]})
print()
print("Kronecker scale %d (edge factor %d): n = %d, m = %d directed edges, %d iterations, %d interleaved repetitions"
      % (a.scale, a.edge_factor, info["n"], info["m"], a.iterations, a.repetitions))
print("%-22s %5s %7s %12s %12s %9s %14s" % ("kernel", "ranks", "threads", "s/iteration", "edges/s", "vs scipy", "peak RSS (MB)"))
for r in rows:
    print("%-22s %5d %7d %12.4f %12.3e %8.2fx %14.0f" % (r["kernel"], r["ranks"], r["threads"], r["s_per_iteration"],
                                                       r["edges_per_s"], r["speedup_vs_scipy"], r["peak_rss_bytes"] / 1e6))
print("halo bytes sent per iteration at 2 ranks (sum over ranks): %d" % info.get("halo_bytes_2", 0))
print("cross-check: L1(perron 1x2, scipy) = %.2e, same vertex ids: %s" % (l1, same_ids))
json.dump({"scale": a.scale, "edge_factor": a.edge_factor, "iterations": a.iterations, "repetitions": a.repetitions,
           **info, "rows": rows, "l1_vs_scipy": l1}, open(a.json, "w"), indent=1)
print("wrote", a.json)
if not (l1 < 1e-9 and same_ids):
    sys.exit("cross-check failed")
shutil.rmtree(work, ignore_errors=True)
