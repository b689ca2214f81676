#!/usr/bin/env bash
# Every bad input gets one clear message from one rank, exit code ≠ 0, no output file, and no
# rank left hanging (each run has a timeout).
source "$(dirname "$0")/common.sh"
OUT=$WORK/out.h5
good=$WORK/good.txt
printf '1 2\n2 3\n3 1\n' >"$good"
{ for i in $(seq 1 3000); do echo "$i $((i + 1))"; done; echo "17 x9"; } >"$WORK/token.txt"

expect_error "bad token on a late line, seen by the last rank" 3 "token.txt:3001:4: expected a vertex id \(integer >= 0\), found 'x9'" "$OUT" \
  pagerank --input "$WORK/token.txt" --output "$OUT"
printf '1 2\n-4 5\n' >"$WORK/neg.txt"
expect_error "negative id" 2 "neg.txt:2:1: .*negative '-4'" "$OUT" pagerank --input "$WORK/neg.txt" --output "$OUT"
printf '1 2\n3\n' >"$WORK/one.txt"
expect_error "one field" 2 "one.txt:2:1: expected 'src dst \[weight\]', found 1 field" "$OUT" pagerank --input "$WORK/one.txt" --output "$OUT"
printf '1 2 1.5\n2 3 -2\n' >"$WORK/negw.txt"
expect_error "negative weight" 2 "negw.txt:2:5: weight must be >= 0, found '-2'" "$OUT" pagerank --input "$WORK/negw.txt" --output "$OUT"
printf '1 2 1.5\n2 3 NaN\n' >"$WORK/nanw.txt"
expect_error "NaN weight" 2 "nanw.txt:2:5: expected a weight \(number\), found 'NaN'" "$OUT" pagerank --input "$WORK/nanw.txt" --output "$OUT"
expect_error "missing file" 2 "cannot open input file $WORK/missing.txt: No such file" "$OUT" pagerank --input "$WORK/missing.txt" --output "$OUT"
expect_error "directory as input" 2 "is a directory, expected a file" "$OUT" pagerank --input "$WORK" --output "$OUT"
: >"$WORK/empty.txt"
expect_error "empty file" 2 "empty.txt is empty" "$OUT" pagerank --input "$WORK/empty.txt" --output "$OUT"
printf '# only\n%% comments\n' >"$WORK/comments.txt"
expect_error "only comments" 2 "the graph is empty" "$OUT" pagerank --input "$WORK/comments.txt" --output "$OUT"
printf '1\n99\n' >"$WORK/pers_unknown.txt"
expect_error "personalization id not in the graph" 3 "pers_unknown.txt: vertex 99 is not in the graph" "$OUT" \
  pagerank --input "$good" --personalization "$WORK/pers_unknown.txt" --output "$OUT"
printf '1 0\n2 0\n' >"$WORK/pers_zero.txt"
expect_error "personalization sums to 0" 2 "sum to 0" "$OUT" pagerank --input "$good" --personalization "$WORK/pers_zero.txt" --output "$OUT"
expect_ok "output directory made" 2 pagerank --input "$good" --output "$WORK/newdir/sub/r.h5"
[ -f "$WORK/newdir/sub/r.h5" ] && echo "ok   output directory made: the result is there" || fail "output directory made: no result"
printf 'x' >"$WORK/plainfile"
expect_error "output directory blocked by a file" 2 "cannot make directory $WORK/plainfile/sub" "" pagerank --input "$good" --output "$WORK/plainfile/sub/r.h5"
expect_error "output not writable" 2 "cannot (create|write)" "" pagerank --input "$good" --output /proc/perron-test.h5
expect_ok "first write" 1 pagerank --input "$good" --output "$OUT"
expect_error "existing output without --overwrite" 2 "already exists; pass --overwrite" "" pagerank --input "$good" --output "$OUT"
expect_ok "--overwrite replaces it" 2 pagerank --input "$good" --output "$OUT" --overwrite
rm -f "$OUT"
expect_error "damping out of range" 2 "--damping: Value 1.5 not in range" "$OUT" pagerank --input "$good" --damping 1.5 --output "$OUT"
expect_error "graphalytics convention on a text file" 2 "needs a Graphalytics .properties input" "$OUT" \
  pagerank --input "$good" --convention graphalytics --output "$OUT"
printf '1 2\n2 3\n' >"$WORK/e32.bin"
head -c 17 /dev/urandom >"$WORK/trunc.bin"
expect_error "truncated binary file" 2 "not a multiple of the 16-byte record" "$OUT" pagerank --input "$WORK/trunc.bin" --format binary --output "$OUT"
expect_error "bad generator spec" 2 "unknown key 'scael'" "$OUT" pagerank --input kronecker:scael=3 --output "$OUT"
# Formats (issue "every bad file refused clearly").
printf '1 2 3 4\n' >"$WORK/four.txt"
expect_error "one more field than allowed" 2 "four.txt:1:1: expected 'src dst \[weight\]', found more than 3 fields" "$OUT" \
  pagerank --input "$WORK/four.txt" --output "$OUT"
printf '1 2 inf\n' >"$WORK/infw.txt"
expect_error "infinite weight" 2 "infw.txt:1:5: weight must be finite, found 'inf'" "$OUT" pagerank --input "$WORK/infw.txt" --output "$OUT"
printf '1 18446744073709551616\n' >"$WORK/wide.txt"
expect_error "id over 64 bits" 2 "exceeds 2\^64-1" "$OUT" pagerank --input "$WORK/wide.txt" --output "$OUT"
printf '\001\000\000\000\011\000\000\000' >"$WORK/e32.bin"
expect_error "id over the declared vertex count" 2 "id 9 is not below the declared vertex count 5" "$OUT" \
  pagerank --input "$WORK/e32.bin" --format binary --binary-id-width 32 --binary-vertices 5 --output "$OUT"
