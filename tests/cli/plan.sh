#!/usr/bin/env bash
# perron plan: for P = 1..4 virtual ranks, planned from one real rank (and from two), against
# real pagerank runs on P ranks: halo bytes per step exactly, the graph's bytes, iterating and
# peak memory per rank within 15% (the peak of the load, build and iterations: writing the
# HDF5 result adds the library's few MB beyond it); directed and undirected. Bad --ranks are
# usage errors.
source "$(dirname "$0")/common.sh"

for mode in directed undirected; do
  flags=()
  [ "$mode" = undirected ] && flags=(--undirected)
  expect_ok "kronecker $mode" 1 generate kronecker --scale 12 --output "$WORK/k-$mode.bin" --overwrite
  expect_ok "plan $mode on 1 rank" 1 plan --input "$WORK/k-$mode.bin" "${flags[@]}" --ranks 1,2,3,4,1024 \
    --json "$WORK/plan1-$mode.json" --output "$WORK/plan1-$mode.h5"
  expect_ok "plan $mode on 2 ranks" 2 plan --input "$WORK/k-$mode.bin" "${flags[@]}" --ranks 1,2,3,4,1024 \
    --json "$WORK/plan2-$mode.json" --quiet
  expect_ok "plan $mode two-level on 1 rank" 1 plan --input "$WORK/k-$mode.bin" "${flags[@]}" --ranks 1,2,3,4,1024 \
    --halo two-level --json "$WORK/plan1-$mode-two-level.json" --quiet
  expect_ok "plan $mode two-level on 2 ranks" 2 plan --input "$WORK/k-$mode.bin" "${flags[@]}" --ranks 1,2,3,4,1024 \
    --halo two-level --json "$WORK/plan2-$mode-two-level.json" --quiet
  for np in 1 2 3 4; do
    expect_ok "pagerank $mode np$np" "$np" pagerank --input "$WORK/k-$mode.bin" "${flags[@]}" --solver power --kernel csr \
      --output "$WORK/run$np-$mode.h5" --quiet
  done
  for np in 3 4; do
    expect_ok "pagerank $mode np$np two-level" "$np" pagerank --input "$WORK/k-$mode.bin" "${flags[@]}" --solver power \
      --kernel csr --halo two-level --output "$WORK/run$np-$mode-two-level.h5" --quiet
  done
