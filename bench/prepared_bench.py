#!/usr/bin/python3
"""Driver of bench/prepared.sh. One directed Kronecker graph (Graph500 edges read as directed),
as a binary edge list and as a prepared graph; perron loads each at 1 x 2 and 2 x 1, interleaved
and repeated, medians. Reported per configuration: load + partition seconds (from each run's
/provenance, one PageRank step); the memory of the load: the peak RSS up to the end of the
build less the RSS before the load (both summed over ranks), against the bytes the ranks end up
holding for the graph (/provenance@graph_bytes_sum: CSR, ghosts, halo plan, out-weights and
degrees, id map), and the raw peak against the bare CSR (8 bytes a row offset, 4 a column, 16 a
vertex for out-weight and out-degree); and the wall time of the whole `perron pagerank` run to
1e-10 (process start to exit). The prepared graph's ratios against the binary list are the
figures that matter."""
import argparse
import json
import os
import shutil
import statistics
import tempfile
import time

import h5py

from bench_common import run

ap = argparse.ArgumentParser()
ap.add_argument("--perron", required=True)
ap.add_argument("--scale", type=int, default=22)
ap.add_argument("--repetitions", type=int, default=5)
ap.add_argument("--json", required=True)
ap.add_argument("--baseline", help="another perron binary (e.g. the release before): its run of the binary edge list "
                                   "is timed too, and the whole runs are also given against it")
a = ap.parse_args()
work = tempfile.mkdtemp(prefix="perron-prepared-")


def mpirun(np_, *args, binary=None):
    return ["mpirun", "-np", str(np_), "--bind-to", "none", binary or a.perron, *args, "--threads", str(2 // np_)]


edges = os.path.join(work, "g.bin")
prepared = os.path.join(work, "g.graph.h5")
print("generating Kronecker scale %d ..." % a.scale, flush=True)
run(["mpirun", "-np", "2", "--bind-to", "none", a.perron, "generate", "kronecker", "--scale", str(a.scale), "--output", edges])
t = time.perf_counter()
run(mpirun(2, "convert", "--to", "graph", "--input", edges, "--output", prepared))
print("perron convert --to graph: %.1f s" % (time.perf_counter() - t), flush=True)
with h5py.File(prepared) as f:
    n, m = int(f["graph"].attrs["n"]), int(f["graph"].attrs["m"])
csr_bytes = 8 * (n + 2) + 4 * m + 16 * n

inputs = {"binary edge list": edges, "prepared graph": prepared}
binary_of = {}
BASELINE = "binary, baseline perron"
if a.baseline:
    inputs[BASELINE] = edges
    binary_of[BASELINE] = a.baseline
configs = [(kind, np_) for np_ in (1, 2) for kind in inputs]
load = {c: [] for c in configs}
whole = {c: [] for c in configs}
for rep in range(a.repetitions):
    for kind, np_ in configs:
        out = os.path.join(work, "r.h5")
        binary = binary_of.get(kind)
        run(mpirun(np_, "pagerank", "--input", inputs[kind], "--iterations", "1", "--kernel", "csr", "--output", out,
                   "--overwrite", "--quiet", "--top-k", "1", binary=binary))
        with h5py.File(out) as f:
            p = f["provenance"].attrs
            # An older perron records only the whole run's peak.
            peak = int(p.get("build_peak_rss_bytes_sum", p["peak_rss_bytes_sum"]))
            load[(kind, np_)].append((p["load_s"], p["partition_s"], peak, p.get("check_s", 0.0),
                                      peak - int(p.get("rss_before_load_bytes_sum", 0)),
                                      int(p.get("graph_bytes_sum", csr_bytes))))
        t = time.perf_counter()
        run(mpirun(np_, "pagerank", "--input", inputs[kind], "--tolerance", "1e-10", "--output", out, "--overwrite", "--quiet",
                   binary=binary))
        whole[(kind, np_)].append(time.perf_counter() - t)
    print("repetition %d/%d done" % (rep + 1, a.repetitions), flush=True)

print()
print("directed Kronecker scale %d: n = %d, m = %d; CSR the ranks hold: %.0f MB; %d interleaved repetitions, medians"
      % (a.scale, n, m, csr_bytes / 1e6, a.repetitions))
print("%-18s %13s %9s %10s %12s %10s %10s %13s %13s %12s" % (
    "input", "ranks x thr", "load (s)", "checks (s)", "partition (s)", "sum (s)", "vs binary", "load mem/graph",
    "peak RSS/CSR", "run to 1e-10 (s)"))
rows = []
for kind, np_ in configs:
    l = statistics.median(s[0] for s in load[(kind, np_)])
    b = statistics.median(s[1] for s in load[(kind, np_)])
    rss = statistics.median(s[2] for s in load[(kind, np_)])
    checks = statistics.median(s[3] for s in load[(kind, np_)])
    grown = statistics.median(s[4] / s[5] for s in load[(kind, np_)])
    base = statistics.median(s[0] + s[1] for s in load[("binary edge list", np_)])
    w = statistics.median(whole[(kind, np_)])
    wbase = statistics.median(whole[("binary edge list", np_)])
    row = dict(input=kind, ranks=np_, threads=2 // np_, load_s=l, check_s=checks, partition_s=b,
               load_partition_vs_binary=(l + b) / base, build_peak_rss_bytes_sum=rss, load_memory_vs_graph=grown,
               peak_rss_vs_csr=rss / csr_bytes, run_s=w, run_vs_binary=w / wbase)
    against = ""
    if a.baseline:
        row["run_vs_baseline"] = w / statistics.median(whole[(BASELINE, np_)])
        against = "  %.2fx of the baseline's" % row["run_vs_baseline"]
    rows.append(row)
    print("%-18s %13s %9.3f %10.3f %12.3f %10.3f %9.2fx %13.2fx %12.2fx %9.2f (%.2fx)%s" % (
        kind, "%d x %d" % (np_, 2 // np_), l, checks, b, l + b, (l + b) / base, grown, rss / csr_bytes, w, w / wbase,
        against))
json.dump({"scale": a.scale, "n": n, "m": m, "csr_bytes": csr_bytes, "repetitions": a.repetitions, "rows": rows},
          open(a.json, "w"), indent=1)
print("wrote", a.json)
shutil.rmtree(work, ignore_errors=True)
