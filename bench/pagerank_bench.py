#!/usr/bin/python3
"""Driver of bench/pagerank.sh: interleaves repetitions of scipy and perron configurations
on one generated graph, then runs the in-process peers (perron_pagerank_peers: the textbook
pull loop as the baseline, perron's kernel, SuiteSparse:GraphBLAS, STREAM, time to 1e-10 by
solver with each plan's build time), then PETSc (perron_petsc_pagerank: KSPCG to 1e-10 and MatMult) against perron's
command line at 2 ranks x 1 thread; reports medians and ratios to the baseline as a table and
as JSON."""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--perron", required=True)
ap.add_argument("--peers", required=True, help="the perron_pagerank_peers binary")
ap.add_argument("--petsc", help="the perron_petsc_pagerank binary (the PETSc row; skipped when absent)")
ap.add_argument("--scale", type=int, default=22)
ap.add_argument("--edge-factor", type=int, default=16)
ap.add_argument("--iterations", type=int, default=20)
ap.add_argument("--repetitions", type=int, default=5)
ap.add_argument("--json", required=True)
ap.add_argument("--directed", action="store_true", help="read the Graph500 edges as directed (a web graph's shape)")
ap.add_argument("--baseline-perron", help="an older perron binary: its end-to-end runs go in the table beside this one's")
a = ap.parse_args()
direction = [] if a.directed else ["--undirected"]

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

configs = [("scipy CSR", None, None), ("perron", 1, 2), ("perron", 2, 1)]
samples = {i: [] for i in range(len(configs))}
rss = {i: [] for i in range(len(configs))}
steady = {}  # RSS while iterating, summed over ranks
info = {}
for rep in range(a.repetitions):
    for i, (name, ranks, threads) in enumerate(configs):
        if ranks is None:
            out = json.loads(run(["/usr/bin/python3", os.path.join(here, "scipy_pagerank.py"), graph, str(a.iterations),
                                  os.path.join(work, "scipy.npy")] + (["--directed"] if a.directed else []),
                                 env=dict(env, OMP_NUM_THREADS="2")))
            samples[i].append(out["s_per_iteration"])
            rss[i].append(out["peak_rss_bytes"])
            info.update(n=out["n"], m=out["m"])
            continue
        result = os.path.join(work, "r%d.h5" % i)
        run(["mpirun", "-np", str(ranks), "--bind-to", "none", a.perron, "pagerank", "--input", graph, *direction,
             "--iterations", str(a.iterations), "--threads", str(threads), "--output", result, "--overwrite", "--quiet",
             "--top-k", "10"])
        with h5py.File(result) as f:
            p = f["provenance"].attrs
            samples[i].append(p["iterate_s"] / f["pagerank"].attrs["iterations"])
            rss[i].append(int(p["peak_rss_bytes_sum"]))
            steady.setdefault(i, []).append(int(f["pagerank"].attrs["iterating_rss_bytes_sum"]))
            info["halo_bytes_%d" % ranks] = int(f["pagerank"].attrs["halo_bytes_per_iteration"])
    print("repetition %d/%d done" % (rep + 1, a.repetitions), flush=True)

# Cross-check: perron's scores equal scipy's (same iterations, same conventions).
ref = np.load(os.path.join(work, "scipy.npy"))
with h5py.File(os.path.join(work, "r1.h5")) as f:
    l1 = float(np.abs(f["pagerank/score"][:] - ref[1]).sum())
    same_ids = bool((f["pagerank/vertex_id"][:].astype(np.float64) == ref[0]).all())

# The in-process peers on the same file: textbook pull loop (the baseline), perron's kernel,
# GraphBLAS, STREAM, and time to 1e-10 by solver (interleaved inside the program).
print("running the in-process peers (baseline, perron, GraphBLAS, STREAM, solvers) ...", flush=True)
peers = json.loads(run(["mpirun", "-np", "1", "--bind-to", "none", a.peers, graph, str(a.iterations), str(a.repetitions)]
                       + (["directed"] if a.directed else []), env=dict(env, OMP_NUM_THREADS="2")).strip().splitlines()[-1])

