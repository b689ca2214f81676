#!/usr/bin/env bash
# pagerank --seed-sets: every vector of the batch against the dense float64 solve (numpy), the
# same file at 1-4 ranks to 1e-12, more sets than one block, --top-k's top lists against the
# full matrix, all-vertices as the influence matrix, and every bad input refused with its
# file and line, exit code and no output file. tokenrank --per-query and --seeds: each chain
# against the dense solve of the mean chain, causal and not, at 1 and 3 ranks, with the words
# of the queries; and their bad input. The tools (inspect, diff, perron_h5, perron_plot) on a batch.
source "$(dirname "$0")/common.sh"

# A directed graph with dangling vertices and an isolated one (declared in a vertex file), and
# 20 seed sets: single seeds, weighted sets, a set naming the same id twice, the isolated vertex.
"$PYTHON" - "$WORK" <<'PY'
import random, sys
work = sys.argv[1]
rng = random.Random(3)
n = 300
edges = sorted({(rng.randrange(n - 40), rng.randrange(n)) for _ in range(2400)})  # 40 sinks
with open(f"{work}/g.txt", "w") as f:
    f.write("".join(f"{u} {v}\n" for u, v in edges))
with open(f"{work}/g.v", "w") as f:
    f.write("".join(f"{v}\n" for v in range(n)) + "1000\n")
with open(f"{work}/sets.txt", "w") as f:
    f.write("# seed sets, one a line\n")
    for j in range(17):
        f.write(f"{rng.randrange(n)}\n")
    f.write("5:2, 17:0.5 280\n")  # 280 dangles
    f.write("9:1 9:3\n")
    f.write("1000\n")  # isolated
PY
for np in 1 2 3 4; do
  expect_ok "seed sets np$np" "$np" pagerank --input "$WORK/g.txt" --vertices "$WORK/g.v" --seed-sets "$WORK/sets.txt" \
    --tolerance 1e-14 --output "$WORK/b$np.h5" --quiet
done
expect_ok "seed sets, top 5" 2 pagerank --input "$WORK/g.txt" --vertices "$WORK/g.v" --seed-sets "$WORK/sets.txt" \
  --tolerance 1e-14 --top-k 5 --output "$WORK/top.h5" --log-json "$WORK/top.jsonl"
grep -q "personalized vectors (2 blocks" "$WORK/out.log" || fail "20 sets run as 2 blocks"
# Solver power (auto runs bicgstab here: its first power steps forecast a slow mix at 1e-14).
expect_ok "seed sets, power" 2 pagerank --input "$WORK/g.txt" --vertices "$WORK/g.v" --seed-sets "$WORK/sets.txt" \
  --tolerance 1e-14 --solver power --output "$WORK/p2.h5" --quiet
# The undirected reading of the same graph: solver auto runs cg.
expect_ok "seed sets, undirected" 3 pagerank --input "$WORK/g.txt" --vertices "$WORK/g.v" --undirected \
  --seed-sets "$WORK/sets.txt" --tolerance 1e-14 --output "$WORK/u.h5" --quiet
# All vertices: the influence matrix, one vector per vertex.
expect_ok "all vertices" 2 pagerank --input "$WORK/g.txt" --seed-sets all-vertices --output "$WORK/all.h5" --quiet

"$PYTHON" - "$WORK" <<'PY' || FAILURES=$((FAILURES + 1))
import sys, json
import h5py, numpy as np
work = sys.argv[1]
alpha = 0.85
edges = np.loadtxt(f"{work}/g.txt", dtype=np.int64)
ids = sorted(set(range(300)) | {1000})

