#!/usr/bin/env bash
# pagerank --initial: a warm start from a previous result, matched by original vertex id. The
# answer is the cold start's (to the tolerance) at 1-4 ranks and the same across ranks to
# 1e-12; ids gone from the graph are ignored and counted, vertices new to it counted; the file
# is recorded; anything that is not a PageRank result is refused, naming the file.
source "$(dirname "$0")/common.sh"
check() { "$PYTHON" "$SOURCE_DIR/tests/python/check_pagerank.py" "$@" >"$WORK/check.log" 2>&1 || { cat "$WORK/check.log"; FAILURES=$((FAILURES + 1)); return 1; }; cat "$WORK/check.log"; }

# Yesterday's graph, and today's: 1% of the edges rewired, vertex 7 gone, vertex 999999 new.
"$PYTHON" - "$WORK" <<'PY'
import random, sys
work = sys.argv[1]
rng = random.Random(5)
n, m = 3000, 30000
edges = {(rng.randrange(n), rng.randrange(n)) for _ in range(m)}
edges = sorted(e for e in edges if 7 not in e)
with open(f"{work}/day0.txt", "w") as f:
    f.write("".join(f"{u} {v}\n" for u, v in edges))
    f.write("7 1\n2 7\n")
rng.shuffle(edges)
k = len(edges) // 100
today = edges[k:] + [(rng.randrange(n), rng.randrange(n)) for _ in range(k)] + [(999999, 3), (4, 999999)]
with open(f"{work}/day1.txt", "w") as f:
    f.write("".join(f"{u} {v}\n" for u, v in today))
PY
expect_ok "day 0, cold" 2 pagerank --input "$WORK/day0.txt" --output "$WORK/day0.h5" --quiet
expect_ok "day 1, cold" 2 pagerank --input "$WORK/day1.txt" --output "$WORK/cold.h5" --quiet
for np in 1 2 3 4; do
  expect_ok "day 1, warm from day 0, np$np" "$np" pagerank --input "$WORK/day1.txt" --initial "$WORK/day0.h5" \
    --output "$WORK/warm$np.h5" --quiet
done
check "$WORK/warm2.h5" "$WORK/day1.txt" --expect-ranks 2
check "$WORK/cold.h5" --compare "$WORK/warm1.h5" --max-l1 1e-9
for np in 2 3 4; do check "$WORK/warm1.h5" --compare "$WORK/warm$np.h5" --max-l1 1e-12; done
# A start computed with another damping is a valid start too (any start converges).
expect_ok "warm from damping 0.5" 2 pagerank --input "$WORK/day0.txt" --damping 0.5 --output "$WORK/d05.h5" --quiet
expect_ok "day 1 from it" 3 pagerank --input "$WORK/day1.txt" --initial "$WORK/d05.h5" --output "$WORK/warm-d05.h5" --quiet &&
  check "$WORK/cold.h5" --compare "$WORK/warm-d05.h5" --max-l1 1e-9
# Restarting from the answer itself: the first step already meets the tolerance.
expect_ok "from its own answer" 2 pagerank --input "$WORK/day1.txt" --initial "$WORK/cold.h5" --output "$WORK/same.h5" --quiet
"$PYTHON" - "$WORK" <<'PY' || FAILURES=$((FAILURES + 1))
import sys, h5py
work = sys.argv[1]
with h5py.File(f"{work}/warm2.h5") as w, h5py.File(f"{work}/cold.h5") as c, h5py.File(f"{work}/same.h5") as s:
    a = w["pagerank"].attrs
    assert a["initial"] == f"{work}/day0.h5", a["initial"]
    assert (int(a["initial_ids_ignored"]), int(a["initial_new_vertices"])) == (1, 1), "vertex 7 gone, 999999 new"
    assert c["pagerank"].attrs["initial"] == "", "a cold start records no initial file"
    cold, warm, again = (int(f["pagerank"].attrs["iterations"]) for f in (c, w, s))
    assert warm < cold and again == 1, (cold, warm, again)
    print(f"ok warm start: {warm} steps against {cold} cold; 1 step from the answer itself")
PY

# Bad starts: each names the file, exits 3 (2 for the usage error) and writes nothing.
expect_exit 3 "initial missing" 2 "cannot open PageRank result file $WORK/nope.h5" "$WORK/bad.h5" \
  pagerank --input "$WORK/day1.txt" --initial "$WORK/nope.h5" --output "$WORK/bad.h5"
expect_exit 3 "initial not HDF5" 2 "$WORK/day0.txt: not an HDF5 file" "$WORK/bad.h5" \
  pagerank --input "$WORK/day1.txt" --initial "$WORK/day0.txt" --output "$WORK/bad.h5"
expect_ok "qkv" 1 generate qkv --heads 1 --seq 32 --dim 8 --output "$WORK/qkv.h5"
expect_ok "a TokenRank result" 1 tokenrank --input "$WORK/qkv.h5" --output "$WORK/tr.h5" --quiet
expect_ok "an attention result" 1 attention --input "$WORK/qkv.h5" --output "$WORK/att.h5"
expect_exit 3 "initial is a TokenRank result" 2 "$WORK/tr.h5 is a TokenRank result, not a PageRank result" "$WORK/bad.h5" \
  pagerank --input "$WORK/day1.txt" --initial "$WORK/tr.h5" --output "$WORK/bad.h5"
expect_exit 3 "initial is an attention result" 2 "$WORK/att.h5 is an attention result, not a PageRank result" "$WORK/bad.h5" \
  pagerank --input "$WORK/day1.txt" --initial "$WORK/att.h5" --output "$WORK/bad.h5"
expect_ok "a prepared graph" 2 convert --to graph --input "$WORK/day0.txt" --output "$WORK/g.h5"
expect_exit 3 "initial is a prepared graph" 2 "$WORK/g.h5 is a prepared graph, not a PageRank result" "$WORK/bad.h5" \
  pagerank --input "$WORK/day1.txt" --initial "$WORK/g.h5" --output "$WORK/bad.h5"
expect_exit 2 "initial and restart" 2 "give --initial or --restart, not both" "$WORK/bad.h5" \
  pagerank --input "$WORK/day1.txt" --initial "$WORK/day0.h5" --restart "$WORK/day0.h5" --output "$WORK/bad.h5"
"$PYTHON" - "$WORK" <<'PY'
import sys, h5py, numpy as np
with h5py.File(f"{sys.argv[1]}/day0.h5") as f, h5py.File(f"{sys.argv[1]}/neg.h5", "w") as g:
    f.copy("pagerank", g)
    s = g["pagerank/score"]
    s[5] = -1.0
PY
expect_exit 3 "initial with a negative score" 2 "neg.h5: /pagerank/score entry 5 is -1" "$WORK/bad.h5" \
  pagerank --input "$WORK/day1.txt" --initial "$WORK/neg.h5" --output "$WORK/bad.h5"

finish
