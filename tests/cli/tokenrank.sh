#!/usr/bin/env bash
# perron tokenrank and perron attention-graph end to end: results at 1, 2 and 3 ranks against a
# dense float64 numpy reference (causal, window, mask, layers, rollout, teleport); TokenRank of
# q, k equal to perron pagerank of the exported full attention graph; bad inputs.
source "$(dirname "$0")/common.sh"
check() { "$PYTHON" "$SOURCE_DIR/tests/python/check_tokenrank.py" "$@" || FAILURES=$((FAILURES + 1)); }
expect_ok "generate sink" 2 generate qkv --heads 4 --kv-heads 2 --seq 150 --dim 32 --structure sink --output "$WORK/s.h5"
expect_ok "generate layers" 2 generate qkv --heads 2 --seq 90 --dim 16 --layers 3 --output "$WORK/l.h5"
for np in 1 2 3; do
  expect_ok "tokenrank np$np" "$np" tokenrank --input "$WORK/s.h5" --output "$WORK/t$np.h5" --precision double --tile-q 32 --tile-k 16 &&
    check "$WORK/s.h5" "$WORK/t$np.h5"
done
expect_ok "single precision" 2 tokenrank --input "$WORK/s.h5" --output "$WORK/ts.h5" && check "$WORK/s.h5" "$WORK/ts.h5" --max-l1 1e-5
expect_ok "causal (exact sweep)" 3 tokenrank --input "$WORK/s.h5" --output "$WORK/tc.h5" --causal --precision double --tile-q 16 &&
  check "$WORK/s.h5" "$WORK/tc.h5" --causal
expect_ok "causal window, power" 2 tokenrank --input "$WORK/s.h5" --output "$WORK/tw.h5" --causal --window 20 --solver power --precision double &&
  check "$WORK/s.h5" "$WORK/tw.h5" --causal --window 20
expect_ok "three layers, rollout" 3 tokenrank --input "$WORK/l.h5" --output "$WORK/tl.h5" --rollout --precision double &&
  check "$WORK/l.h5" "$WORK/tl.h5" --rollout
"$PYTHON" - "$WORK" <<'PY'
import sys, h5py, numpy as np
w = sys.argv[1]
rng = np.random.default_rng(4)
with h5py.File(w + "/s.h5", "a") as f:
    m = rng.random((150, 150)) < 0.8
    m[7, :] = False                                  # a token that attends to nothing: dangling
    f["mask"] = m
with h5py.File(w + "/tele.h5", "w") as f:
    t = rng.random(150); t[:50] = 0; f["teleport"] = t
with h5py.File(w + "/tele_short.h5", "w") as f:
    f["teleport"] = np.ones(149)
with h5py.File(w + "/tele_zero.h5", "w") as f:
    f["teleport"] = np.zeros(150)
with h5py.File(w + "/bad.h5", "w") as f:
    f["q"] = np.zeros((2, 10, 8), np.float32); f["k"] = np.zeros((2, 12, 8), np.float32)
open(w + "/tele_far.txt", "w").write("3 1.0\n150 2.0\n")
PY
expect_ok "mask and teleport" 2 tokenrank --input "$WORK/s.h5" --output "$WORK/tm.h5" --mask mask --teleport "$WORK/tele.h5" --precision double &&
  check "$WORK/s.h5" "$WORK/tm.h5" --mask mask --teleport "$WORK/tele.h5"
