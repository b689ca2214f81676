#!/usr/bin/python3
"""Batched personalized ranking (bench/pagerank.sh SCALE REPS batched, bench/tokenrank.sh): the
time of k personalized vectors against the time of one, in the same script, interleaved and
repeated, medians. Times come from each run's /provenance (plan and iterations for PageRank, the
LSE pass and the solve for TokenRank), so start-up, load and I/O are not counted; the wall time
of the whole command is reported beside them, and the peak RSS of the largest rank."""
import argparse
import atexit
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import h5py

ap = argparse.ArgumentParser()
ap.add_argument("what", choices=["pagerank", "tokenrank"])
ap.add_argument("--perron", required=True)
ap.add_argument("--scale", type=int, default=20, help="pagerank: the Kronecker scale")
ap.add_argument("--seq", type=int, default=8192, help="tokenrank: N")
ap.add_argument("--repetitions", type=int, default=5)
ap.add_argument("--json", required=True)
ap.add_argument("--data", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "real"),
                help="pagerank: the real directed graphs (skipped if missing)")
a = ap.parse_args()
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OPENBLAS_NUM_THREADS="1",
           HDF5_USE_FILE_LOCKING="FALSE", OMP_NUM_THREADS="2")
work = tempfile.mkdtemp(prefix="perron-personalized-bench-")
atexit.register(shutil.rmtree, work, True)  # the graphs it wrote go, also after a failure
out = os.path.join(work, "out.h5")


def run(cmd):
    start = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return time.perf_counter() - start


def measure(configs, read):
    """Each config's runs interleaved, a.repetitions times; per config the medians of read()'s figures."""
    samples = {name: [] for name in configs}
    for _ in range(a.repetitions):
        for name, cmd in configs.items():
            wall = run(cmd)
            samples[name].append(dict(read(), wall_s=wall))
    return {name: {key: statistics.median(s[key] for s in runs) for key in runs[0]} for name, runs in samples.items()}


def pagerank():
    graph = os.path.join(work, "k%d.bin" % a.scale)
    run([a.perron, "generate", "kronecker", "--scale", str(a.scale), "--output", graph])
    # Seed sets of two vertices drawn from the 5000 of highest global PageRank beyond the first 100
    # (vertices that reach the graph: an isolated seed converges in one step and flatters a batch).
    run([a.perron, "pagerank", "--input", graph, "--undirected", "--top-k", "5100", "--output", out, "--overwrite", "--quiet"])
    with h5py.File(out) as f:
        pool = [int(v) for v in f["pagerank/top_vertex_id"][100:]]
    rng = random.Random(1)
    sets = [rng.sample(pool, 2) for _ in range(64)]
    files = {}
    for k in (1, 16, 64):
        files[k] = os.path.join(work, "sets%d.txt" % k)
        with open(files[k], "w") as f:
            f.write("".join("%d,%d\n" % tuple(s) for s in sets[:k]))
    base = [a.perron, "pagerank", "--input", graph, "--undirected", "--output", out, "--overwrite", "--quiet"]
    configs = {"one vector, --seeds (solver auto)": base + ["--seeds", "%d,%d" % tuple(sets[0])],
               "one vector, --seeds --solver power": base + ["--seeds", "%d,%d" % tuple(sets[0]), "--solver", "power",
                                                             "--kernel", "csr"]}
    for k in (1, 16, 64):
        configs["--seed-sets k=%d" % k] = base + ["--seed-sets", files[k]]

    def read():
        with h5py.File(out) as f:
            p, g = f["provenance"].attrs, f["pagerank"].attrs
            return dict(solve_s=float(p["plan_s"]) + float(p["iterate_s"]), steps=int(g["iterations"]),
                        rss_mb=int(p["peak_rss_bytes_max_rank"]) / 2**20,
                        block_mb=int(g["block_bytes_max_rank"]) / 2**20 if "block_bytes_max_rank" in g else 0.0,
                        n=int(g["n"]))

    res = measure(configs, read)
    one = res["one vector, --seeds (solver auto)"]
    print("\nbatched personalized PageRank, Kronecker %d undirected, 1 rank x 2 threads, to 1e-10 "
          "(medians of %d interleaved runs; solve = plan + iterations)" % (a.scale, a.repetitions))
    print("%-36s %9s %9s %11s %11s %9s %11s %12s" % ("run", "solve s", "steps", "solve/one", "solve/k=1", "wall s",
                                                      "peak RSS MB", "block MB"))
    for name, r in res.items():
        k1 = res["--seed-sets k=1"]["solve_s"]
        print("%-36s %9.3f %9d %10.2fx %10.2fx %9.2f %11.0f %12.1f" % (name, r["solve_s"], r["steps"], r["solve_s"] / one["solve_s"],
                                                                       r["solve_s"] / k1, r["wall_s"], r["rss_mb"], r["block_mb"]))
    n = one["n"]
    print("a block of 16 vectors holds %.1f bytes per vertex per vector (its iterates, contributions with ghosts, none per edge)"
          % (res["--seed-sets k=16"]["block_mb"] * 2**20 / (16 * n)))
    print("16 single runs would take %.1f s of wall time; one batch of 16 took %.1f s; 64: %.1f s against %.1f s"
          % (16 * one["wall_s"], res["--seed-sets k=16"]["wall_s"], 64 * one["wall_s"], res["--seed-sets k=64"]["wall_s"]))
    res.update(directed(graph))
    return res


