#!/usr/bin/python3
"""Driver of bench/solver_auto.sh: steps and plan + solve seconds to 1e-10 with --solver auto (the
default), power, and the Krylov solver of the graph (bicgstab when directed, cg when undirected),
on the real directed graphs and on prepared Kronecker graphs, at 1 x 2 and 2 x 1; interleaved,
medians. The issue's targets: on the real directed graphs, steps with auto <= 0.35x of power's and
solve time <= 0.5x."""
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
ap.add_argument("--scales", default="20,22")
ap.add_argument("--repetitions", type=int, default=5)
ap.add_argument("--data", required=True)
ap.add_argument("--json", required=True)
a = ap.parse_args()
work = tempfile.mkdtemp(prefix="perron-solver-auto-")


def mpirun(np_, *args):
    return ["mpirun", "-np", str(np_), "--bind-to", "none", a.perron, *args, "--threads", str(2 // np_)]


graphs = []  # (name, input arguments, Krylov solver)
if os.path.isdir(a.data):
    for name, extra in (("wiki-Vote.txt", []), ("hollins.txt", []), ("p2p-Gnutella08.txt", []), ("california.el", []),
                        ("email-Eu-core.txt", ["--header-lines", "1"])):
        if os.path.exists(os.path.join(a.data, name)):
            graphs.append((name, ["--input", os.path.join(a.data, name), *extra], "bicgstab"))
else:
    print("no %s: the real graphs are skipped" % a.data, flush=True)
for scale in (int(s) for s in a.scales.split(",") if s):
    edges = os.path.join(work, "k%d.bin" % scale)
    run(mpirun(2, "generate", "kronecker", "--scale", str(scale), "--output", edges)[:-2])
    for direction in ("directed", "undirected"):
        g = os.path.join(work, "k%d-%s.h5" % (scale, direction))
        run(mpirun(2, "convert", "--to", "graph", "--input", edges, "--output", g,
                   *(["--undirected"] if direction == "undirected" else [])))
        graphs.append(("Kronecker %d %s" % (scale, direction), ["--input", g],
                       "cg" if direction == "undirected" else "bicgstab"))
    os.remove(edges)
    print("prepared Kronecker scale %d" % scale, flush=True)

solvers = ("power", "auto", "krylov")
cases = [(name, np_) for name, _, _ in graphs for np_ in (1, 2)]
cost = {(c, s): [] for c in cases for s in solvers}
ran = {}
for rep in range(a.repetitions):
    for name, args, krylov in graphs:
        for np_ in (1, 2):
            for solver in solvers:
                out = os.path.join(work, "r.h5")
                run(mpirun(np_, "pagerank", *args, "--solver", krylov if solver == "krylov" else solver, "--tolerance",
                           "1e-10", "--output", out, "--overwrite", "--quiet", "--top-k", "1"))
                with h5py.File(out) as f:
                    p, r = f["provenance"].attrs, f["pagerank"].attrs
                    cost[((name, np_), solver)].append(p["plan_s"] + p["iterate_s"])
                    ran[((name, np_), solver)] = (str(r["solver_used"]), int(r["solver_switched_after"]),
                                                  int(r["iterations"]))
    print("repetition %d/%d done" % (rep + 1, a.repetitions), flush=True)

print()
print("solver auto against power and the Krylov solver: steps and plan + solve seconds to 1e-10, medians of %d "
      "interleaved runs" % a.repetitions)
print("%-28s %5s %6s %9s %9s %9s %9s %9s %10s %10s  %s" % (
    "graph", "ranks", "power", "krylov", "auto", "power s", "krylov s", "auto s", "auto/power", "auto/power", "auto ran"))
print("%-28s %5s %6s %9s %9s %9s %9s %9s %10s %10s" % ("", "", "steps", "steps", "steps", "", "", "", "steps", "time"))
rows = []
for name, np_ in cases:
    m = {s: statistics.median(cost[((name, np_), s)]) for s in solvers}
    steps = {s: ran[((name, np_), s)][2] for s in solvers}
    used, after, _ = ran[((name, np_), "auto")]
    how = used + (" after power step %d" % after if after else "")
    rows.append(dict(graph=name, ranks=np_, threads=2 // np_, steps=steps, seconds=m, auto_ran=how,
                     krylov=ran[((name, np_), "krylov")][0], steps_ratio=steps["auto"] / steps["power"],
                     time_ratio=m["auto"] / m["power"]))
    print("%-28s %3dx%d %6d %9d %9d %9.4f %9.4f %9.4f %9.2fx %9.2fx  %s" % (
        name, np_, 2 // np_, steps["power"], steps["krylov"], steps["auto"], m["power"], m["krylov"], m["auto"],
        steps["auto"] / steps["power"], m["auto"] / m["power"], how))
json.dump({"repetitions": a.repetitions, "rows": rows}, open(a.json, "w"), indent=1)
print("wrote", a.json)
shutil.rmtree(work, ignore_errors=True)