def oracle(vertex_ids, edge_list, teleports):
    """(1 − α) t (I − αA)⁻¹ with the dangling mass along t, densely, per teleport row."""
    index = {v: i for i, v in enumerate(vertex_ids)}
    n = len(vertex_ids)
    a = np.zeros((n, n))
    for u, v in edge_list:
        a[index[u], index[v]] = 1.0
    out = a.sum(axis=1)
    p = np.divide(a, out[:, None], out=np.zeros_like(a), where=out[:, None] > 0)
    rows = []
    for t in teleports:
        m = np.eye(n) - alpha * p.T - alpha * np.outer(t, out == 0)
        rows.append(np.linalg.solve(m, (1 - alpha) * t))
    return np.array(rows)

def teleports_of(vertex_ids, sets):
    index = {v: i for i, v in enumerate(vertex_ids)}
    ts = []
    for s in sets:
        t = np.zeros(len(vertex_ids))
        for token in s.replace(",", " ").split():
            v, _, w = token.partition(":")
            t[index[int(v)]] += float(w) if w else 1.0
        ts.append(t / t.sum())
    return ts

with h5py.File(f"{work}/b1.h5") as f:
    g = f["pagerank"]
    sets = list(g["seed_set"].asstr()[:])
    vid = g["vertex_id"][:]
    X = g["personalized"][:]
    assert X.shape == (20, 301), X.shape
    assert sets[17] == "5:2, 17:0.5 280" and sets[19] == "1000", sets[17:]
    assert list(vid) == ids
    assert g.attrs["solver"] == "auto" and g.attrs["solver_used"] == "bicgstab", g.attrs["solver_used"]
    assert int(g.attrs["vectors"]) == 20
    assert f["pagerank"].attrs["personalized"] and int(f["provenance"].attrs["ranks"]) == 1
    assert (g["personalized_residual"][:] < 1e-14).all() and g["personalized_converged"][:].all()
    assert len(g["residual"][:]) > 0, "the convergence history"
expect = oracle(ids, edges, teleports_of(ids, sets))
err = np.abs(X - expect).sum(axis=1).max()
assert err < 1e-12, f"L1 to the dense solve: {err:.2e}"
for np_ in (2, 3, 4):
    with h5py.File(f"{work}/b{np_}.h5") as f:
        d = np.abs(f["pagerank/personalized"][:] - X).sum(axis=1).max()
        assert d < 1e-12, f"np{np_}: {d:.2e}"
with h5py.File(f"{work}/p2.h5") as f:
    g = f["pagerank"]
    assert g.attrs["solver_used"] == "power"
    assert g["personalized_iterations"][19] == 1, "the isolated vertex's chain is its teleport after one step"
    d = np.abs(g["personalized"][:] - expect).sum(axis=1).max()
    assert d < 1e-12, f"power L1 to the dense solve: {d:.2e}"
# --top-k: only the top lists, each the head of its row of the full matrix.
with h5py.File(f"{work}/top.h5") as f:
    g = f["pagerank"]
    assert "personalized" not in g, "--top-k writes the top lists only"
    tid, tsc = g["personalized_top_vertex_id"][:], g["personalized_top_score"][:]
    assert tid.shape == (20, 5) and tsc.shape == (20, 5)
    for j in range(20):
        order = np.argsort(-X[j], kind="stable")[:5]
        assert np.allclose(tsc[j], X[j][order], rtol=0, atol=1e-13), j
        assert set(tid[j][tsc[j] > tsc[j][-1] + 1e-12]) <= set(np.array(ids)[order]), j
log = [json.loads(line) for line in open(f"{work}/top.jsonl")]
events = [e["event"] for e in log]
assert events.count("personalized_block") == 2 and "personalized_plan" in events, events
# The block before the plan, between two bounds (the largest rank's); the plan's exact figure
# (rank 0's) within them.
bounds = next(e["details"] for e in log if e["event"] == "personalized_plan")
claimed = next(e["details"]["block_bytes"] for e in log if e.get("phase") == "plan")
assert 0 < bounds["block_bytes_at_least"] <= bounds["block_bytes_at_most"], bounds
assert 0 < claimed <= bounds["block_bytes_at_most"], (claimed, bounds)
assert events.count("personalized_solver_probe") == 1, "solver auto on a directed graph probes once"
# Undirected: cg, the same oracle on the symmetric graph.
sym = np.concatenate([edges, edges[:, ::-1]])
with h5py.File(f"{work}/u.h5") as f:
    assert f["pagerank"].attrs["solver_used"] == "cg"
    err = np.abs(f["pagerank/personalized"][:] - oracle(ids, sym, teleports_of(ids, sets))).sum(axis=1).max()
    assert err < 1e-10, f"cg L1 to the dense solve: {err:.2e}"