# End to end, as a user runs it: from the binary edge list to the HDF5 result at 1e-10, with the
# default solver (auto) and with power iteration, at 1 x 2 and 2 x 1 (and an older perron's
# default run when given); wall time of the whole mpirun, and each phase from /provenance.
print("running end to end (load, partition, plan, solve, write) ...", flush=True)
e2e_configs = [(label, binary, solver, ranks)
               for label, binary, solver in (("perron, solver auto", a.perron, "auto"), ("perron, solver power", a.perron, "power"),
                                             ("baseline perron (its default)", a.baseline_perron, None))
               if binary for ranks in (1, 2)]
e2e = {c: [] for c in e2e_configs}
for rep in range(a.repetitions):
    for c in e2e_configs:
        label, binary, solver, ranks = c
        result = os.path.join(work, "e2e.h5")
        t0 = time.perf_counter()
        run(["mpirun", "-np", str(ranks), "--bind-to", "none", binary, "pagerank", "--input", graph, *direction,
             "--tolerance", "1e-10", "--threads", str(2 // ranks), "--output", result, "--overwrite", "--quiet", "--top-k", "10",
             *(["--solver", solver] if solver else [])])
        wall = time.perf_counter() - t0
        with h5py.File(result) as f:
            p, r = f["provenance"].attrs, f["pagerank"].attrs
            e2e[c].append(dict(wall_s=wall, load_s=p["load_s"] + p.get("check_s", 0.0), partition_s=p["partition_s"],
                               plan_s=p.get("plan_s", 0.0), solve_s=p["iterate_s"], write_s=p.get("write_s", 0.0),
                               iterations=int(r["iterations"]), solver=str(r.get("solver_used", r.get("solver", ""))),
                               peak_rss_bytes=int(p["peak_rss_bytes_sum"])))
    print("end to end: repetition %d/%d done" % (rep + 1, a.repetitions), flush=True)

# PETSc at 2 ranks x 1 thread (its Debian build runs one thread per rank) against perron's
# command line at the same shape: time to L1 < 1e-10 by conjugate gradients, and one sparse
# product. Interleaved and repeated; medians.
petsc = None
if a.petsc and os.path.exists(a.petsc) and not a.directed:  # CG needs a symmetric graph
    print("running PETSc (KSPCG, MatMult) and perron at 2 ranks x 1 thread ...", flush=True)
    matrix = os.path.join(work, "kron.petsc")
    run(["/usr/bin/python3", os.path.join(here, "petsc_matrix.py"), graph, matrix])
    tol = {"petsc": [], "power": [], "cg": []}
    for rep in range(a.repetitions):
        out = json.loads(run(["mpirun", "-np", "2", "--bind-to", "none", a.petsc, "-f", matrix, "-repetitions", "1"],
                             env=dict(env, OMP_NUM_THREADS="1")).strip().splitlines()[-1])
        tol["petsc"].append(out)
        for solver in ("power", "cg"):
            result = os.path.join(work, "tol-%s.h5" % solver)
            run(["mpirun", "-np", "2", "--bind-to", "none", a.perron, "pagerank", "--input", graph, "--undirected",
                 "--solver", solver, "--tolerance", "1e-10", "--threads", "1", "--output", result, "--overwrite", "--quiet",
                 "--top-k", "1"])
            with h5py.File(result) as f:
                tol[solver].append((f["provenance"].attrs["iterate_s"], int(f["pagerank"].attrs["iterations"]),
                                    float(f["pagerank/residual"][-1]), f["provenance"].attrs["plan_s"]))
    petsc = {"cg_iterations": tol["petsc"][0]["cg_iterations"], "cg_s": statistics.median(o["cg_s"] for o in tol["petsc"]),
             "cg_l1": tol["petsc"][0]["cg_l1"], "matmult_s": statistics.median(o["matmult_s"] for o in tol["petsc"]),
             "perron_power_s": statistics.median(t[0] for t in tol["power"]), "perron_power_iterations": tol["power"][0][1],
             "perron_cg_s": statistics.median(t[0] for t in tol["cg"]), "perron_cg_iterations": tol["cg"][0][1],
             "perron_cg_l1": tol["cg"][0][2], "perron_power_plan_s": statistics.median(t[3] for t in tol["power"]),
             "perron_cg_plan_s": statistics.median(t[3] for t in tol["cg"])}

base = peers["baseline_s"]
m = info["m"]
rows = [{"kernel": "plain CSR pull (baseline)", "ranks": 1, "threads": 2, "s_per_iteration": base, "peak_rss_bytes": None},
        {"kernel": "perron kernel (in-process)", "ranks": 1, "threads": 2, "s_per_iteration": peers["perron_s"], "peak_rss_bytes": None},
        {"kernel": "perron, plain CSR kernel", "ranks": 1, "threads": 2, "s_per_iteration": peers["perron_csr_s"], "peak_rss_bytes": None}]
if peers["graphblas_s"] > 0:
    rows.append({"kernel": "SuiteSparse:GraphBLAS", "ranks": 1, "threads": 2, "s_per_iteration": peers["graphblas_s"],
                 "peak_rss_bytes": None})
if petsc:
    rows.append({"kernel": "PETSc MatMult (AIJ)", "ranks": 2, "threads": 1, "s_per_iteration": petsc["matmult_s"],
                 "peak_rss_bytes": None})
for i, (name, ranks, threads) in enumerate(configs):
    rows.append({"kernel": name if ranks is None else "perron (command line)", "ranks": ranks or 1, "threads": threads or 2,
                 "s_per_iteration": statistics.median(samples[i]), "peak_rss_bytes": statistics.median(rss[i]), "samples": samples[i]})
for r in rows:
    r["edges_per_s"] = m / r["s_per_iteration"]
    r["time_vs_baseline"] = r["s_per_iteration"] / base
print()
print("Kronecker scale %d (edge factor %d) read as %s: n = %d, m = %d directed edges, %d iterations, %d interleaved repetitions"
      % (a.scale, a.edge_factor, "directed" if a.directed else "undirected", info["n"], m, a.iterations, a.repetitions))
print("STREAM triad (2 threads): %.1f GB/s; one pass over the CSR (4m + 24n bytes) at that rate: %.4f s"
      % (peers["stream_triad_gbs"], (4.0 * m + 24.0 * info["n"]) / (peers["stream_triad_gbs"] * 1e9)))
print("%-28s %5s %7s %12s %12s %14s %14s" % ("kernel or peer", "ranks", "threads", "s/iteration", "edges/s", "time vs base",
                                              "peak RSS (MB)"))
for r in rows:
    rss_text = "%14.0f" % (r["peak_rss_bytes"] / 1e6) if r["peak_rss_bytes"] else "%14s" % "-"
    print("%-28s %5d %7d %12.4f %12.3e %13.2fx %s" % (r["kernel"], r["ranks"], r["threads"], r["s_per_iteration"],
                                                      r["edges_per_s"], r["time_vs_baseline"], rss_text))
cli = {(r["ranks"], r["threads"]): r for r in rows if r["kernel"] == "perron (command line)"}
overhead = cli[(2, 1)]["s_per_iteration"] / cli[(1, 2)]["s_per_iteration"]
print("distributed overhead: 2 ranks x 1 thread / 1 rank x 2 threads = %.2fx; halo bytes sent per iteration "
      "(sum over ranks, exactly the ghost values read): %d" % (overhead, info.get("halo_bytes_2", 0)))
print("time to L1 < 1e-10 from the uniform start (in-process, 1 rank x 2 threads; plan = layout and eliminated set):")
print("%-42s %10s %9s %10s %15s %20s %12s" % ("solver", "iterations", "plan (s)", "solve (s)", "solve vs power",
                                              "plan+solve vs power", "L1 to power"))
power_total = peers["power_plan_s"] + peers["power_s"]
krylov = peers["krylov"]
for label, key, l1_key in (("power", "power", None), ("anderson (depth 5)", "anderson", "l1_anderson_power"),
                           (krylov + ", whole system", "cg_whole", "l1_cg_whole_power"),
                           (krylov + ", low-degree vertices eliminated", "cg", "l1_cg_power")):
    print("%-42s %10d %9.3f %10.3f %14.2fx %19.2fx %12s"
          % (label, peers[key + "_iterations"], peers[key + "_plan_s"], peers[key + "_s"], peers[key + "_s"] / peers["power_s"],
             (peers[key + "_plan_s"] + peers[key + "_s"]) / power_total, "%.1e" % peers[l1_key] if l1_key else "-"))
if petsc:
    print("time to L1 < 1e-10 (command line and PETSc, 2 x 1): perron power %d iterations %.3f s (plan %.3f s); perron cg "
          "%d iterations %.3f s (%.2fx power; plan %.3f s); PETSc CG (KSPCG, no preconditioner) %d iterations %.3f s "
          "(perron cg %.2fx of it); final residuals: perron cg %.2e, PETSc %.2e"
          % (petsc["perron_power_iterations"], petsc["perron_power_s"], petsc["perron_power_plan_s"],
             petsc["perron_cg_iterations"], petsc["perron_cg_s"], petsc["perron_cg_s"] / petsc["perron_power_s"],
             petsc["perron_cg_plan_s"], petsc["cg_iterations"], petsc["cg_s"], petsc["perron_cg_s"] / petsc["cg_s"],
             petsc["perron_cg_l1"], petsc["cg_l1"]))
for i, (name, ranks, threads) in enumerate(configs):
    if ranks is None:
        continue
    r = cli[(ranks, threads)]
    r["iterating_rss_bytes"] = statistics.median(steady[i])
    print("RSS summed over ranks, %d x %d: peak %.1f bytes per edge, while iterating %.1f bytes per edge"
          % (ranks, threads, r["peak_rss_bytes"] / m, r["iterating_rss_bytes"] / m))
print("end to end from the binary edge list to the HDF5 result at 1e-10 (seconds, medians of %d interleaved runs):"
      % a.repetitions)
print("%-32s %5s %8s %6s %8s %9s %8s %8s %8s %8s %10s %11s" % ("run", "ranks", "solver", "steps", "load", "partition",
                                                             "plan", "solve", "write", "wall", "wall/power", "peak RSS MB"))
e2e_rows = []
for c in e2e_configs:
    label, _, _, ranks = c
    med = {k: statistics.median(s[k] for s in e2e[c]) for k in ("wall_s", "load_s", "partition_s", "plan_s", "solve_s",
                                                                  "write_s", "peak_rss_bytes")}
    power_wall = statistics.median(s["wall_s"] for s in e2e[("perron, solver power", a.perron, "power", ranks)])
    row = dict(run=label, ranks=ranks, threads=2 // ranks, solver=e2e[c][-1]["solver"], iterations=e2e[c][-1]["iterations"],
               wall_vs_power=med["wall_s"] / power_wall, **med)
    e2e_rows.append(row)
    print("%-32s %3dx%d %8s %6d %8.3f %9.3f %8.3f %8.3f %8.3f %8.3f %9.2fx %11.0f"
          % (label, ranks, 2 // ranks, row["solver"], row["iterations"], med["load_s"], med["partition_s"], med["plan_s"],
             med["solve_s"], med["write_s"], med["wall_s"], row["wall_vs_power"], med["peak_rss_bytes"] / 1e6))
print("  (one textbook step, in process, 1 x 2: %.4f s; GraphBLAS: %s)"
      % (base, "%.4f s" % peers["graphblas_s"] if peers["graphblas_s"] > 0 else "not built"))
print("cross-checks: L1(perron 1x2, scipy) = %.2e, same vertex ids: %s; L1(perron kernel, baseline) = %.1e; "
      "L1(GraphBLAS, baseline) = %.1e" % (l1, same_ids, peers["l1_perron_baseline"], peers["l1_graphblas_baseline"]))
json.dump({"scale": a.scale, "edge_factor": a.edge_factor, "iterations": a.iterations, "repetitions": a.repetitions,
           "directed": a.directed, **info, "rows": rows, "end_to_end": e2e_rows, "l1_vs_scipy": l1, "peers": peers, "petsc": petsc, "distributed_overhead": overhead},
          open(a.json, "w"), indent=1)
print("wrote", a.json)
if not (l1 < 1e-9 and same_ids and peers["l1_perron_baseline"] < 1e-9 and peers["l1_anderson_power"] < 1e-9
        and peers["l1_cg_power"] < 1e-9 and peers["l1_cg_whole_power"] < 1e-9
        and (peers["graphblas_s"] < 0 or peers["l1_graphblas_baseline"] < 1e-9)):
    sys.exit("cross-check failed")
shutil.rmtree(work, ignore_errors=True)
