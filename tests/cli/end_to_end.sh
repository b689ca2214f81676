#!/usr/bin/env bash
# perron pagerank end to end, as users run it: real graphs in, HDF5 out, checked from Python
# against scipy, and the same file from 1, 2, 3 and 4 ranks agreeing to 1e-12.
source "$(dirname "$0")/common.sh"
check() { "$PYTHON" "$SOURCE_DIR/tests/python/check_pagerank.py" "$@" >"$WORK/check.log" 2>&1 || { cat "$WORK/check.log"; FAILURES=$((FAILURES + 1)); return 1; }; cat "$WORK/check.log"; }

# A small graph written here: sparse ids, a dangling vertex, a duplicate, a self-loop, weights.
printf '# tiny weighted graph\n10 20 2.0\n10 30 1.0\n20 30\n30 10 0.5\n30 30 1\n20 30 1\n40 10 3\n' >"$WORK/tiny.txt"
expect_ok tiny 2 pagerank --input "$WORK/tiny.txt" --output "$WORK/tiny.h5" --quiet && check "$WORK/tiny.h5" "$WORK/tiny.txt" --expect-ranks 2
printf '10 3\n40\n' >"$WORK/pers.txt"
expect_ok personalized 3 pagerank --input "$WORK/tiny.txt" --output "$WORK/pers.h5" --personalization "$WORK/pers.txt" &&
  check "$WORK/pers.h5" "$WORK/tiny.txt" --personalization "$WORK/pers.txt"

if [ -d "$DATA/real" ]; then
  for np in 1 2 3 4; do
    expect_ok "wiki-Vote np$np" "$np" pagerank --input "$DATA/real/wiki-Vote.txt" --output "$WORK/wv$np.h5" --quiet
  done
  check "$WORK/wv2.h5" "$DATA/real/wiki-Vote.txt" --expect-ranks 2
  for np in 2 3 4; do check "$WORK/wv1.h5" --compare "$WORK/wv$np.h5" --max-l1 1e-12; done
  expect_ok "hollins undirected" 2 pagerank --input "$DATA/real/hollins.txt" --undirected --output "$WORK/ho.h5" --quiet &&
    check "$WORK/ho.h5" "$DATA/real/hollins.txt" --undirected
  # Conjugate gradients on the same symmetric graph: scipy's scores, and power iteration's to
  # within the tolerance; on a directed graph it refuses, naming what it needs.
  expect_ok "hollins undirected, cg" 3 pagerank --input "$DATA/real/hollins.txt" --undirected --solver cg --output "$WORK/hocg.h5" --quiet &&
    check "$WORK/hocg.h5" "$DATA/real/hollins.txt" --undirected && check "$WORK/ho.h5" --compare "$WORK/hocg.h5" --max-l1 1e-9
  # cg eliminates low-degree vertices first (recorded in the output); without: the same scores.
  expect_ok "hollins undirected, cg without elimination" 2 pagerank --input "$DATA/real/hollins.txt" --undirected --solver cg \
    --cg-eliminate false --output "$WORK/hocg0.h5" --quiet &&
    check "$WORK/hocg0.h5" --compare "$WORK/hocg.h5" --max-l1 1e-9
  "$PYTHON" - "$WORK" <<'PY' || FAILURES=$((FAILURES + 1))
import sys, h5py
work = sys.argv[1]
with h5py.File(f"{work}/hocg.h5") as a, h5py.File(f"{work}/hocg0.h5") as b:
    eliminated, none = int(a["pagerank"].attrs["eliminated"]), int(b["pagerank"].attrs["eliminated"])
    n = int(a["pagerank"].attrs["n"])
    assert 0 < eliminated < n and none == 0, (eliminated, none, n)
    assert "plan_s" in a["provenance"].attrs, "plan time recorded"
    print(f"ok cg eliminated {eliminated} of {n} vertices")