# All vertices: row j is the chain restarted at vertex j (no vertex file: 300 vertices at most).
with h5py.File(f"{work}/all.h5") as f:
    vid = list(f["pagerank/vertex_id"][:])
    A = f["pagerank/personalized"][:]
    assert A.shape == (len(vid), len(vid))
    assert list(f["pagerank/seed_set"].asstr()[:]) == [str(v) for v in vid]
    err = np.abs(A - oracle(vid, edges, list(np.eye(len(vid))))).sum(axis=1).max()
    assert err < 1e-9, f"influence matrix: {err:.2e}"
print(f"ok batch: 20 vectors and the {len(vid)} x {len(vid)} influence matrix match the dense solve")
PY

# The tools read a batch: inspect lists it, diff refuses it by name, perron_h5 and perron_plot load it.
if perron 1 inspect "$WORK/b1.h5" && grep -q "personalized 20 vectors; the first 5, each with its top 5" "$WORK/out.log"
then echo "ok   inspect a batch"; else fail "inspect a batch"; fi
if perron 1 inspect "$WORK/top.h5" && grep -q "personalized 20 vectors" "$WORK/out.log"; then
  echo "ok   inspect a --top-k batch"
else fail "inspect a --top-k batch"; fi
expect_exit 3 "diff of a batch" 1 "holds a batch of personalized vectors" "" diff "$WORK/b1.h5" "$WORK/b2.h5"
if "$PYTHON" - "$WORK" "$SOURCE_DIR/python" >"$WORK/out.log" 2>&1 <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
import perron_h5
b = perron_h5.load(f"{sys.argv[1]}/b1.h5")
assert b.kind == "pagerank-personalized" and b.personalized.shape == (20, 301) and b.seeds[19] == "1000", b
t = perron_h5.load(f"{sys.argv[1]}/top.h5")
assert t.personalized is None and len(t.top["vertex_id"]) == 20 * 5
PY
then echo "ok   perron_h5 loads a batch"; else fail "perron_h5 loads a batch"; fi
if "$PYTHON" "$SOURCE_DIR/python/perron_plot.py" "$WORK/b1.h5" --outdir "$WORK/plots" >"$WORK/out.log" 2>&1 &&
  "$PYTHON" "$SOURCE_DIR/python/perron_plot.py" "$WORK/top.h5" --outdir "$WORK/plots" >>"$WORK/out.log" 2>&1 &&
  [ -s "$WORK/plots/b1-personalized.png" ] && [ -s "$WORK/plots/top-personalized.png" ]; then
  echo "ok   perron_plot draws a batch"
else fail "perron_plot draws a batch"; fi

# Bad input: each names the file and line, exits 3 (2 for usage), and writes nothing. (Every
# syntax the reader refuses, weights of 0, and empty inline lists: Personalized.SeedSetFiles.)
printf '1\n\n2\n' >"$WORK/empty.txt"
expect_exit 3 "empty seed set" 2 "empty.txt:2: empty seed set" "$WORK/bad.h5" \
  pagerank --input "$WORK/g.txt" --seed-sets "$WORK/empty.txt" --output "$WORK/bad.h5"
printf '1\n2,5000\n' >"$WORK/missing.txt"
expect_exit 3 "id not a vertex" 3 "missing.txt:2: vertex 5000 is not in the graph" "$WORK/bad.h5" \
  pagerank --input "$WORK/g.txt" --seed-sets "$WORK/missing.txt" --output "$WORK/bad.h5"
