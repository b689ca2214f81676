#!/usr/bin/env bash
# The promise under hostile conditions: one clear message, the documented exit code, nothing
# half-written, nothing destroyed, no rank left hanging. Full disks, corrupt checkpoints,
# output paths that would destroy data, config values that skip validation, signals, and the
# inputs that a fuzzing campaign found crashing (issue "nothing lost, nothing crashes").
source "$(dirname "$0")/common.sh"
OUT=$WORK/out.h5
printf '1 2\n2 3\n3 1\n3 4\n' >"$WORK/g.txt"

# ---- a full disk: every writer, into a 2 MiB file system -------------------------------------
# A tmpfs where the machine allows mounting one (root in most containers); else the same
# failure injected with a file size limit (fallocate and write then fail with EFBIG).
DISK=$WORK/disk
mkdir -p "$DISK"
if mount -t tmpfs -o size=2m tmpfs "$DISK" 2>/dev/null; then
  trap 'umount -l "$DISK" 2>/dev/null; chmod -R u+rwx "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
  echo "full disk: a 2 MiB tmpfs at $DISK, filled to its last 64 kB while a writer runs"
  full() {
    fallocate -l $((2048 - 64))k "$WORK/disk/.filler" 2>/dev/null || head -c $(((2048 - 64) * 1024)) /dev/zero >"$WORK/disk/.filler"
    "$@"
    local rc=$?
    rm -f "$WORK/disk/.filler"
    return $rc
  }
else
  echo "full disk: no tmpfs here (mount refused); injecting the failure with a 64 kB file size limit"
  full() { (trap '' XFSZ; ulimit -f 64; "$@"); }