expect_ok "undamped causal" 2 tokenrank --input "$WORK/s.h5" --output "$WORK/tu.h5" --causal --damping 1
"$PYTHON" - "$WORK/tu.h5" <<'PY' || FAILURES=$((FAILURES + 1))
import sys, h5py, numpy as np
r = h5py.File(sys.argv[1])["tokenrank"]
assert r["mean_score"][0] == 1.0 and r["mean_score"][1:].sum() == 0, "undamped causal chain is not e_0"
assert "e_0" in r.attrs["note"], r.attrs["note"]
print("undamped causal chain: e_0, and the file says why:", r.attrs["note"][:60], "...")
PY
# TokenRank of q, k equals PageRank of the exported full attention graph (the mean chain).
expect_ok "attention-graph, all edges" 2 attention-graph --input "$WORK/s.h5" --output "$WORK/g.h5" --top-k 150 --precision double
expect_ok "pagerank of the graph" 3 pagerank --input "$WORK/g.h5" --output "$WORK/pg.h5" --tolerance 1e-13
expect_ok "tokenrank, same tolerance" 2 tokenrank --input "$WORK/s.h5" --output "$WORK/tg.h5" --tolerance 1e-13 --precision double
expect_ok "attention-graph, top 5 of head 1" 3 attention-graph --input "$WORK/s.h5" --output "$WORK/g5.h5" --top-k 5 --head 1
"$PYTHON" - "$WORK" <<'PY' || FAILURES=$((FAILURES + 1))
import sys, h5py, numpy as np
w = sys.argv[1]
p = h5py.File(w + "/pg.h5")["pagerank"]
pr = np.zeros(150); pr[p["vertex_id"][()]] = p["score"][()]
tr = h5py.File(w + "/tg.h5")["tokenrank/mean_score"][()]
d = np.abs(pr - tr).sum(); print(f"L1(pagerank of the exported graph, tokenrank) = {d:.2e}"); assert d < 1e-9
g = h5py.File(w + "/g.h5"); assert g["src"].shape[0] == 150 * 150 and g.attrs["top_k"] == 150
g5 = h5py.File(w + "/g5.h5"); src, wt = g5["src"][()], g5["weight"][()]
assert (np.bincount(src.astype(np.int64), minlength=150) == 5).all(), "every query keeps 5 edges"
assert all((np.diff(wt[src == i]) <= 0).all() for i in range(150)), "edges of a row by decreasing weight"
assert "provenance" in g5 and g5.attrs["head"] == 1
print("top-5 graph: 5 edges per query, strongest first")
PY
# The tools read TokenRank results too: inspect, diff, the Python loader and plots.
expect_ok "inspect" 1 inspect "$WORK/tc.h5" --json
grep -q '"kind": "tokenrank"' "$WORK/out.log" || fail "inspect --json does not say tokenrank"
expect_ok "diff of the causal sweep and power iteration" 1 diff "$WORK/tc.h5" "$WORK/t1.h5" --max-l1 10
"$PYTHON" - "$SOURCE_DIR/python" "$WORK" <<'PY' || FAILURES=$((FAILURES + 1))
import subprocess, sys
sys.path.insert(0, sys.argv[1])
import perron_h5
r = perron_h5.load(sys.argv[2] + "/t2.h5")
assert r.kind == "tokenrank" and r.head_scores.shape == (4, 150) and abs(r.score.sum() - 1) < 1e-12, r
made = subprocess.run([sys.executable, sys.argv[1] + "/perron_plot.py", sys.argv[2] + "/t2.h5"], check=True,
                      capture_output=True, text=True).stdout.split()
assert [m.rsplit("-", 1)[1] for m in made] == ["convergence.png", "scores.png", "top.png", "positions.png", "heads.png",
                                              "baselines.png"], made
out = subprocess.run([sys.executable, sys.argv[1] + "/tokenrank_vs_attention.py", sys.argv[2] + "/tg.h5", sys.argv[2] + "/g.h5"],
                     check=True, capture_output=True, text=True).stdout
assert "Spearman" in out, out
# Its picture (its refusal of two files about different chains is checked below, with tiny_t.h5).
plot = sys.argv[2] + "/tva.png"
subprocess.run([sys.executable, sys.argv[1] + "/tokenrank_vs_attention.py", sys.argv[2] + "/tg.h5", sys.argv[2] + "/g.h5",
                "--plot", plot], check=True, capture_output=True)
