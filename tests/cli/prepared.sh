#!/usr/bin/env bash
# Prepared graphs (perron convert --to graph): scores equal to the edge-list run's at 1 to 4
# ranks whatever rank count prepared the file, weights and undirected builds kept, info /
# inspect / diff / restart on them, and every damaged file refused with exit 3, a message
# naming the dataset and no output.
source "$(dirname "$0")/common.sh"
OUT=$WORK/out.h5
py() { "$PYTHON" - "$@"; }

# A weighted directed graph with dangling and isolated vertices, sparse ids and duplicates.
"$PYTHON" -c "
import random
random.seed(5)
with open('$WORK/w.txt', 'w') as f:
    for _ in range(3000):
        u, v = random.randrange(400) * 7 + 3, random.randrange(400) * 7 + 3
        f.write(f'{u} {v} {random.uniform(0.1, 4.0):.6f}\n')
"
printf '9999\n12345\n' >"$WORK/extra.txt"
expect_ok "prepare a weighted graph on 2 ranks" 2 convert --to graph --input "$WORK/w.txt" --vertices "$WORK/extra.txt" --output "$WORK/w.g.h5"
for np in 1 2 3 4; do
  expect_ok "pagerank from the edge list, np$np" "$np" pagerank --input "$WORK/w.txt" --vertices "$WORK/extra.txt" --output "$WORK/we$np.h5"
  expect_ok "pagerank from the prepared graph, np$np" "$np" pagerank --input "$WORK/w.g.h5" --output "$WORK/wg$np.h5"
  expect_ok "the same scores, np$np (L1 <= 1e-12)" 1 diff "$WORK/we$np.h5" "$WORK/wg$np.h5" --max-l1 1e-12
done
expect_ok "prepared on 2, loaded on 3 against the edge list on 1" 1 diff "$WORK/we1.h5" "$WORK/wg3.h5" --max-l1 1e-12
py "$WORK/wg2.h5" "$WORK/we2.h5" <<'PY' && echo "ok   same vertices, weights and statistics" || fail "attributes of a run from a prepared graph"
import sys, h5py
a, b = (h5py.File(p)["pagerank"] for p in sys.argv[1:])
for k in ("n", "m", "dangling", "self_loops", "duplicates_collapsed", "weighted", "iterations"):
    assert a.attrs[k] == b.attrs[k], (k, a.attrs[k], b.attrs[k])
assert a.attrs["input_format"] == "graph"
assert (a["vertex_id"][:] == b["vertex_id"][:]).all()
PY

# An HDF5 edge list in a group named graph is an edge list, not a prepared graph.
expect_ok "an edge list in group /graph" 2 convert --input "$WORK/w.txt" --group graph --output "$WORK/w-edges.h5"
expect_ok "read as an edge list" 2 pagerank --input "$WORK/w-edges.h5" --hdf5-group graph --vertices "$WORK/extra.txt" --output "$WORK/wh.h5"
expect_ok "the same scores as the text" 1 diff "$WORK/wh.h5" "$WORK/we2.h5" --max-l1 1e-12

# Fewer vertices than ranks: ranks without a vertex or an edge load nothing and take part.
printf '5 9\n9 5\n9 7\n' >"$WORK/tiny.txt"
expect_ok "prepare a 3-vertex graph" 1 convert --to graph --input "$WORK/tiny.txt" --output "$WORK/tiny.g.h5"
expect_ok "load it on 4 ranks" 4 pagerank --input "$WORK/tiny.g.h5" --output "$WORK/tiny4.h5"
expect_ok "the edge list on 4 ranks" 4 pagerank --input "$WORK/tiny.txt" --output "$WORK/tinye.h5"
expect_ok "tiny: the same scores" 1 diff "$WORK/tiny4.h5" "$WORK/tinye.h5" --max-l1 1e-12