fi
generated=$WORK/qkv.h5
perron 1 generate qkv --heads 2 --seq 64 --dim 8 --output "$generated" || fail "generate qkv for the disk tests"
full_disk() {  # NAME NP ARGS...: exit 4 naming the disk space, and the disk left empty
  local name=$1 np=$2
  shift 2
  full perron "$np" "$@"
  local rc=$?
  LAST_RC=$rc
  if [ "$rc" -ne 4 ]; then fail "full disk, $name: exit $rc, expected 4"; return; fi
  grep -Eq "not enough disk space|failed" "$WORK/out.log" || { fail "full disk, $name: no message about the space"; return; }
  grep -q "Segmentation\|signal 11\|MPI_ABORT" "$WORK/out.log" && { fail "full disk, $name: crashed"; return; }
  [ -z "$(ls -A "$DISK")" ] || { fail "full disk, $name: left $(ls "$DISK")"; rm -f "$DISK"/*; return; }
  echo "ok   full disk, $name (exit 4): $(grep -m1 "perron: error" "$WORK/out.log")"
}
for np in 1 2; do
  full_disk "pagerank on $np ranks" "$np" pagerank --input kronecker:scale=17 --output "$DISK/r.h5" --quiet
done
perron 1 generate qkv --heads 4 --seq 4096 --dim 64 --output "$WORK/big-qkv.h5" || fail "generate the attention input"
for np in 1 2; do
  full_disk "attention on $np ranks" "$np" attention --input "$WORK/big-qkv.h5" --output "$DISK/a.h5" --quiet
  full_disk "tokenrank on $np ranks" "$np" tokenrank --input "$WORK/big-qkv.h5" --output "$DISK/t.h5" --quiet
done
full_disk "generate kronecker" 2 generate kronecker --scale 16 --output "$DISK/k.bin"
full_disk "generate qkv" 2 generate qkv --heads 4 --seq 4096 --dim 64 --output "$DISK/q.h5"
full_disk "convert" 2 convert --input kronecker:scale=17 --output "$DISK/e.h5"
full_disk "checkpoint" 2 pagerank --input kronecker:scale=17 --checkpoint-every 1 --checkpoint "$DISK/ck.h5" --iterations 3 --quiet
# What fits is written whole, and the reservation is given back.
expect_ok "a small result fits the small disk" 2 pagerank --input "$WORK/g.txt" --output "$DISK/small.h5" --quiet
[ "$(du -k "$DISK/small.h5" | cut -f1)" -lt 200 ] || fail "the disk reservation was not given back ($(du -k "$DISK/small.h5"))"
rm -f "$DISK"/*

# ---- checkpoints that refuse damage ---------------------------------------------------------
G=kronecker:scale=10
expect_ok "write a checkpoint" 2 pagerank --input "$G" --iterations 4 --checkpoint-every 2 --checkpoint "$WORK/ck.h5" --quiet
expect_ok "restart from it" 2 pagerank --input "$G" --iterations 6 --restart "$WORK/ck.h5" --quiet
damage() {  # NAME PYTHON-STATEMENT 'REGEX': a copy of the checkpoint damaged by h5py is refused
  cp "$WORK/ck.h5" "$WORK/bad.h5"
  "$PYTHON" -c "import h5py, numpy as np
f = h5py.File('$WORK/bad.h5', 'r+'); g = f['checkpoint']; x = g['x']
$2" || { fail "damage $1: h5py"; return; }
  expect_exit 3 "checkpoint with $1" 2 "$3" "$WORK/r.h5" pagerank --input "$G" --iterations 6 --restart "$WORK/bad.h5" --output "$WORK/r.h5"
}
damage "a NaN" "x[3] = np.nan" "checksum mismatch in /checkpoint/x"
damage "a flipped bit" "v = x[:]; b = v.view(np.uint64); b[5] ^= np.uint64(1 << 20); x[:] = v" "checksum mismatch in /checkpoint/x"
damage "zeros" "x[:] = 0" "checksum mismatch"
damage "a changed residual" "r = g['residual']; r[0] = r[0] * 2" "checksum mismatch in /checkpoint/residual"
damage "no checksum (an older perron)" "del g.attrs['x_checksum']" "has no checksum"
damage "an array attribute" "g.attrs['iteration'] = np.ones(64, 'i8')" "attribute /checkpoint@iteration must hold one number, found 64 elements"
damage "a string fingerprint" "g.attrs['graph_fingerprint'] = 'abc'" "graph_fingerprint must be a number"
# Negative values and a wrong sum with a matching checksum: the values themselves are checked.
for case in "negative:v = x[:]; v[0] = -v[0]; v[1] += 2 * abs(v[0])" "sum:v = x[:] * 1.5"; do
  cp "$WORK/ck.h5" "$WORK/bad.h5"
  "$PYTHON" - "$WORK/bad.h5" "${case#*:}" <<'PY' || fail "rewrite the checksum"
import sys, h5py, numpy as np
def mix(z):
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))
f = h5py.File(sys.argv[1], 'r+'); g = f['checkpoint']; x = g['x']
exec(sys.argv[2] + "\nx[:] = v")
with np.errstate(over='ignore'):
    i = np.arange(1, len(v) + 1, dtype=np.uint64)
    g.attrs['x_checksum'] = np.uint64(np.sum(mix(mix(i) ^ x[:].view(np.uint64)), dtype=np.uint64))
PY
  expect_exit 3 "checkpoint with ${case%%:*} values and a matching checksum" 2 "values that are negative|sums to 1.(5|49)" "$WORK/r.h5" \
    pagerank --input "$G" --iterations 6 --restart "$WORK/bad.h5" --output "$WORK/r.h5"
done
expect_exit 3 "missing --restart file" 2 "does not exist" "" pagerank --input "$G" --restart "$WORK/nothing.h5"
ls "$WORK"/ck.h5.tmp* >/dev/null 2>&1 && fail "a checkpoint temporary was left behind"

# ---- output paths that never destroy ----------------------------------------------------------
expect_exit 4 "--output /dev/null" 1 "not a regular file" "" pagerank --input "$WORK/g.txt" --output /dev/null --overwrite
[ -c /dev/null ] || fail "/dev/null is no longer a device"
cp "$WORK/g.txt" "$WORK/keep.txt"
expect_exit 4 "--output naming the input" 1 "is also an input of this run" "" pagerank --input "$WORK/keep.txt" --output "$WORK/keep.txt" --overwrite
expect_exit 4 "--checkpoint naming the input" 1 "is also an input of this run" "" pagerank --input "$WORK/keep.txt" --checkpoint "$WORK/keep.txt" --checkpoint-every 1
expect_exit 4 "--log-json naming the input" 1 "is also an input of this run" "" pagerank --input "$WORK/keep.txt" --log-json "$WORK/keep.txt"
cmp -s "$WORK/g.txt" "$WORK/keep.txt" || fail "the input was changed"
echo "my notes" >"$WORK/notes.txt"
expect_exit 4 "--checkpoint over an unrelated file" 1 "notes.txt already exists; pass --overwrite" "" \
  pagerank --input "$WORK/g.txt" --checkpoint "$WORK/notes.txt" --checkpoint-every 1
expect_exit 4 "--log-json over an existing file" 1 "notes.txt already exists; pass --overwrite" "" pagerank --input "$WORK/g.txt" --log-json "$WORK/notes.txt"
[ "$(cat "$WORK/notes.txt")" = "my notes" ] || fail "notes.txt was replaced"
expect_exit 4 "--checkpoint equal to --output" 1 "is also another output of this run" "" \
  pagerank --input "$WORK/g.txt" --output "$WORK/same.h5" --checkpoint "$WORK/same.h5" --checkpoint-every 1
expect_ok "--checkpoint may replace the file it resumes from" 2 pagerank --input "$G" --iterations 8 --checkpoint-every 2 \
  --restart "$WORK/ck.h5" --checkpoint "$WORK/ck.h5" --quiet
# Two jobs racing to the same new path: one result, one clear refusal, never two "successes".
rm -f "$WORK/race.h5"
for i in 1 2; do
  timeout 120 "$MPIEXEC" -np 1 "$PERRON" pagerank --input kronecker:scale=15 --output "$WORK/race.h5" --quiet >"$WORK/race$i.log" 2>&1 &
done
wait %1; r1=$?; wait %2; r2=$?
if { [ "$r1" -eq 0 ] && [ "$r2" -eq 4 ]; } || { [ "$r1" -eq 4 ] && [ "$r2" -eq 0 ]; }; then
  echo "ok   two jobs, one new path: exits $r1 and $r2 ($(grep -h "perron: error" "$WORK"/race?.log))"
else
  fail "two jobs, one new path: exits $r1 and $r2 (expected one 0 and one 4)"
fi
"$PYTHON" -c "import h5py; assert h5py.File('$WORK/race.h5')['pagerank/score'].shape[0] > 0" || fail "the race left no valid result"
kept=$(grep -ho "result is kept as [^ ]*" "$WORK"/race?.log | sed 's/result is kept as //')
if [ -n "$kept" ]; then
  "$PYTHON" -c "import h5py; assert h5py.File('$kept')['pagerank/score'].shape[0] > 0" && echo "ok   the losing job's result is kept whole as $(basename "$kept")" ||
    fail "the losing job's result is not where its message says ($kept)"
fi

# ---- configs validated like flags ---------------------------------------------------------------
printf '[pagerank]\nsolver = "gmres"\n' >"$WORK/c1.toml"
expect_exit 2 "solver typo in a config" 1 "c1.toml:2:10: 'solver' = \"gmres\" is not accepted: --solver: gmres not in" "" \
  pagerank -c "$WORK/c1.toml" --input "$WORK/g.txt"
printf '[pagerank]\nkernel = "fast"\n' >"$WORK/c2.toml"
expect_exit 2 "kernel typo in a config" 1 "c2.toml:2:10: 'kernel' = \"fast\" is not accepted" "" pagerank -c "$WORK/c2.toml" --input "$WORK/g.txt"
printf '[pagerank]\nconvention = "gaphalytics"\n' >"$WORK/c3.toml"
expect_exit 2 "convention typo in a config" 1 "c3.toml:2:14: 'convention'" "" pagerank -c "$WORK/c3.toml" --input "$WORK/g.txt"
printf '[pagerank]\ndamping = 2\n' >"$WORK/c4.toml"
expect_exit 2 "damping out of range in a config" 1 "c4.toml:2:11: 'damping' = 2 is not accepted" "" pagerank -c "$WORK/c4.toml" --input "$WORK/g.txt"
printf '[convert]\ninput = "%s"\noutput = "%s"\n' "$WORK/g.txt" "$WORK/conv.h5" >"$WORK/c5.toml"
expect_ok "a required --output from the config file" 1 convert -c "$WORK/c5.toml"
[ -f "$WORK/conv.h5" ] || fail "convert -c did not write the output named in the file"
expect_exit 2 "required --output missing everywhere" 1 "--output is required: give it on the command line, or as 'output = ...'" "" \
  convert --input "$WORK/g.txt"
# Parameters are refused before the input is read (a missing input is not even opened).
expect_exit 2 "--damping 2 before the load" 1 "--damping: Value 2 not in range" "" pagerank --input "$WORK/absent.txt" --damping 2
printf '[pagerank]\nbinary-vertices = -1\n' >"$WORK/c6.toml"
expect_exit 2 "a negative count in a config" 1 "'binary-vertices' must be >= 0, got -1" "" pagerank -c "$WORK/c6.toml" --input "$WORK/g.txt"

# ---- messages name the file ----------------------------------------------------------------------
printf '# nothing\n' >"$WORK/nothing.txt"
expect_exit 3 "an empty graph names its file" 1 "nothing.txt: the graph is empty" "" pagerank --input "$WORK/nothing.txt"

# ---- the inputs a fuzzing campaign found crashing --------------------------------------------------
"$PYTHON" -c "
import h5py, numpy as np
with h5py.File('$WORK/arr.h5', 'w') as f:
    f['src'] = np.array([0, 1, 2], 'u8'); f['dst'] = np.array([1, 2, 0], 'u8'); f.attrs['directed'] = np.ones(64, 'i8')
" || fail "h5py: array attribute file"
expect_exit 3 "an edge list whose 'directed' attribute is an array" 2 "@directed must hold one number, found 64 elements" "" \
  pagerank --input "$WORK/arr.h5"
printf '%%%%MatrixMarket matrix coordinate pattern general\n18446744073709551615 18446744073709551615 1\n1 2\n' >"$WORK/huge.mtx"
expect_exit 3 "a Matrix Market size line of 2^64-1" 2 "declares 18446744073709551615 vertices: the graph needs .* of memory; this rank has" "" \
  pagerank --input "$WORK/huge.mtx"
printf '\000\000\000\000\000\000\000\000\001\000\000\000\000\000\000\000' >"$WORK/e.bin"
expect_exit 3 "--binary-vertices 2^64-1" 2 "binary-vertices declares 18446744073709551615 vertices: the graph needs" "" \
  pagerank --input "$WORK/e.bin" --format binary --binary-vertices 18446744073709551615
expect_exit 2 "--binary-vertices -1" 1 "--binary-vertices: must be >= 0, got -1" "" pagerank --input "$WORK/e.bin" --format binary --binary-vertices -1
expect_exit 2 "attention --tile-k 2147483647" 2 "--tile-k: Value 2147483647 not in range 1 to 8192" "" attention --input "$generated" --tile-k 2147483647
expect_exit 2 "tokenrank --tile-q 100000" 2 "--tile-q: Value 100000 not in range" "" tokenrank --input "$generated" --tile-q 100000 --tile-k 100000
expect_exit 2 "a negative tile" 1 "--tile-q: Value -4 not in range" "" attention --input "$generated" --tile-q -4
expect_exit 2 "a zero tile" 1 "--tile-k: Value 0 not in range" "" tokenrank --input "$generated" --tile-k 0
expect_exit 2 "kronecker beyond memory" 1 "kronecker scale 40, edge factor 1024 .* needs .* of memory" "" pagerank --input kronecker:scale=40,edge-factor=1024
expect_exit 2 "generate qkv beyond memory" 1 "--heads x --seq x --dim needs" "" generate qkv --heads 1024 --seq 100000000 --dim 1024 --output "$WORK/q.h5"
perron 1 generate qkv --heads 2 --seq 1 --dim 4 --output "$WORK/one.h5" || fail "generate N = 1"
expect_ok "attention of N = 1 on 2 ranks (a rank with no rows)" 2 attention --input "$WORK/one.h5" --output "$WORK/one-a.h5" --quiet
expect_ok "tokenrank of N = 1 on 2 ranks" 2 tokenrank --input "$WORK/one.h5" --output "$WORK/one-t.h5" --quiet
expect_ok "tokenrank of N = 1 on 2 ranks, power solver" 2 tokenrank --input "$WORK/one.h5" --solver power --output "$WORK/one-p.h5" --quiet
finish