assert open(plot, "rb").read(8) == b"\x89PNG\r\n\x1a\n", "no PNG"
print("python tools on TokenRank results:", out.splitlines()[0])
PY
# The batched layout with float64 q and float16 k: --precision double keeps float64 inputs float64.
"$PYTHON" -c "
import h5py, numpy as np
rng = np.random.default_rng(2)
with h5py.File('$WORK/batched.h5', 'w') as f:
    f['q'] = rng.normal(size=(2, 3, 40, 16)); f['k'] = rng.normal(size=(2, 3, 40, 16)).astype(np.float16)"
expect_ok "batched float64 input, batch entry 1" 3 tokenrank --input "$WORK/batched.h5" --output "$WORK/tb.h5" --batch-index 1 \
  --precision double --tolerance 1e-13
"$PYTHON" - "$WORK" <<'PY' || FAILURES=$((FAILURES + 1))
import sys, h5py, numpy as np
w = sys.argv[1]
f = h5py.File(w + "/batched.h5"); q = f["q"][1].astype(np.float64); k = f["k"][1].astype(np.float64)
mats = []
for h in range(3):
    s = q[h] @ k[h].T / 4.0; p = np.exp(s - s.max(1, keepdims=True)); mats.append(p / p.sum(1, keepdims=True))
mats.append(sum(mats) / 3)
r = h5py.File(w + "/tb.h5")["tokenrank"]
worst = 0
for i, a in enumerate(mats):
    x = np.linalg.solve((np.eye(40) - 0.85 * a).T, np.full(40, 1 / 40)); x /= x.sum()
    worst = max(worst, np.abs((r["score"][i] if i < 3 else r["mean_score"][()]) - x).sum())
print(f"batched float64 input: L1 to the float64 reference {worst:.1e}"); assert worst < 1e-12
PY
# More ranks than tokens: ranks with no positions take part and the answer is still exact.
expect_ok "generate 2 tokens" 1 generate qkv --heads 2 --seq 2 --dim 4 --output "$WORK/tiny.h5"
expect_ok "3 ranks, 2 tokens" 3 tokenrank --input "$WORK/tiny.h5" --output "$WORK/tiny_t.h5" --precision double && check "$WORK/tiny.h5" "$WORK/tiny_t.h5"
"$PYTHON" "$SOURCE_DIR/python/tokenrank_vs_attention.py" "$WORK/tiny_t.h5" "$WORK/g.h5" >"$WORK/tva.log" 2>&1 &&
  fail "tokenrank_vs_attention compared TokenRanks of different lengths" ||
  { grep -q "different chains: n = " "$WORK/tva.log" && echo "ok   tokenrank_vs_attention refuses another N: $(cat "$WORK/tva.log")" ||
    fail "tokenrank_vs_attention: no clear refusal of another N: $(cat "$WORK/tva.log")"; }
expect_ok "3 ranks, 2 tokens, causal" 3 tokenrank --input "$WORK/tiny.h5" --output "$WORK/tiny_c.h5" --precision double --causal &&
  check "$WORK/tiny.h5" "$WORK/tiny_c.h5" --causal
OUT=$WORK/err.h5
expect_error "teleport of the wrong length" 2 "one weight per position, N = 150, found 149" "$OUT" tokenrank --input "$WORK/s.h5" --teleport "$WORK/tele_short.h5" --output "$OUT"
expect_error "teleport summing to 0" 2 "sum to 0" "$OUT" tokenrank --input "$WORK/s.h5" --teleport "$WORK/tele_zero.h5" --output "$OUT"
expect_error "teleport position past N" 2 "position 150 is past the sequence" "$OUT" tokenrank --input "$WORK/s.h5" --teleport "$WORK/tele_far.txt" --output "$OUT"
expect_error "q and k of different lengths" 2 "as many keys as queries" "$OUT" tokenrank --input "$WORK/bad.h5" --output "$OUT"
expect_error "triangular without causal" 2 "needs a causal chain" "$OUT" tokenrank --input "$WORK/s.h5" --solver triangular --output "$OUT"
expect_error "damping out of range" 2 "--damping: Value 1.5 not in range" "$OUT" tokenrank --input "$WORK/s.h5" --damping 1.5 --output "$OUT"
expect_error "missing layer" 2 "no dataset 'layer_3/q'" "$OUT" tokenrank --input "$WORK/l.h5" --layers 4 --output "$OUT"
expect_error "batch index past the batch" 2 "--batch-index 5 is past the 2 batch entries" "$OUT" tokenrank --input "$WORK/batched.h5" --batch-index 5 --output "$OUT"
expect_error "head past the heads" 2 "head 4 is not a query head" "$OUT" attention-graph --input "$WORK/s.h5" --top-k 3 --head 4 --output "$OUT"
# --verify: the verifier's step is recorded; a result short of the tolerance is refused (exit 5).
expect_ok "tokenrank --verify" 2 tokenrank --input "$WORK/s.h5" --output "$WORK/tv.h5" --verify
"$PYTHON" -c "import h5py, sys; r = h5py.File(sys.argv[1])['tokenrank'].attrs['verify_residual']; sys.exit(0 if 0 <= r < 1e-9 else 1)" \
  "$WORK/tv.h5" && echo "ok   /tokenrank@verify_residual recorded" || fail "/tokenrank@verify_residual"