printf '%%%%MatrixMarket matrix coordinate pattern general\n3 3 3\n1 2\n2 3\n' >"$WORK/count.mtx"
expect_error "Matrix Market entry count" 2 "the header declares 3 entries, but the file has 2" "$OUT" pagerank --input "$WORK/count.mtx" --output "$OUT"
printf '3 3 1\n1 2\n' >"$WORK/nohead.mtx"
expect_error "Matrix Market header missing" 2 "missing Matrix Market header" "$OUT" pagerank --input "$WORK/nohead.mtx" --format mm --output "$OUT"
printf '%%%%MatrixMarket matrix coordinate real general\n3 3 1\n1 4 1.0\n' >"$WORK/dim.mtx"
expect_error "Matrix Market index over the dimension" 2 "dim.mtx:3:3: Matrix Market index 4 is outside the declared range 1..3" "$OUT" \
  pagerank --input "$WORK/dim.mtx" --output "$OUT"
printf 'graph.g.vertex-file = g.v\ngraph.g.edge-file = g.e\ngraph.g.directed = true\n' >"$WORK/g.properties"
printf '1\n2\n' >"$WORK/g.v"
printf '1 2\n2 7\n' >"$WORK/g.e"
expect_error "EVLP endpoint not in the .v file" 2 "g.e: edge endpoint 7 is not declared in .*g.v" "$OUT" \
  pagerank --input "$WORK/g.properties" --output "$OUT"
printf 'corrupt' | gzip >"$WORK/full.gz"
head -c 15 "$WORK/full.gz" >"$WORK/corrupt.gz"
expect_error "corrupt gzip stream" 2 "corrupt.gz: corrupt gzip stream" "$OUT" pagerank --input "$WORK/corrupt.gz" --output "$OUT"
expect_ok "make an HDF5 edge list" 1 convert --input "$good" --output "$WORK/edges.h5"
expect_error "HDF5 without the named datasets" 2 "no group /nowhere" "$OUT" pagerank --input "$WORK/edges.h5" --hdf5-group /nowhere --output "$OUT"
"$PYTHON" -c "import h5py, numpy as np; f = h5py.File('$WORK/short.h5', 'w'); f['src'] = np.arange(3, dtype='u8'); f['dst'] = np.arange(2, dtype='u8')"
expect_error "HDF5 datasets of different lengths" 2 "have different lengths \(3 and 2\)" "$OUT" pagerank --input "$WORK/short.h5" --output "$OUT"
"$PYTHON" -c "import h5py, numpy as np; f = h5py.File('$WORK/nodst.h5', 'w'); f['src'] = np.arange(3, dtype='u8')"
expect_error "HDF5 without dst" 2 "no dataset /dst" "$OUT" pagerank --input "$WORK/nodst.h5" --output "$OUT"
cp "$good" "$WORK/locked.txt"
chmod 000 "$WORK/locked.txt"
# As root, permissions do not apply: drop the capabilities that bypass them.
if command -v setpriv >/dev/null; then
  PERRON_PREFIX="setpriv --bounding-set=-dac_override,-dac_read_search --inh-caps=-dac_override,-dac_read_search" \
    expect_error "unreadable file" 2 "cannot read input file .*locked.txt: Permission denied" "$OUT" pagerank --input "$WORK/locked.txt" --output "$OUT"
else
  echo "SKIPPED LOUDLY: setpriv missing, the unreadable-file case is not run as root"
fi
printf '1 2\n' >"$WORK/ro-in.txt"
mkdir -p "$WORK/ro"
chmod 555 "$WORK/ro"
if command -v setpriv >/dev/null; then
  PERRON_PREFIX="setpriv --bounding-set=-dac_override,-dac_read_search --inh-caps=-dac_override,-dac_read_search" \
    expect_error "read-only output directory" 2 "directory .*/ro is not writable" "" pagerank --input "$WORK/ro-in.txt" --output "$WORK/ro/r.h5"
fi
expect_error "seeds naming an unknown id" 2 "--seeds: vertex 77 is not in the graph" "$OUT" pagerank --input "$good" --seeds 1,77 --output "$OUT"

expect_exit 2 "unknown flag" 3 "The following argument was not expected|not expected" "" pagerank --input "$good" --dampign 0.3
# --verify: one true step from the result; a result that is not within 10 x the tolerance is
# refused with exit 5 and nothing written, a good one records the step's change.
expect_ok "pagerank --verify" 2 pagerank --input "$good" --output "$WORK/verified.h5" --verify
"$PYTHON" -c "import h5py, sys; r = h5py.File(sys.argv[1])['pagerank'].attrs['verify_residual']; sys.exit(0 if 0 <= r < 1e-9 else 1)" \
  "$WORK/verified.h5" && echo "ok   /pagerank@verify_residual recorded" || fail "/pagerank@verify_residual"
{ for i in $(seq 2 200); do echo "$i 1"; echo "$i $((i + 1))"; done; } >"$WORK/mix.txt"
expect_exit 5 "pagerank --verify after too few steps" 2 "one true step moves the result by .* more than 10 x the tolerance" \
  "$WORK/unverified.h5" pagerank --input "$WORK/mix.txt" --max-iterations 3 --verify --output "$WORK/unverified.h5"
finish