PY
  # Kernel auto by cost: with the cache shrunk to 8 KiB, hollins (152 power steps to 1e-13)
  # outgrows it, and the solve switches from csr to the blocked layout once the residuals
  # forecast enough steps left to repay its build (more than 105), after the same step at every
  # rank count; the answer is the plain kernel's.
  expect_ok "hollins kernel csr" 1 pagerank --input "$DATA/real/hollins.txt" --solver power --kernel csr --tolerance 1e-13 \
    --output "$WORK/hk.h5" --quiet
  for np in 1 2 3 4; do
    expect_ok "hollins kernel auto switches, np$np" "$np" pagerank --input "$DATA/real/hollins.txt" --solver power \
      --cache-kib 8 --tolerance 1e-13 --output "$WORK/hk$np.h5" --quiet && check "$WORK/hk.h5" --compare "$WORK/hk$np.h5" --max-l1 1e-12
  done
  # Solver auto, the default, on directed graphs: hollins mixes slowly (111 power steps), so
  # after a few power steps the forecast repays bicgstab's plan and the solve goes on with it,
  # after the same step at every rank count; the answer is power's to 1e-9, and the same to
  # 1e-12 at 1-4 ranks. wiki-Vote converges in 29 power steps, too few to repay the plan.
  for np in 1 2 3 4; do
    expect_ok "hollins solver auto, np$np" "$np" pagerank --input "$DATA/real/hollins.txt" --output "$WORK/ha$np.h5" \
      --verify --quiet && check "$WORK/hk.h5" --compare "$WORK/ha$np.h5" --max-l1 1e-9 &&
      check "$WORK/ha1.h5" --compare "$WORK/ha$np.h5" --max-l1 1e-12
  done
  expect_ok "hollins solver bicgstab" 2 pagerank --input "$DATA/real/hollins.txt" --solver bicgstab --output "$WORK/hb.h5" \
    --quiet && check "$WORK/hb.h5" "$DATA/real/hollins.txt"
  for g in wiki-Vote.txt p2p-Gnutella08.txt california.el; do
    expect_ok "$g solver bicgstab, np3" 3 pagerank --input "$DATA/real/$g" --solver bicgstab --output "$WORK/bi-$g.h5" --quiet &&
      check "$WORK/bi-$g.h5" "$DATA/real/$g"
  done
  "$PYTHON" - "$WORK" "$WORK/wv1.h5" <<'PY' || FAILURES=$((FAILURES + 1))
import sys, h5py
work, wiki = sys.argv[1], sys.argv[2]
def ran(path):
    with h5py.File(path) as f:
        a = f["pagerank"].attrs
        return a["solver"], a["solver_used"], int(a["solver_switched_after"]), int(a["iterations"])
runs = {ran(f"{work}/ha{np}.h5") for np in (1, 2, 3, 4)}
assert len(runs) == 1, runs
named, used, after, steps = runs.pop()
assert (named, used) == ("auto", "bicgstab") and 3 <= after < 10 and steps < 0.5 * 111, (named, used, after, steps)
explicit = ran(f"{work}/hb.h5")
assert explicit[:3] == ("bicgstab", "bicgstab", 0) and explicit[3] < 0.5 * 111, explicit
assert ran(wiki)[1:3] == ("power", 0), ran(wiki)
print(f"ok solver auto on hollins: power for {after} steps, bicgstab to step {steps} (power alone: 111); wiki-Vote: power")
PY
  "$PYTHON" - "$WORK" <<'PY' || FAILURES=$((FAILURES + 1))
import sys, h5py
work = sys.argv[1]
def ran(name):
    with h5py.File(f"{work}/{name}.h5") as f:
        a = f["pagerank"].attrs
        return a["kernel_used"], int(a["kernel_switched_after"]), int(a["iterations"])