expect_exit 5 "tokenrank --verify after one step" 2 "more than 10 x the tolerance" "$WORK/t-unverified.h5" \
  tokenrank --input "$WORK/s.h5" --output "$WORK/t-unverified.h5" --solver power --max-iterations 1 --verify

# The input says what it is: root attributes causal (h5py's bool) and scale set the chain unless
# a flag says otherwise, with a warning naming both values when they disagree.
expect_ok "qkv for attributes" 1 generate qkv --heads 2 --seq 48 --dim 8 --seed 9 --output "$WORK/said.h5"
cp "$WORK/said.h5" "$WORK/plain.h5"
"$PYTHON" -c "import h5py, sys; f = h5py.File(sys.argv[1], 'a'); f.attrs['causal'] = True; f.attrs['scale'] = 0.2" "$WORK/said.h5"
expect_ok "tokenrank of a file that says causal" 2 tokenrank --input "$WORK/said.h5" --output "$WORK/said-t.h5" --quiet
expect_ok "the same by flags" 2 tokenrank --input "$WORK/plain.h5" --causal --scale 0.2 --output "$WORK/flags-t.h5" --quiet
expect_ok "--no-causal overrides it" 2 tokenrank --input "$WORK/said.h5" --no-causal --output "$WORK/nc-t.h5"
grep -q "warning: .*said.h5 says causal = true; --no-causal overrides it" "$WORK/out.log" || fail "no warning naming both values"
expect_ok "the plain file, scale 0.2" 2 tokenrank --input "$WORK/plain.h5" --scale 0.2 --output "$WORK/plain-t.h5" --quiet
expect_ok "attention of a file that says causal" 1 attention --input "$WORK/said.h5" --output "$WORK/said-a.h5"
"$PYTHON" - "$WORK" <<'PY' || FAILURES=$((FAILURES + 1))
import sys, h5py, numpy as np
w = sys.argv[1]
def t(name):
    with h5py.File(f"{w}/{name}.h5") as f:
        g = f["tokenrank"]
        return g["mean_score"][:], bool(g.attrs["causal"]), float(g.attrs["scale"])
said, flags, nc, plain = t("said-t"), t("flags-t"), t("nc-t"), t("plain-t")
assert said[1:] == (True, 0.2) and np.array_equal(said[0], flags[0]), "the file's attributes act as the flags"
assert nc[1:] == (False, 0.2) and np.array_equal(nc[0], plain[0]), "--no-causal wins, the file's scale stays"
with h5py.File(f"{w}/said-a.h5") as f:
    assert bool(f["attention"].attrs["causal"]) and abs(f["attention"].attrs["scale"] - 0.2) < 1e-7  # a float32 scale
print("ok   the input's causal and scale attributes, and the flags over them")
PY
expect_exit 2 "--causal and --no-causal" 1 "give --causal or --no-causal, not both" "$WORK/both.h5" \
  tokenrank --input "$WORK/said.h5" --causal --no-causal --output "$WORK/both.h5"
finish
