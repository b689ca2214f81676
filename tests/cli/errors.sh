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
expect_error "output directory missing" 2 "directory $WORK/nodir does not exist" "" pagerank --input "$good" --output "$WORK/nodir/r.h5"
expect_error "output not writable" 2 "cannot (create|write)" "" pagerank --input "$good" --output /proc/perron-test.h5
expect_ok "first write" 1 pagerank --input "$good" --output "$OUT"
expect_error "existing output without --overwrite" 2 "already exists; pass --overwrite" "" pagerank --input "$good" --output "$OUT"
expect_ok "--overwrite replaces it" 2 pagerank --input "$good" --output "$OUT" --overwrite
rm -f "$OUT"
expect_error "damping out of range" 2 "damping must be in \[0, 1\]" "$OUT" pagerank --input "$good" --damping 1.5 --output "$OUT"
expect_error "graphalytics convention on a text file" 2 "needs a Graphalytics .properties input" "$OUT" \
  pagerank --input "$good" --convention graphalytics --output "$OUT"
printf '1 2\n2 3\n' >"$WORK/e32.bin"
head -c 17 /dev/urandom >"$WORK/trunc.bin"
expect_error "truncated binary file" 2 "not a multiple of the 16-byte record" "$OUT" pagerank --input "$WORK/trunc.bin" --format binary --output "$OUT"
expect_error "bad generator spec" 2 "unknown key 'scael'" "$OUT" pagerank --input kronecker:scael=3 --output "$OUT"
expect_error "unknown flag" 1 "The following argument was not expected|not expected" "" pagerank --input "$good" --dampign 0.3
finish