done
"$PYTHON" - "$WORK" <<'PY' || FAILURES=$((FAILURES + 1))
import json, sys
import h5py
work = sys.argv[1]
for mode in ("directed", "undirected"):
    one = direct = {p["ranks"]: p for p in json.load(open(f"{work}/plan1-{mode}.json"))["plans"]}
    two = {p["ranks"]: p for p in json.load(open(f"{work}/plan2-{mode}.json"))["plans"]}
    for P in (1, 2, 3, 4, 1024):
        for key in ("halo_bytes_per_step", "ghosts_max", "values_sent_max", "messages_per_step", "in_edges_max", "rows_max"):
            assert one[P][key] == two[P][key], f"{mode} P={P} {key}: planned on 1 rank {one[P][key]}, on 2 {two[P][key]}"
    with h5py.File(f"{work}/plan1-{mode}.h5") as f:
        assert list(f["plan/ranks"][:]) == [1, 2, 3, 4, 1024] and "provenance" in f
        assert list(f["plan/halo_bytes_per_step"][:]) == [one[P]["halo_bytes_per_step"] for P in (1, 2, 3, 4, 1024)]
    for P in (1, 2, 3, 4):
        with h5py.File(f"{work}/run{P}-{mode}.h5") as f:
            g, p = f["pagerank"].attrs, f["provenance"].attrs
            halo = int(g["halo_bytes_per_iteration"])
            assert halo == one[P]["halo_bytes_per_step"], f"{mode} P={P}: run {halo} halo bytes, plan {one[P]['halo_bytes_per_step']}"
            for what, real, model in (("graph bytes", int(p["graph_bytes_max_rank"]), one[P]["graph_bytes_max"]),
                                      ("iterating RSS", int(g["iterating_rss_bytes_max_rank"]), one[P]["iterating_bytes_max"]),
                                      ("peak RSS", max(int(p["build_peak_rss_bytes_max_rank"]),
                                                       int(g["iterating_rss_bytes_max_rank"])), one[P]["peak_bytes_max"])):
                ratio = model / real
                print(f"  {mode} P={P} {what}: plan {model / 2**20:.1f} MiB, run {real / 2**20:.1f} MiB ({ratio:.3f})")
                assert abs(ratio - 1) <= 0.15, f"{mode} P={P} {what}: plan/run = {ratio:.3f}"
    # The two-level route (4 ranks: a 2 x 2 grid; 3: one column): the same scores to the bit,
    # and the plan's bytes and messages are the run's.
    one = {p["ranks"]: p for p in json.load(open(f"{work}/plan1-{mode}-two-level.json"))["plans"]}
    two = {p["ranks"]: p for p in json.load(open(f"{work}/plan2-{mode}-two-level.json"))["plans"]}
    for P in (1, 2, 3, 4, 1024):
        assert one[P]["halo"] == "two-level", one[P]
        for key in ("halo_bytes_per_step", "values_sent_max", "messages_per_step", "messages_max"):
            assert one[P][key] == two[P][key], f"{mode} two-level P={P} {key}: on 1 rank {one[P][key]}, on 2 {two[P][key]}"
    # --halo auto (the first plans): direct below 1024 ranks, two-level from there.
    assert [direct[P]["halo"] for P in (1, 2, 3, 4, 1024)] == ["direct"] * 4 + ["two-level"], direct
    assert one[1024]["messages_per_step"] == direct[1024]["messages_per_step"] < 1024 * 1023
    for P in (3, 4):
        with h5py.File(f"{work}/run{P}-{mode}-two-level.h5") as f, h5py.File(f"{work}/run{P}-{mode}.h5") as d:
            g = f["pagerank"].attrs
            assert g["halo_routing"] == "two-level" and d["pagerank"].attrs["halo_routing"] == "direct"
            assert (f["pagerank/score"][:] == d["pagerank/score"][:]).all(), f"{mode} P={P}: two-level changed the scores"
            for key, attr in (("halo_bytes_per_step", "halo_bytes_per_iteration"),
                              ("messages_per_step", "halo_messages_per_iteration")):
                assert int(g[attr]) == one[P][key], f"{mode} two-level P={P}: run {attr} {int(g[attr])}, plan {one[P][key]}"
                assert int(d["pagerank"].attrs[attr]) == direct[P][key], f"{mode} direct P={P}: {attr}"
print("ok plan: halo bytes and messages exact (direct and two-level), memory within 15% at 1-4 ranks, the same plan "
      "from 1 or 2 real ranks; two-level gives the same scores")
PY

# The scaling model of docs/scaling.md runs from its committed plans and prints every table.
if "$PYTHON" "$SOURCE_DIR/python/scaling_model.py" >"$WORK/model.md" 2>&1 &&
  grep -q "| WDC 2012 | 4096 |" "$WORK/model.md" && grep -q "| 16M | 512 |" "$WORK/model.md"; then
  echo "ok   python/scaling_model.py"
else
  echo "FAIL: python/scaling_model.py"; sed 's/^/    | /' "$WORK/model.md" | head; FAILURES=$((FAILURES + 1))
fi

expect_exit 2 "ranks 0" 1 "--ranks: a rank count must be in \[1, 1048576\], got 0" "" plan --input "$WORK/k-directed.bin" --ranks 1,0
expect_exit 2 "ranks too many" 1 "got 2000000" "" plan --input "$WORK/k-directed.bin" --ranks 2000000
expect_exit 2 "ranks not a number" 1 "--ranks: expected comma-separated rank counts, e.g. 1,16,1024, found 'x'" "" \
  plan --input "$WORK/k-directed.bin" --ranks 4,x
expect_exit 2 "ranks missing" 1 "--ranks" "" plan --input "$WORK/k-directed.bin"
expect_exit 2 "halo unknown" 1 "--halo" "" plan --input "$WORK/k-directed.bin" --ranks 4 --halo three-level
# An input that cannot fit one rank fails with what it would need, before anything is allocated.
printf '%%%%MatrixMarket matrix coordinate pattern general\n100000000000 100000000000 1\n1 2\n' >"$WORK/huge.mtx"
expect_exit 3 "input too large" 2 "huge.mtx .Matrix Market size line. declares 100000000000 vertices: the graph needs [0-9.]+ TB of memory" "" \
  plan --input "$WORK/huge.mtx" --ranks 4,1024
finish