def directed(kronecker):
    """16 seed sets on directed graphs: the real ones in ../shared/data/real (if present) and the
    Kronecker graph read as directed, solver power against auto (power, and bicgstab once its
    first steps forecast a slow mix)."""
    graphs = [("Kronecker %d directed" % a.scale, ["--input", kronecker])]
    if os.path.isdir(a.data):
        for name, extra in (("wiki-Vote.txt", []), ("hollins.txt", []), ("p2p-Gnutella08.txt", []), ("california.el", []),
                            ("email-Eu-core.txt", ["--header-lines", "1"])):
            if os.path.exists(os.path.join(a.data, name)):
                graphs.append((name, ["--input", os.path.join(a.data, name), *extra]))
    else:
        print("no %s: the real directed graphs are skipped" % a.data, flush=True)
    configs = {}
    rng = random.Random(2)
    for name, inputs in graphs:
        run([a.perron, "pagerank", *inputs, "--output", out, "--overwrite", "--quiet"])
        with h5py.File(out) as f:
            ids = [int(v) for v in f["pagerank/vertex_id"][:]]
        sets = os.path.join(work, "sets-%s.txt" % name.replace(" ", "-"))
        with open(sets, "w") as f:
            f.write("".join("%d,%d\n" % tuple(rng.sample(ids, 2)) for _ in range(16)))
        for solver in ("power", "auto"):
            configs["%s, %s" % (name, solver)] = [a.perron, "pagerank", *inputs, "--seed-sets", sets, "--solver", solver,
                                                  "--output", out, "--overwrite", "--quiet"]

    def read():
        with h5py.File(out) as f:
            p, g = f["provenance"].attrs, f["pagerank"].attrs
            return dict(solve_s=float(p["plan_s"]) + float(p["iterate_s"]), steps=len(f["pagerank/residual"][:]),
                        solver=str(g["solver_used"]), rss_mb=int(p["peak_rss_bytes_max_rank"]) / 2**20)

    samples = {name: [] for name in configs}
    for _ in range(a.repetitions):
        for name, cmd in configs.items():
            run(cmd)
            samples[name].append(read())
    res = {name: dict(solver=runs[0]["solver"], **{key: statistics.median(s[key] for s in runs) for key in
                                                   ("solve_s", "steps", "rss_mb")}) for name, runs in samples.items()}
    print("\n16 personalized vectors on directed graphs, seed sets of 2 random vertices, 1 rank x 2 threads, to 1e-10 "
          "(medians of %d interleaved runs; steps: every product of the block, auto's power steps included)"
          % a.repetitions)
    print("%-34s %9s %9s %9s %11s %11s" % ("run", "solver", "steps", "solve s", "vs power", "peak RSS MB"))
    for name, r in res.items():
        power = res[name.rsplit(", ", 1)[0] + ", power"]
        print("%-34s %9s %9d %9.3f %10.2fx %11.0f" % (name, r["solver"], r["steps"], r["solve_s"], r["solve_s"] / power["solve_s"],
                                                      r["rss_mb"]))
    return {"directed " + name: r for name, r in res.items()}


def tokenrank():
    qkv = os.path.join(work, "qkv.h5")
    run([a.perron, "generate", "qkv", "--heads", "4", "--seq", str(a.seq), "--dim", "64", "--output", qkv])
    queries = ",".join(str(q) for q in range(0, a.seq, a.seq // 16))
    base = [a.perron, "tokenrank", "--input", qkv, "--output", out, "--overwrite", "--quiet"]
    configs = {}
    for causal in ([], ["--causal"]):
        tag = " causal" if causal else ""
        configs["global TokenRank" + tag] = base + causal
        configs["--per-query k=16" + tag] = base + causal + ["--per-query", queries]

    def read():
        with h5py.File(out) as f:
            p, g = f["provenance"].attrs, f["tokenrank"].attrs
            return dict(solve_s=float(p["lse_s"]) + float(p["solve_s"]), iterations=int(g["iterations"]),
                        rss_mb=int(p["peak_rss_bytes_max_rank"]) / 2**20)

    res = measure(configs, read)
    print("\nbatched personalized TokenRank, N %d, 4 heads, d 64, 1 rank x 2 threads, to 1e-10 "
          "(medians of %d interleaved runs; time = LSE pass + solve)" % (a.seq, a.repetitions))
    print("%-28s %9s %11s %11s %9s %12s" % ("run", "time s", "iterations", "/global", "wall s", "peak RSS MB"))
    for name, r in res.items():
        ref = res["global TokenRank" + (" causal" if "causal" in name else "")]["solve_s"]
        print("%-28s %9.3f %11d %10.2fx %9.2f %12.0f" % (name, r["solve_s"], r["iterations"], r["solve_s"] / ref, r["wall_s"],
                                                         r["rss_mb"]))
    return res


report = pagerank() if a.what == "pagerank" else tokenrank()
with open(a.json, "w") as f:
    json.dump(report, f, indent=1)
print("wrote", a.json)
