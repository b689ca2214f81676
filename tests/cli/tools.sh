#!/usr/bin/env bash
# The tools around a result: perron inspect and diff, the JSON event log, and the Python
# post-processing (perron_h5 loader, perron_plot figures) run on real result files.
source "$(dirname "$0")/common.sh"
printf '1 2\n2 3\n3 1\n3 4\n4 5\n' >"$WORK/g.txt"
expect_ok "a result" 2 pagerank --input "$WORK/g.txt" --output "$WORK/a.h5" --log-json "$WORK/log.jsonl" --quiet
expect_ok "another result" 3 pagerank --input "$WORK/g.txt" --damping 0.5 --output "$WORK/b.h5" --quiet

expect_ok "inspect" 2 inspect "$WORK/a.h5"
for want in "kind        PageRank result" "damping                    0.85" "ranks                      2" "convergence [0-9]+ iterations"; do
  grep -Eq "$want" "$WORK/out.log" || fail "inspect: no '$want'"
done
expect_ok "inspect --json" 1 inspect --json "$WORK/a.h5"
"$PYTHON" -c "
import json; d = json.load(open('$WORK/out.log'))
assert d['kind'] == 'pagerank' and d['attributes']['n'] == 5 and d['provenance']['ranks'] == 2, d
assert len(d['residual']) == d['attributes']['iterations'] and len(d['top']) == 5
print('inspect --json ok')" || FAILURES=$((FAILURES + 1))
expect_ok "diff of a file with itself" 1 diff "$WORK/a.h5" "$WORK/a.h5" --max-l1 0
grep -q "L1            0.000000e+00" "$WORK/out.log" || fail "diff: L1 of a file with itself"
expect_ok "diff --json" 1 diff --json "$WORK/a.h5" "$WORK/b.h5"
"$PYTHON" - "$WORK/out.log" "$WORK/a.h5" "$WORK/b.h5" <<'PY' || FAILURES=$((FAILURES + 1))
import json, sys, h5py, numpy as np
d = json.load(open(sys.argv[1]))
a, b = (h5py.File(p)["pagerank/score"][:] for p in sys.argv[2:])
assert abs(d["l1"] - np.abs(a - b).sum()) < 1e-15 and abs(d["max_abs_diff"] - np.abs(a - b).max()) < 1e-15, d
assert d["common_vertices"] == 5 and d["top_k"] == 5, d
print("diff --json matches numpy:", d["l1"])
PY
expect_error "diff over the threshold" 1 "differ by L1 .* more than --max-l1" "" diff "$WORK/a.h5" "$WORK/b.h5" --max-l1 1e-9
expect_error "inspect of a text file" 1 "g.txt: not an HDF5 file" "" inspect "$WORK/g.txt"
"$PYTHON" -c "import h5py; h5py.File('$WORK/other.h5', 'w')['data'] = [1, 2]"
expect_error "inspect of an HDF5 file without results" 1 "holds no perron result" "" inspect "$WORK/other.h5"

"$PYTHON" -c "
import json
recs = [json.loads(l) for l in open('$WORK/log.jsonl')]
kinds = [r['event'] for r in recs]
assert kinds[0] == 'start' and kinds[-1] == 'done' and kinds.count('iteration') == recs[-1]['details']['iterations'], kinds
# Solver auto switched from power to bicgstab on this directed graph: a second plan, announced.
assert [r['phase'] for r in recs if r['event'] == 'phase'] == ['load', 'partition', 'plan', 'plan'], kinds
switch = [r['details'] for r in recs if r['event'] == 'solver_switch']
assert len(switch) == 1 and switch[0]['to'] == 'bicgstab' and switch[0]['after'] >= 3, switch
print('log-json: %d records' % len(recs))" || FAILURES=$((FAILURES + 1))

