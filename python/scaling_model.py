#!/usr/bin/python3
"""The scaling model of docs/scaling.md, from `perron plan` output: fits how the halo grows with
P and the graph's size on Graph500 Kronecker graphs (docs/data/plan-kronecker-*.json, written by
`perron plan --input kronecker:scale=S --ranks 16,...,65536 --json`), then extrapolates a
PageRank step to WDC 2012 and ClueWeb12 and a Ring Attention step to million-token contexts on
the node stated below. Prints the markdown tables of docs/scaling.md.

    /usr/bin/python3 python/scaling_model.py [PLAN.json ...]
"""
import glob
import json
import math
import os
import sys

import numpy as np
from scipy.optimize import curve_fit

# ---- The stated node (one MPI rank per node, OpenMP inside) --------------------------------
MEM_BW = 200e9        # bytes/s of memory bandwidth per node (2 sockets, 16 DDR5 channels)
NET_BW = 12.5e9       # bytes/s per node and direction (100 Gb/s InfiniBand HDR100)
LATENCY = 2e-6        # s per message (MPI point to point, inter-node)
NODE_MEMORY = 256e9   # bytes per node
FLOPS = 2e12          # fp32 flop/s a node sustains in the attention tiles (64 cores, AVX-512)

# ---- A PageRank step's bytes (pull over the CSR, float64 vectors) ---------------------------
EDGE_BYTES_STEP = 16  # per in-edge: a 4-byte column index and a gathered 8-byte value, with misses
VERTEX_BYTES_STEP = 48  # per owned vertex: x, y, contribution, 1/o, row offset, teleport
# Held per rank (DistGraph::bytes and the power solver's vectors, as `perron plan` counts them):
EDGE_BYTES_HELD = 4                   # column index (unweighted)
VERTEX_BYTES_HELD = 8 * 4 + 8 * 4     # row offset, out-weight, degree, id; x, y, 1/o, contribution
GHOST_BYTES_HELD = 8 + 8 + 8 + 4      # ghost id, contribution, send buffer, send index

GRAPHS = {  # the figures
    "WDC 2012": dict(n=3.5e9, m=128e9),
    "ClueWeb12": dict(n=978e6, m=42.5e9),
}


def ghost_fraction(P, P0, gamma):
    """Halo values per step / edges: 1 − exp(−(P/P0)^γ), 0 at P = 1, → 1 when every in-edge reads a remote vertex."""
    return 1.0 - np.exp(-((np.asarray(P, float) / P0) ** gamma))


def fit(paths):
    rows = []
    for path in sorted(paths):
        d = json.load(open(path))
        P = np.array([p["ranks"] for p in d["plans"]], float)
        f = np.array([p["halo_bytes_per_step"] / 8 / d["m"] for p in d["plans"]])
        (P0, gamma), _ = curve_fit(ghost_fraction, P, f, p0=(500, 0.5))
        err = float(np.max(np.abs(ghost_fraction(P, P0, gamma) - f)))
        imbalance = {int(p["ranks"]): p["in_edges_max"] / p["in_edges_mean"] for p in d["plans"]}
        msgs = {int(p["ranks"]): p["messages_per_step"] for p in d["plans"]}
        rows.append(dict(path=os.path.basename(path), n=d["n"], m=d["m"], P=P, f=f, P0=P0, gamma=gamma, err=err,
                         imbalance=imbalance, messages=msgs))
    # P0 grows as a power of n (the same fraction of edges is cut at a P proportional to n^a).
    a, logc = np.polyfit(np.log([r["n"] for r in rows]), np.log([r["P0"] for r in rows]), 1)
    gamma = float(np.mean([r["gamma"] for r in rows[-2:]]))
    return rows, a, math.exp(logc), gamma


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    paths = sys.argv[1:] or glob.glob(os.path.join(here, "..", "docs", "data", "plan-kronecker-*.json"))
    rows, a, c, gamma = fit(paths)
    print("### The fit\n")
    print("| plan | n | m | P0 | γ | largest error | halo / (8 m) at P = 16 … 65536 |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %d | %d | %.0f | %.3f | %.3f | %s |" % (r["path"], r["n"], r["m"], r["P0"], r["gamma"], r["err"],
                                                            " ".join("%.3f" % x for x in r["f"])))
    print("\nP0 = %.2f · n^%.3f; γ = %.3f (the two largest scales).\n" % (c, a, gamma))

    print("### PageRank step on WDC 2012 and ClueWeb12 (extrapolated)\n")
    print("| graph | P | edges/rank | ghosts/rank | memory/rank | halo/step (all) | wire/rank/step | "
          "memory time | network time | latency time | step |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, g in GRAPHS.items():
        P0 = c * g["n"] ** a
        for P in (64, 256, 1024, 4096):
            f = float(ghost_fraction(P, P0, gamma))
            edges, verts = g["m"] / P, g["n"] / P
            ghosts = f * g["m"] / P
            held = edges * EDGE_BYTES_HELD + verts * VERTEX_BYTES_HELD + ghosts * GHOST_BYTES_HELD
            wire = ghosts * 8 * 2  # received and (on average) sent
            t_mem = (edges * EDGE_BYTES_STEP + verts * VERTEX_BYTES_STEP) / MEM_BW
            t_net = wire / 2 / NET_BW
            t_lat = (P - 1) * LATENCY
            step = max(t_mem, t_net) + t_lat
            fits = "" if held < NODE_MEMORY else " (over the node's memory)"
            print("| %s | %d | %.2e | %.2e | %.1f GB%s | %.0f GB | %.2f GB | %.3f s | %.3f s | %.4f s | %.3f s |" % (
                name, P, edges, ghosts, held / 1e9, fits, 8 * f * g["m"] / 1e9, wire / 1e9, t_mem, t_net, t_lat, step))

    print("\n### Ring attention step (extrapolated)\n")
    H, HKV, D = 32, 8, 128
    print("| N | P | tokens/rank | memory/rank | bytes/ring step | compute/ring step | transfer/ring step | hidden |")
    print("|---|---|---|---|---|---|---|---|")
    for N in (1 << 20, 1 << 22, 1 << 24):
        for P in (8, 64, 512):
            t = N / P
            memory = t * D * (2 * H + 2 * HKV) * 4 + 2 * t * D * 2 * HKV * 4  # q, o, k, v; the travelling k, v pair
            ring_bytes = t * D * 2 * HKV * 4
            t_comp = 4 * t * t * D * H / FLOPS
            t_comm = ring_bytes / NET_BW + LATENCY
            print("| %dM | %d | %d | %.2f GB | %.1f MB | %.3f s | %.4f s | %s |" % (
                N >> 20, P, t, memory / 1e9, ring_bytes / 1e6, t_comp, t_comm, "yes" if t_comp >= t_comm else "no"))


if __name__ == "__main__":
    main()
