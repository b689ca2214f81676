#!/usr/bin/python3
"""Driver of bench/kernel_auto.sh: does `--kernel auto` land within 10% of the better of csr and
blocked, counting plan + solve? Kronecker graphs of the given scales, read as directed and as
undirected, prepared once (`perron convert --to graph`, so the build is not timed); each solved to
1e-10 with every kernel at 1 rank x 2 threads and 2 x 1, interleaved and repeated, medians of
plan_s + iterate_s from each result's /provenance. A fixed-count row (`--iterations 60`, as a
Graphalytics run asks) shows the other side: there the blocked layout repays its build and auto
must switch to it from the first step. Power iteration throughout (--solver power): cg and
bicgstab run on the CSR under kernel auto, and bench/solver_auto.sh measures them."""
import argparse
import json
import os
import shutil
import statistics
import tempfile

import h5py

from bench_common import run

ap = argparse.ArgumentParser()
ap.add_argument("--perron", required=True)
ap.add_argument("--scales", default="18,20,22")
ap.add_argument("--repetitions", type=int, default=3)
ap.add_argument("--json", required=True)
a = ap.parse_args()
work = tempfile.mkdtemp(prefix="perron-kernel-auto-")



def mpirun(np_, *args):
    return ["mpirun", "-np", str(np_), "--bind-to", "none", a.perron, *args, "--threads", str(2 // np_)]


graphs = []
for scale in (int(s) for s in a.scales.split(",")):
    edges = os.path.join(work, "k%d.bin" % scale)
    run(mpirun(2, "generate", "kronecker", "--scale", str(scale), "--output", edges)[:-2])
    for direction in ("directed", "undirected"):
        g = os.path.join(work, "k%d-%s.h5" % (scale, direction))
        run(mpirun(2, "convert", "--to", "graph", "--input", edges, "--output", g,
                   *(["--undirected"] if direction == "undirected" else [])))
        graphs.append(("Kronecker %d %s" % (scale, direction), g, []))
    os.remove(edges)
    print("prepared Kronecker scale %d" % scale, flush=True)
largest = graphs[-2]
graphs.append((largest[0] + ", 60 steps", largest[1], ["--iterations", "60"]))

kernels = ("csr", "blocked", "auto")
cases = [(name, np_) for name, _, _ in graphs for np_ in (1, 2)]
cost = {(c, k): [] for c in cases for k in kernels}
used = {}
for rep in range(a.repetitions):
    for name, path, extra in graphs:
        for np_ in (1, 2):
            for kernel in kernels:
                out = os.path.join(work, "r.h5")
                run(mpirun(np_, "pagerank", "--input", path, "--solver", "power", "--kernel", kernel, "--tolerance", "1e-10", *extra,
                           "--output", out, "--overwrite", "--quiet", "--top-k", "1"))
                with h5py.File(out) as f:
                    p, r = f["provenance"].attrs, f["pagerank"].attrs
                    cost[((name, np_), kernel)].append(p["plan_s"] + p["iterate_s"])
                    used[((name, np_), kernel)] = (str(r["kernel_used"]), int(r["kernel_switched_after"]), int(r["iterations"]))
    print("repetition %d/%d done" % (rep + 1, a.repetitions), flush=True)

print()
print("kernel auto against the better of csr and blocked: plan + solve seconds to 1e-10, medians of %d interleaved runs"
      % a.repetitions)
print("%-34s %5s %6s %9s %9s %9s %10s  %s" % ("graph", "ranks", "steps", "csr", "blocked", "auto", "auto/best", "auto ran"))
rows = []
for name, np_ in cases:
    m = {k: statistics.median(cost[((name, np_), k)]) for k in kernels}
    best = min(m["csr"], m["blocked"])
    kernel, after, steps = used[((name, np_), "auto")]
    ran = kernel + (" after step %d" % after if after else "")
    rows.append(dict(graph=name, ranks=np_, threads=2 // np_, steps=steps, csr_s=m["csr"], blocked_s=m["blocked"],
                     auto_s=m["auto"], auto_vs_best=m["auto"] / best, auto_ran=ran))
    print("%-34s %3dx%d %6d %9.3f %9.3f %9.3f %9.2fx  %s" % (name, np_, 2 // np_, steps, m["csr"], m["blocked"], m["auto"],
                                                          m["auto"] / best, ran))
json.dump({"repetitions": a.repetitions, "rows": rows}, open(a.json, "w"), indent=1)
print("wrote", a.json)
shutil.rmtree(work, ignore_errors=True)