assert ran("hk") == ("csr", 0, 152), ran("hk")
runs = {ran(f"hk{np}") for np in (1, 2, 3, 4)}
assert len(runs) == 1, runs
kernel, after, steps = runs.pop()
assert kernel == "blocked" and 3 <= after < 20 and steps == 152, (kernel, after, steps)
print(f"ok kernel auto: csr for {after} steps, blocked for the other {steps - after}, at 1-4 ranks")
PY
  expect_error "cg on a directed graph" 2 "solver cg needs a symmetric graph .*--solver auto runs bicgstab on a directed graph" "$WORK/nocg.h5" \
    pagerank --input "$DATA/real/wiki-Vote.txt" --solver cg --output "$WORK/nocg.h5"
  expect_ok "p2p-Gnutella08 damping 0.5" 3 pagerank --input "$DATA/real/p2p-Gnutella08.txt" --damping 0.5 --output "$WORK/gn.h5" --quiet &&
    check "$WORK/gn.h5" "$DATA/real/p2p-Gnutella08.txt" --damping 0.5
  expect_ok "california (4637 dangling)" 4 pagerank --input "$DATA/real/california.el" --output "$WORK/ca.h5" --quiet &&
    check "$WORK/ca.h5" "$DATA/real/california.el"
  # email-Eu-core's first line is 'n m', not an edge: --header-lines 1 skips it.
  tail -n +2 "$DATA/real/email-Eu-core.txt" >"$WORK/email-edges.txt"
  expect_ok "email-Eu-core --header-lines 1" 2 pagerank --input "$DATA/real/email-Eu-core.txt" --header-lines 1 --output "$WORK/em.h5" --quiet &&
    check "$WORK/em.h5" "$WORK/email-edges.txt"
  # Every format gives the same scores: gzip text, and an HDF5 edge list made by perron convert.
  gzip -c "$DATA/real/wiki-Vote.txt" >"$WORK/wv.txt.gz"
  expect_ok "wiki-Vote gzip" 2 pagerank --input "$WORK/wv.txt.gz" --output "$WORK/wvgz.h5" --quiet &&
    check "$WORK/wv1.h5" --compare "$WORK/wvgz.h5" --max-l1 1e-12
  expect_ok "convert to HDF5" 2 convert --input "$DATA/real/wiki-Vote.txt" --output "$WORK/wv-edges.h5" --group /graph
  expect_ok "wiki-Vote from HDF5" 3 pagerank --input "$WORK/wv-edges.h5" --hdf5-group /graph --output "$WORK/wvh5.h5" --quiet &&
    check "$WORK/wv1.h5" --compare "$WORK/wvh5.h5" --max-l1 1e-12
  expect_ok "info components" 2 info --json "$DATA/real/wiki-Vote.txt"
  "$PYTHON" - "$WORK/out.log" "$DATA/real/wiki-Vote.txt" <<'PY' || FAILURES=$((FAILURES + 1))
import json, sys
import numpy as np, scipy.sparse as sp, scipy.sparse.csgraph as cg
info = json.load(open(sys.argv[1]))
E = np.loadtxt(sys.argv[2], dtype=np.int64, comments="#")
ids = np.unique(E); s = np.searchsorted(ids, E[:, 0]); d = np.searchsorted(ids, E[:, 1]); n = len(ids)
A = sp.csr_matrix((np.ones(len(s)), (s, d)), shape=(n, n))
weak = cg.connected_components(A, directed=True, connection="weak")
strong = cg.connected_components(A, directed=True, connection="strong")[0]
expected = dict(n=n, weak_components=weak[0], largest_weak_component=np.bincount(weak[1]).max(), strong_components=strong)
for k, v in expected.items():
    assert info[k] == v, (k, info[k], v)
print("info components match scipy.sparse.csgraph:", expected)
PY
  expect_ok "graphalytics convention" 2 pagerank --input "$DATA/graphalytics/test-pr-directed.properties" --convention graphalytics --output "$WORK/ga.h5"
  grep -q "stopped (fixed iterations) after 14 iterations" "$WORK/out.log" || fail "graphalytics: not 14 fixed iterations"
else
  echo "SKIPPED LOUDLY: $DATA not found; real-graph end-to-end runs not done"
fi

# Kronecker: generated in-process, and through a binary file, give the same scores.
expect_ok "kronecker direct" 2 pagerank --input kronecker:scale=12,edge-factor=8,seed=5 --output "$WORK/k1.h5" --quiet
expect_ok "kronecker generate" 3 generate kronecker --scale 12 --edge-factor 8 --seed 5 --output "$WORK/k.bin"
expect_ok "kronecker from binary" 4 pagerank --input "$WORK/k.bin" --undirected --output "$WORK/k2.h5" --quiet
"$PYTHON" - "$WORK/k1.h5" "$WORK/k2.h5" <<'PY' || FAILURES=$((FAILURES + 1))
import sys, h5py, numpy as np
a, b = (h5py.File(p)["pagerank"] for p in sys.argv[1:])
# the binary path lists only vertices with edges; the generator declares all 2^12
ia, ib = a["vertex_id"][:], b["vertex_id"][:]
assert len(ia) == 4096 and set(ib) <= set(ia), (len(ia), len(ib))
print("kronecker: %d of 4096 vertices have edges; isolated ones score %.3e" % (len(ib), a["score"][:].min()))
PY