printf '3\n1:inf\n' >"$WORK/inf.txt"
expect_exit 3 "weight not finite" 2 "inf.txt:2: the weight of 1 must be > 0 and finite" "$WORK/bad.h5" \
  pagerank --input "$WORK/g.txt" --seed-sets "$WORK/inf.txt" --output "$WORK/bad.h5"
expect_exit 2 "all-vertices too large" 2 "up to 65536 vertices, and this graph has 131072" "$WORK/bad.h5" \
  pagerank --input kronecker:scale=17,edge-factor=1 --seed-sets all-vertices --output "$WORK/bad.h5"
# More vectors than fit: refused before the solve, with what it would need (a share of the
# node set by PERRON_MEMORY_LIMIT, as on a node shared without cgroups).
PERRON_MEMORY_LIMIT=4M expect_exit 3 "more vectors than fit" 2 \
  "--seed-sets: 16384 personalized vectors, 16 at a time .* needs .* of memory; this rank has 4.19 MB" "$WORK/bad.h5" \
  pagerank --input kronecker:scale=14 --seed-sets all-vertices --output "$WORK/bad.h5"
expect_exit 2 "with --seeds" 1 "--personalization and --seeds give the single vector" "$WORK/bad.h5" \
  pagerank --input "$WORK/g.txt" --seed-sets "$WORK/sets.txt" --seeds 3 --output "$WORK/bad.h5"
expect_exit 2 "cg on a directed graph" 2 "solver cg needs a symmetric graph" "$WORK/bad.h5" \
  pagerank --input "$WORK/g.txt" --seed-sets "$WORK/sets.txt" --solver cg --output "$WORK/bad.h5"

# ---- tokenrank --per-query ---------------------------------------------------------------
expect_ok "qkv" 1 generate qkv --heads 3 --seq 90 --dim 16 --output "$WORK/qkv.h5"
"$PYTHON" - "$WORK/qkv.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "a") as f:
    f.create_dataset("tokens", data=[f"w{i}" for i in range(90)], dtype=h5py.string_dtype("utf-8"))
PY
# (unit_np1..4 check every chain at each rank count against the dense solve; here 1 and 3 ranks,
# the uneven split.)
for np in 1 3; do
  expect_ok "per-query np$np" "$np" tokenrank --input "$WORK/qkv.h5" --per-query 0,7,45,89 --precision double \
    --tolerance 1e-14 --tile-q 16 --tile-k 8 --output "$WORK/pq$np.h5" --quiet
  expect_ok "per-query causal np$np" "$np" tokenrank --input "$WORK/qkv.h5" --per-query 0,7,45,89 --causal \
    --precision double --tile-q 16 --tile-k 8 --output "$WORK/pqc$np.h5" --quiet
done
grep -q 'query 7 "w7":' "$WORK/out.log" || fail "the summary names each query's word"
expect_ok "seeds, the single run" 2 tokenrank --input "$WORK/qkv.h5" --seeds 7 --precision double --tolerance 1e-14 \
  --output "$WORK/s7.h5" --quiet
expect_ok "per-query all" 2 tokenrank --input "$WORK/qkv.h5" --per-query all --precision double --output "$WORK/pqa.h5" --quiet
"$PYTHON" - "$WORK" <<'PY' || FAILURES=$((FAILURES + 1))
import sys
import h5py, numpy as np
work = sys.argv[1]
alpha = 0.85
with h5py.File(f"{work}/qkv.h5") as f:
    q, k = f["q"][:].astype(np.float64), f["k"][:].astype(np.float64)
H, N, d = q.shape

def mean_chain(causal):
    a = np.zeros((N, N))
    for h in range(H):
        s = q[h] @ k[h].T / np.sqrt(d)
        if causal:
            s[np.triu_indices(N, 1)] = -np.inf
        p = np.exp(s - s.max(axis=1, keepdims=True))
        a += p / p.sum(axis=1, keepdims=True) / H
    return a

