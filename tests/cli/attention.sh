#!/usr/bin/env bash
# perron generate qkv and perron attention end to end: outputs at 1, 2 and 3 ranks against a
# float64 numpy reference (causal, window, softcap, masks, GQA, batched layout), and bad inputs.
source "$(dirname "$0")/common.sh"
check() { "$PYTHON" "$SOURCE_DIR/tests/python/check_attention.py" "$@" || FAILURES=$((FAILURES + 1)); }
expect_ok "generate random" 2 generate qkv --heads 4 --kv-heads 2 --seq 203 --dim 64 --seed 3 --output "$WORK/r.h5"
expect_ok "generate clusters" 3 generate qkv --heads 2 --seq 150 --dim 32 --structure clusters --output "$WORK/c.h5"
for np in 1 2 3; do
  expect_ok "attention np$np" "$np" attention --input "$WORK/r.h5" --output "$WORK/o$np.h5" --tile-q 32 --tile-k 48 && check "$WORK/r.h5" "$WORK/o$np.h5"
done
# Both tile kernels (SGEMM, and the AVX-512 register kernel that auto picks where the CPU has
# it) meet the reference, and the output records which one ran.
for kernel in blas auto; do
  expect_ok "kernel $kernel" 2 attention --input "$WORK/r.h5" --output "$WORK/ok_$kernel.h5" --kernel $kernel --causal --window 70 &&
    check "$WORK/r.h5" "$WORK/ok_$kernel.h5" --causal --window 70
done
"$PYTHON" - "$WORK" <<'PY' || FAILURES=$((FAILURES + 1))
import sys, h5py
a = h5py.File(sys.argv[1] + "/ok_blas.h5")["attention"].attrs
assert (a["kernel"], a["kernel_used"]) == ("blas", "blas"), (a["kernel"], a["kernel_used"])
used = h5py.File(sys.argv[1] + "/ok_auto.h5")["attention"].attrs["kernel_used"]
assert used in ("blas", "avx512"), used
print("kernels recorded: blas, auto ran", used)
PY
expect_ok "causal, softcap" 3 attention --input "$WORK/r.h5" --output "$WORK/oc.h5" --causal --softcap 2 && check "$WORK/r.h5" "$WORK/oc.h5" --causal --softcap 2
"$PYTHON" -c "import h5py; a = h5py.File('$WORK/oc.h5')['attention'].attrs['layout_across_ranks']; assert a == 'zigzag', a; print('causal runs use the zigzag layout')" ||
  FAILURES=$((FAILURES + 1))
expect_ok "sliding window" 2 attention --input "$WORK/c.h5" --output "$WORK/ow.h5" --window 20 && check "$WORK/c.h5" "$WORK/ow.h5" --window 20
expect_ok "causal window" 2 attention --input "$WORK/c.h5" --output "$WORK/ocw.h5" --window 20 --causal && check "$WORK/c.h5" "$WORK/ocw.h5" --window 20 --causal
"$PYTHON" - "$WORK/c.h5" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "a")
rng = np.random.default_rng(1)
m = rng.random((150, 150)) < 0.7
m[5, :] = False                                     # one fully masked row
f["bool_mask"] = m
f["float_mask"] = np.where(m, rng.normal(0, 0.5, (150, 150)), -np.inf).astype(np.float32)
PY
expect_ok "boolean mask" 3 attention --input "$WORK/c.h5" --output "$WORK/ob.h5" --mask bool_mask && check "$WORK/c.h5" "$WORK/ob.h5" --mask bool_mask
expect_ok "float mask" 2 attention --input "$WORK/c.h5" --output "$WORK/of.h5" --mask float_mask && check "$WORK/c.h5" "$WORK/of.h5" --mask float_mask
"$PYTHON" - "$WORK" <<'PY'
import sys, h5py, numpy as np
w = sys.argv[1]
rng = np.random.default_rng(2)
with h5py.File(w + "/b.h5", "w") as f:                       # batched layout, float64 and float16
    f["q"] = rng.normal(size=(2, 3, 40, 16)); f["k"] = rng.normal(size=(2, 3, 40, 16)).astype(np.float16)
    f["v"] = rng.normal(size=(2, 3, 40, 8)).astype(np.float32)
with h5py.File(w + "/bad.h5", "w") as f:
    f["q"] = np.zeros((4, 10, 8), np.float32); f["k"] = np.zeros((3, 10, 8), np.float32); f["v"] = np.zeros((3, 10, 8), np.float32)
    f["k2"] = np.zeros((2, 10, 4), np.float32); f["v2"] = np.zeros((2, 12, 8), np.float32)
    f["z"] = np.zeros((2, 10, 0), np.float32)
    qn = np.zeros((2, 10, 8), np.float32); qn[1, 7, 3] = np.nan; f["qnan"] = qn
    f["k3"] = np.zeros((2, 10, 8), np.float32); f["v3"] = np.zeros((2, 10, 8), np.float32)
PY
expect_ok "batched layout, float64 and float16 inputs" 2 attention --input "$WORK/b.h5" --output "$WORK/ob2.h5" --causal
"$PYTHON" - "$WORK" <<'PY' || FAILURES=$((FAILURES + 1))
import sys, h5py, numpy as np
w = sys.argv[1]
f = h5py.File(w + "/b.h5"); q, k, v = (f[n][:].astype(np.float64) for n in "qkv")
s = q @ np.swapaxes(k, -1, -2) / 4.0
s = np.where(np.tril(np.ones((40, 40), bool)), s, -np.inf)
p = np.exp(s - s.max(-1, keepdims=True)); o = (p / p.sum(-1, keepdims=True)) @ v
out = h5py.File(w + "/ob2.h5")["attention/out"][:]
assert out.shape == (2, 3, 40, 8), out.shape
e = np.linalg.norm(out - o) / np.linalg.norm(o); print("batched relative error %.2e" % e); assert e < 1e-5
PY
OUT=$WORK/err.h5
expect_error "missing dataset" 2 "no dataset 'query'" "$OUT" attention --input "$WORK/bad.h5" --q query --output "$OUT"
expect_error "heads that do not divide" 2 "4 query heads are not a multiple of 3 key heads" "$OUT" attention --input "$WORK/bad.h5" --output "$OUT"
expect_error "q/k head sizes differ" 2 "same head size" "$OUT" attention --input "$WORK/bad.h5" --q k3 --k k2 --v k2 --output "$OUT"
expect_error "k/v lengths differ" 2 "k and v must have the same heads and length" "$OUT" attention --input "$WORK/bad.h5" --q k3 --k k3 --v v2 --output "$OUT"
expect_error "d = 0" 2 "head size d = 0" "$OUT" attention --input "$WORK/bad.h5" --q z --k z --v z --output "$OUT"
expect_error "NaN input" 2 "dataset 'qnan' holds NaN at head 1, position 7, component 3" "$OUT" attention --input "$WORK/bad.h5" --q qnan --k k3 --v v3 --output "$OUT"
expect_error "window <= 0" 2 "--window must be a positive number" "$OUT" attention --input "$WORK/c.h5" --window 0 --output "$OUT"
finish