# HDF5 edge lists as h5py users write them: every chunk layout and filter combination gives the
# scores of the same edges as text. perron decodes deflate, shuffle and integer scale-offset
# chunks itself, on every thread (odd chunk sizes, a partial last chunk, a non-zero fill value,
# 32-bit and signed ids, float32 weights); other filters (fletcher32) and contiguous datasets
# go through HDF5.
"$PYTHON" - "$WORK" <<'PY' || FAILURES=$((FAILURES + 1))
import sys, h5py, numpy as np
w = sys.argv[1]
rng = np.random.default_rng(7)
m = 250_000
src = rng.integers(0, 40_000, m) * 3 + 5
dst = rng.integers(0, 40_000, m) * 3 + 5
weight = rng.integers(1, 9, m).astype(np.float32) / 4
np.savetxt(w + "/h5var.txt", np.column_stack([src, dst, weight]), fmt="%d %d %.2f")
variants = {
    "gzip": dict(dtype="u8", kw=dict(chunks=(10007,), compression="gzip", compression_opts=6)),
    "shuffle-gzip-signed": dict(dtype="i8", kw=dict(chunks=(65536,), shuffle=True, compression="gzip")),
    "scaleoffset-u4": dict(dtype="u4", kw=dict(chunks=(50000,), scaleoffset=0)),
    "scaleoffset-gzip-fill": dict(dtype="u8", kw=dict(chunks=(30001,), scaleoffset=0, shuffle=True, compression="gzip", fillvalue=11)),
    "fletcher32": dict(dtype="u8", kw=dict(chunks=(40000,), fletcher32=True, compression="gzip")),
    "contiguous": dict(dtype="i4", kw=dict()),
}
for name, v in variants.items():
    with h5py.File("%s/h5var-%s.h5" % (w, name), "w") as f:
        f.create_dataset("src", data=src.astype(v["dtype"]), **v["kw"])
        f.create_dataset("dst", data=dst.astype(v["dtype"]), **v["kw"])
        f.create_dataset("weight", data=weight, chunks=(20000,), compression="gzip")
print("wrote %d HDF5 variants of %d weighted edges" % (len(variants), m))
PY
expect_ok "h5py variants: text" 2 pagerank --input "$WORK/h5var.txt" --output "$WORK/h5var-text.h5" --quiet
for v in gzip shuffle-gzip-signed scaleoffset-u4 scaleoffset-gzip-fill fletcher32 contiguous; do
  expect_ok "h5py variant $v" 2 pagerank --input "$WORK/h5var-$v.h5" --threads 2 --output "$WORK/h5var-$v-out.h5" --quiet &&
    check "$WORK/h5var-text.h5" --compare "$WORK/h5var-$v-out.h5" --max-l1 1e-12
done

# info, text and JSON
expect_ok info 2 info "$WORK/tiny.txt"
grep -q "vertices (n)   4" "$WORK/out.log" || fail "info: n"
expect_ok "info json" 1 info --json --input "$WORK/tiny.txt"
"$PYTHON" -c "import json,sys; d=json.load(open('$WORK/out.log')); assert d['n']==4 and d['m']==6 and d['duplicates']==1 and d['self_loops']==1, d; print('info json', d)" ||
  FAILURES=$((FAILURES + 1))
expect_ok version 3 --version
[ "$(grep -c "^perron [0-9]" "$WORK/out.log")" = 1 ] || fail "--version at 3 ranks: not printed once"
# Without a launcher: the arguments parse before MPI starts, and --version needs no MPI.
"$PERRON" --version >"$WORK/out.log" 2>&1 || fail "--version without mpirun: exit $?"
[ "$(grep -c "^perron [0-9]" "$WORK/out.log")" = 1 ] || fail "--version without mpirun: not printed once"
finish