def solve(a, t):
    x = np.linalg.solve((np.eye(N) - alpha * a).T, (1 - alpha) * t)
    return x / x.sum()

for name, causal in (("pq", False), ("pqc", True)):
    a = mean_chain(causal)
    with h5py.File(f"{work}/{name}1.h5") as f:
        g = f["tokenrank"]
        X = g["personalized"][:]
        assert X.shape == (4, N) and list(g["personalized_query"][:]) == [0, 7, 45, 89]
        assert list(g["personalized_query_token"].asstr()[:]) == ["w0", "w7", "w45", "w89"]
        assert g.attrs["solver_used"] == ("triangular" if causal else "power"), g.attrs["solver_used"]
        assert bool(g.attrs["causal"]) == causal and g.attrs["chain"] == "mean"
    for j, pos in enumerate([0, 7, 45, 89]):
        t = np.zeros(N)
        t[pos] = 1
        err = np.abs(X[j] - solve(a, t)).sum()
        assert err < 1e-12, f"{name} query {pos}: {err:.2e}"
    for np_ in (3,):
        with h5py.File(f"{work}/{name}{np_}.h5") as f:
            diff = np.abs(f["tokenrank/personalized"][:] - X).sum(axis=1).max()
            assert diff < 1e-12, f"{name} np{np_}: {diff:.2e}"
with h5py.File(f"{work}/s7.h5") as f, h5py.File(f"{work}/pq3.h5") as b:
    assert np.abs(f["tokenrank/mean_score"][:] - b["tokenrank/personalized"][1]).sum() < 1e-12, "--seeds 7 is chain 1"
    assert f["tokenrank"].attrs["teleport"] == "seeds 7", f["tokenrank"].attrs["teleport"]
with h5py.File(f"{work}/pqa.h5") as f:
    M = f["tokenrank/personalized"][:]
    inf = (1 - alpha) * np.linalg.inv(np.eye(N) - alpha * mean_chain(False))  # rows sum to 1: A is row-stochastic
    err = np.abs(M - inf).sum(axis=1).max()
    assert err < 1e-9, f"influence matrix: {err:.2e}"
print("ok tokenrank --per-query: every chain is the dense solve, causal and not, at 1 and 3 ranks; all = the influence matrix")
PY
if perron 1 inspect "$WORK/pq1.h5" && grep -q 'query 7 "w7"' "$WORK/out.log"; then echo "ok   inspect per-query chains"
else fail "inspect per-query chains"; fi
expect_exit 2 "query past N" 2 "--per-query: position 90 is past the sequence \\(N = 90" "$WORK/bad.h5" \
  tokenrank --input "$WORK/qkv.h5" --per-query 3,90 --output "$WORK/bad.h5"
expect_exit 2 "seed past N" 1 "--seeds: position 1000 is past the sequence" "$WORK/bad.h5" \
  tokenrank --input "$WORK/qkv.h5" --seeds 5,1000 --output "$WORK/bad.h5"
expect_exit 3 "seed weight nan" 1 "must be > 0 and finite, got nan" "$WORK/bad.h5" \
  tokenrank --input "$WORK/qkv.h5" --seeds 5:nan --output "$WORK/bad.h5"
expect_exit 2 "weights on queries" 1 "--per-query: expected query positions, without weights" "$WORK/bad.h5" \
  tokenrank --input "$WORK/qkv.h5" --per-query 5:2 --output "$WORK/bad.h5"
expect_ok "qkv 5000" 1 generate qkv --heads 1 --seq 5000 --dim 8 --output "$WORK/big.h5"
expect_exit 2 "all past its limit" 1 "--per-query all ranks from every position: N up to 4096, and this input has N = 5000" \
  "$WORK/bad.h5" tokenrank --input "$WORK/big.h5" --per-query all --output "$WORK/bad.h5"
finish
