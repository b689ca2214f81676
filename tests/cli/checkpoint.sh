#!/usr/bin/env bash
# Checkpoint and restart: a run stopped by SIGTERM (as Slurm does before the time limit) or
# killed outright, then resumed, gives the scores of a run never interrupted: bit-identical at
# the same ranks × threads, within 1e-12 at another rank count (power steps: cg and bicgstab
# resume with a fresh Krylov space, tested in tests/test_pagerank.cpp).
source "$(dirname "$0")/common.sh"
GRAPH=kronecker:scale=16,seed=3
long_run() {  # runs until stopped: the tolerance is never reached
  # mpirun's default grace between SIGTERM and SIGKILL (common.sh sets none), as users have
  env -u OMPI_MCA_odls_base_sigkill_timeout "$MPIEXEC" -np 2 --oversubscribe --bind-to none "$PERRON" pagerank \
    --input "$GRAPH" --solver power --tolerance 1e-300 --max-iterations 100000 --checkpoint-every 5 \
    --output "$WORK/run.h5" --quiet >"$WORK/out.log" 2>&1 &
  RUN=$!
  for _ in $(seq 1 600); do [ -f "$WORK/run.ckpt.h5" ] && break; sleep 0.05; done
  sleep 0.3
}
ckpt_iteration() { "$PYTHON" -c "import h5py; print(int(h5py.File('$WORK/run.ckpt.h5')['checkpoint'].attrs['iteration']))"; }

for how in TERM KILL; do
  rm -f "$WORK"/run*.h5 "$WORK"/ref*.h5
  long_run
  if [ "$how" = KILL ]; then  # the ranks themselves die at once, as on a node failure
    pkill -KILL -f "tolerance 1e-300 --max-iterations 100000"
  else
    kill -TERM "$RUN"
  fi
  wait "$RUN"
  rc=$?
  if [ "$how" = TERM ]; then
    [ "$rc" -ne 0 ] && grep -q "SIGTERM after iteration [0-9]*; checkpoint written to .*run.ckpt.h5" "$WORK/out.log" &&
      [ ! -f "$WORK/run.h5" ] && echo "ok   SIGTERM: checkpoint written, exit $rc, no result file" ||
      fail "SIGTERM did not stop the run cleanly (exit $rc)"
  fi
  [ -f "$WORK/run.ckpt.h5" ] || { fail "$how: no checkpoint"; continue; }
  k=$(ckpt_iteration)
  total=$((k + 20))
  expect_ok "reference, $total iterations" 2 pagerank --input "$GRAPH" --iterations "$total" --output "$WORK/ref.h5" --quiet
  expect_ok "$how at iteration $k, resumed on 2 ranks" 2 pagerank --input "$GRAPH" --iterations "$total" \
    --restart "$WORK/run.ckpt.h5" --output "$WORK/run2.h5" --quiet
  "$PYTHON" "$SOURCE_DIR/tests/python/check_pagerank.py" "$WORK/ref.h5" --compare "$WORK/run2.h5" --max-l1 0 ||
    fail "$how: resumed run differs from the uninterrupted one at the same ranks"
  expect_ok "$how at iteration $k, resumed on 3 ranks" 3 pagerank --input "$GRAPH" --iterations "$total" \
    --restart "$WORK/run.ckpt.h5" --output "$WORK/run3.h5" --quiet
  "$PYTHON" "$SOURCE_DIR/tests/python/check_pagerank.py" "$WORK/ref.h5" --compare "$WORK/run3.h5" --max-l1 1e-12 ||
    fail "$how: resumed run on 3 ranks differs"
done
expect_error "checkpoint of other parameters" 2 "written with other parameters" "" \
  pagerank --input "$GRAPH" --damping 0.9 --restart "$WORK/run.ckpt.h5"
expect_error "checkpoint of another graph" 2 "was written for another graph" "" \
  pagerank --input kronecker:scale=16,seed=4 --restart "$WORK/run.ckpt.h5"
expect_error "checkpoint beyond the iterations asked for" 2 "beyond the 3 iterations asked for" "" \
  pagerank --input "$GRAPH" --iterations 3 --restart "$WORK/run.ckpt.h5"
expect_error "not a checkpoint" 2 "is not a perron checkpoint" "" pagerank --input "$GRAPH" --restart "$WORK/ref.h5"
finish