# Undirected builds and --format graph; cg needs the symmetry the file records.
expect_ok "prepare kronecker undirected" 3 convert --to graph --input kronecker:scale=11 --output "$WORK/k.g.h5"
expect_ok "cg from the prepared graph" 2 pagerank --input "$WORK/k.g.h5" --format graph --solver cg --output "$WORK/kg.h5"
expect_ok "cg from the generator" 2 pagerank --input kronecker:scale=11 --solver cg --output "$WORK/kk.h5"
expect_ok "cg: the same scores" 1 diff "$WORK/kg.h5" "$WORK/kk.h5" --max-l1 1e-12
expect_ok "info on a prepared graph" 2 info "$WORK/k.g.h5"
grep -q "edges (m)" "$WORK/out.log" && echo "ok   info describes it" || fail "info output"
expect_ok "inspect a prepared graph" 1 inspect "$WORK/k.g.h5"
grep -q "prepared graph" "$WORK/out.log" && echo "ok   inspect says what it is" || fail "inspect output"
expect_exit 3 "diff refuses a graph" 1 "is a prepared graph, not a result" "" diff "$WORK/k.g.h5" "$WORK/kk.h5"
expect_exit 2 "no edge list from a prepared graph" 1 "is a prepared graph: convert writes an edge list from the input" "$OUT" \
  convert --input "$WORK/k.g.h5" --output "$OUT"
expect_exit 2 "build options have nothing to act on" 2 "--undirected: .* is a prepared graph, built already" "$OUT" \
  pagerank --input "$WORK/k.g.h5" --undirected --output "$OUT"

# A checkpoint of the edge-list run resumes on the prepared graph: the same graph fingerprint.
expect_ok "checkpoints from the edge list" 2 pagerank --input "$WORK/w.txt" --vertices "$WORK/extra.txt" --iterations 9 \
  --checkpoint-every 4 --output "$WORK/ck.h5"
expect_ok "resume the last on the prepared graph" 3 pagerank --input "$WORK/w.g.h5" --iterations 9 --restart "$WORK/ck.ckpt.h5" \
  --output "$WORK/ck2.h5" --checkpoint "$WORK/ck2.ckpt.h5"
expect_ok "resumed and uninterrupted agree" 1 diff "$WORK/ck.h5" "$WORK/ck2.h5" --max-l1 1e-12

# Damaged files: each refused with exit 3, the dataset named, nothing written.
damage() {  # damage NAME PYTHON-STATEMENTS: a copy of w.g.h5 changed by the statements (f: the file)
  cp "$WORK/w.g.h5" "$WORK/$1.h5"
  py "$WORK/$1.h5" <<PY
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    g = f["graph"]
$2
PY
}
damage offsets '    o = g["in_offsets"][:]; o[5], o[6] = o[6], o[5] - 1; del g["in_offsets"]; g["in_offsets"] = o'
expect_exit 3 "offsets not monotone" 2 "/graph/in_offsets must rise" "$OUT" pagerank --input "$WORK/offsets.h5" --output "$OUT"
damage offsets_end '    o = g["in_offsets"][:]; o[-1] += 1; del g["in_offsets"]; g["in_offsets"] = o'
expect_exit 3 "offsets past the sources" 3 "/graph/in_offsets must (rise|end)" "$OUT" pagerank --input "$WORK/offsets_end.h5" --output "$OUT"
damage source '    s = g["in_sources"][:]; s[10] = g.attrs["n"] + 5; del g["in_sources"]; g["in_sources"] = s'
expect_exit 3 "a source id >= n" 2 "/graph/in_sources entry 10 is .*not a vertex" "$OUT" pagerank --input "$WORK/source.h5" --output "$OUT"
damage degree '    d = g["out_degree"][:]; d[3] += 1; del g["out_degree"]; g["out_degree"] = d'
expect_exit 3 "an out-degree that disagrees" 2 "/graph/out_degree of vertex 3 is" "$OUT" pagerank --input "$WORK/degree.h5" --output "$OUT"
damage version '    g.attrs["layout_version"] = np.int64(2)'
expect_exit 3 "a newer layout" 2 "layout_version is 2, this perron reads version 1 \(a newer perron wrote it\)" "$OUT" \
  pagerank --input "$WORK/version.h5" --output "$OUT"
damage short '    del g["in_weights"]; g["in_weights"] = np.ones(5)'
expect_exit 3 "a dataset of the wrong length" 2 "/graph/in_weights must be 1-D with" "$OUT" pagerank --input "$WORK/short.h5" --output "$OUT"
damage ids '    v = g["vertex_id"][:]; v[7] = v[6]; del g["vertex_id"]; g["vertex_id"] = v'
expect_exit 3 "vertex ids out of order" 2 "/graph/vertex_id must increase" "$OUT" pagerank --input "$WORK/ids.h5" --output "$OUT"
size=$(stat -c %s "$WORK/w.g.h5")
head -c $((size / 2)) "$WORK/w.g.h5" >"$WORK/truncated.h5"
expect_exit 3 "a truncated file" 2 "truncated.h5" "$OUT" pagerank --input "$WORK/truncated.h5" --format graph --output "$OUT"
finish