if "$PYTHON" "$SOURCE_DIR/python/perron_plot.py" "$WORK/a.h5" --outdir "$WORK/plots" >"$WORK/out.log" 2>&1; then
  for png in a-convergence a-scores a-top; do
    f="$WORK/plots/$png.png"
    if [ -s "$f" ] && [ "$(head -c 4 "$f" | tail -c 3)" = "PNG" ] && [ "$(stat -c %s "$f")" -gt 10000 ]; then
      echo "ok   $png.png ($(stat -c %s "$f") bytes)"
    else
      fail "perron_plot: $png.png missing or not a figure"
    fi
  done
else
  fail "perron_plot.py failed"
fi
"$PYTHON" -c "
import sys; sys.path.insert(0, '$SOURCE_DIR/python'); import perron_h5
r = perron_h5.load('$WORK/a.h5')
assert r.attrs['n'] == 5 and len(r.residual) == r.attrs['iterations'] and abs(sum(r.score) - 1) < 1e-12
print('perron_h5:', r)" || FAILURES=$((FAILURES + 1))
# Perron's other outputs are described, not refused; results of another kind or length are
# not compared; the attention-family commands keep their word (-q summary, no silent --rollout).
expect_ok "qkv 64" 1 generate qkv --heads 2 --seq 64 --dim 8 --output "$WORK/q64.h5"
expect_ok "qkv 32" 1 generate qkv --heads 2 --seq 32 --dim 8 --output "$WORK/q32.h5"
expect_ok "attention result" 1 attention --input "$WORK/q64.h5" --output "$WORK/att.h5"
expect_ok "inspect an attention result" 1 inspect "$WORK/att.h5"
grep -q "kind        attention result" "$WORK/out.log" || fail "inspect: an attention result"
expect_ok "attention-graph" 1 attention-graph --input "$WORK/q64.h5" --top-k 4 --output "$WORK/edges.h5"
expect_ok "inspect an edge list" 1 inspect --json "$WORK/edges.h5"
grep -q '"kind": "edges"' "$WORK/out.log" || fail "inspect: an edge list"
expect_exit 2 "attention-graph --rollout" 1 "rank it with perron tokenrank --rollout" "$WORK/roll.h5" \
  attention-graph --input "$WORK/q64.h5" --rollout --top-k 4 --output "$WORK/roll.h5"
expect_ok "tokenrank -q prints its summary" 2 tokenrank --input "$WORK/q64.h5" --output "$WORK/t64.h5" -q
grep -q "^perron tokenrank: N 64" "$WORK/out.log" || fail "tokenrank -q: no summary"
grep -Eq "^ *iteration +[0-9]" "$WORK/out.log" && fail "tokenrank -q: iterations printed"
expect_ok "tokenrank of 32" 1 tokenrank --input "$WORK/q32.h5" --output "$WORK/t32.h5" -q
expect_ok "diff of TokenRanks" 1 diff "$WORK/t64.h5" "$WORK/t64.h5"
grep -q "^positions .* 64 in both" "$WORK/out.log" && grep -q "(position " "$WORK/out.log" || fail "diff: positions, not vertices"
expect_exit 3 "diff of TokenRanks of different lengths" 1 "ranks 64 positions and .* 32: TokenRanks of different lengths" "" \
  diff "$WORK/t64.h5" "$WORK/t32.h5"
expect_exit 3 "diff of a TokenRank and a PageRank" 1 "is a TokenRank result and .* a PageRank one" "" diff "$WORK/t64.h5" "$WORK/a.h5"
"$PYTHON" -c "
import sys; sys.path.insert(0, '$SOURCE_DIR/python'); import perron_h5
for path, what in (('$WORK/att.h5', 'attention result'), ('$WORK/edges.h5', 'HDF5 edge list')):
    try:
        perron_h5.load(path)
        raise SystemExit('perron_h5 loaded ' + path)
    except ValueError as e:
        assert what in str(e), e
print('perron_h5 names attention results and edge lists')" || FAILURES=$((FAILURES + 1))
finish
