#!/usr/bin/python3
"""The scaling model of docs/scaling.md, from `perron plan` output: fits how the halo grows with
P and the graph's size on Graph500 Kronecker graphs (docs/data/plan-kronecker-*.json, written by
`perron plan --input kronecker:scale=S --ranks 16,...,65536 --json`), then extrapolates a
PageRank step to WDC 2012 and ClueWeb12 (direct and two-level halo exchange, the latter's bytes
from docs/data/plan-two-level-kronecker-*.json) and a Ring Attention step to million-token contexts on
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


def grid(P):
    """HaloGrid::of: C = the largest divisor of P that is at most √P, R = P / C."""
    C = max(c for c in range(1, int(math.isqrt(P)) + 1) if P % c == 0)
    return P // C, C


def two_level_plans(paths):
    """The two-level plan beside each direct one (plan-two-level-kronecker-S.json): path → (edges, direct, two-level)."""
    out = {}
    for path in paths:
        twin = os.path.join(os.path.dirname(path), os.path.basename(path).replace("plan-", "plan-two-level-", 1))
        if os.path.exists(twin):
            d = json.load(open(path))
            out[path] = (d["m"], {p["ranks"]: p for p in d["plans"]},
                         {p["ranks"]: p for p in json.load(open(twin))["plans"]})
    return out


def byte_factor(pairs, P):
    """Two-level halo bytes / direct at P, from the largest planned graph (interpolated in log P)."""
    _, direct, two = max(pairs.values(), key=lambda t: t[0]) if pairs else (0, {}, {})
    Ps = sorted(p for p in direct if p in two)
    if not Ps:
        return 1.0
    ratio = [two[p]["halo_bytes_per_step"] / max(direct[p]["halo_bytes_per_step"], 1) for p in Ps]
    return float(np.interp(math.log(P), [math.log(p) for p in Ps], ratio))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    paths = sys.argv[1:] or glob.glob(os.path.join(here, "..", "docs", "data", "plan-kronecker-*.json"))
    rows, a, c, gamma = fit(paths)
    pairs = two_level_plans(paths)
    print("### The fit\n")
    print("| plan | n | m | P0 | γ | largest error | halo / (8 m) at P = 16 … 65536 |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %d | %d | %.0f | %.3f | %.3f | %s |" % (r["path"], r["n"], r["m"], r["P0"], r["gamma"], r["err"],
                                                            " ".join("%.3f" % x for x in r["f"])))
    print("\nP0 = %.2f · n^%.3f; γ = %.3f (the two largest scales).\n" % (c, a, gamma))

    for path, (_, direct, two) in sorted(pairs.items()):
        d = json.load(open(path))
        print("### Two-level exchange, planned before and after: %s (n = %d, m = %d)\n" % (os.path.basename(path), d["n"], d["m"]))
        print("| P | grid | messages/step direct | two-level | largest rank's messages | halo bytes/step direct | two-level | "
              "× | largest rank's values sent |")
        print("|---|---|---|---|---|---|---|---|---|")
        for P in sorted(direct):
            if P not in two:
                continue
            R, C = grid(P)
            dd, tt = direct[P], two[P]
            print("| %d | %d × %d | %d | %d | %d → %d | %.3g | %.3g | %.2f | %d → %d |" % (
                P, R, C, dd["messages_per_step"], tt["messages_per_step"], dd["messages_max"], tt["messages_max"],
                dd["halo_bytes_per_step"], tt["halo_bytes_per_step"],
                tt["halo_bytes_per_step"] / max(dd["halo_bytes_per_step"], 1), dd["values_sent_max"], tt["values_sent_max"]))
        print()

    print("### PageRank step on WDC 2012 and ClueWeb12 (extrapolated)\n")
    print("| graph | P | edges/rank | ghosts/rank | memory/rank | halo/step (all) | wire/rank/step | "
          "memory time | network time | latency time | step | two-level: network | latency | step |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
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
            # Two-level: the Kronecker plans' byte factor at this P, and R − 1 + C − 1 messages.
            R, C = grid(P)
            t_net2 = t_net * byte_factor(pairs, P)
            t_lat2 = (R - 1 + C - 1) * LATENCY
            step2 = max(t_mem, t_net2) + t_lat2
            fits = "" if held < NODE_MEMORY else " (over the node's memory)"
            print("| %s | %d | %.2e | %.2e | %.1f GB%s | %.0f GB | %.2f GB | %.3f s | %.3f s | %.4f s | %.3f s | "
                  "%.3f s | %.4f s | %.3f s |" % (
                      name, P, edges, ghosts, held / 1e9, fits, 8 * f * g["m"] / 1e9, wire / 1e9, t_mem, t_net, t_lat, step,
                      t_net2, t_lat2, step2))

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
