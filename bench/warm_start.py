#!/usr/bin/python3
"""Warm start (`pagerank --initial`) against a cold start after a graph changed: the real directed
graphs of ../shared/data and a directed Kronecker graph, each with FRACTION of its edges rewired
(removed, and as many random edges added among its vertices); steps to 1e-10 from the uniform
vector and from the old graph's result, per solver, with the wall time of each solve.

  bench/warm_start.sh [FRACTION] [KRONECKER_SCALE]      (defaults 0.01 and 20)
"""
import argparse
import json
import os
import random
import shutil
import tempfile

import h5py

from bench_common import run

ap = argparse.ArgumentParser()
ap.add_argument("--perron", required=True)
ap.add_argument("--data", required=True)
ap.add_argument("--fraction", type=float, default=0.01)
ap.add_argument("--scale", type=int, default=20)
ap.add_argument("--json", required=True)
a = ap.parse_args()
work = tempfile.mkdtemp(prefix="perron-warm-")


def perron(*args):
    run([a.perron, *args])


def read_edges(path, skip):
    edges = []
    with open(path) as f:
        for i, line in enumerate(f):
            t = line.split()
            if i < skip or not t or t[0][0] in "#%":
                continue
            edges.append((int(t[0]), int(t[1])))
    return edges


def rewire(edges, fraction, seed):
    rng = random.Random(seed)
    vertices = sorted({v for e in edges for v in e})
    edges = list(edges)
    rng.shuffle(edges)
    k = max(1, int(len(edges) * fraction))
    return edges[k:] + [(rng.choice(vertices), rng.choice(vertices)) for _ in range(k)]


def write(path, edges):
    with open(path, "w") as f:
        f.write("".join("%d %d\n" % e for e in edges))


graphs = []
for name, skip in (("wiki-Vote.txt", 0), ("hollins.txt", 0), ("p2p-Gnutella08.txt", 0), ("california.el", 0),
                   ("email-Eu-core.txt", 1)):
    path = os.path.join(a.data, "real", name)
    if os.path.exists(path):
        graphs.append((name, read_edges(path, skip)))
    else:
        print("SKIP %s: %s is missing" % (name, path))
binary = os.path.join(work, "k.bin")
perron("generate", "kronecker", "--scale", str(a.scale), "--output", binary)
raw = open(binary, "rb").read()
ids = [int.from_bytes(raw[i:i + 8], "little") for i in range(0, len(raw), 8)]
graphs.append(("Kronecker %d directed" % a.scale, list(zip(ids[0::2], ids[1::2]))))
os.remove(binary)

rows = []
print("steps to 1e-10 after %.1f%% of the edges were rewired: cold (uniform start) and warm (--initial the old result)"
      % (100 * a.fraction))
print("%-24s %-9s %6s %6s %7s %9s %9s %8s" % ("graph", "solver", "cold", "warm", "ratio", "cold (s)", "warm (s)", "ratio"))
for name, edges in graphs:
    old, new = os.path.join(work, "old.txt"), os.path.join(work, "new.txt")
    write(old, edges)
    write(new, rewire(edges, a.fraction, 1))
    for solver in ("power", "anderson"):
        out = {}
        for kind, extra in (("old", []), ("cold", []), ("warm", ["--initial", os.path.join(work, "old.h5")])):
            result = os.path.join(work, kind + ".h5")
            perron("pagerank", "--input", old if kind == "old" else new, "--solver", solver, "--output", result,
                   "--overwrite", "--quiet", *extra)
            with h5py.File(result) as f:
                out[kind] = (int(f["pagerank"].attrs["iterations"]), float(f["provenance"].attrs["iterate_s"]))
        (cs, ct), (ws, wt) = out["cold"], out["warm"]
        rows.append(dict(graph=name, solver=solver, cold_steps=cs, warm_steps=ws, steps_ratio=ws / cs, cold_s=ct, warm_s=wt))
        print("%-24s %-9s %6d %6d %6.2fx %9.4f %9.4f %7.2fx" % (name, solver, cs, ws, ws / cs, ct, wt, wt / ct if ct > 0 else 0))
json.dump({"fraction": a.fraction, "rows": rows}, open(a.json, "w"), indent=1)
print("wrote", a.json)
shutil.rmtree(work, ignore_errors=True)
