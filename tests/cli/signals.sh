#!/usr/bin/env bash
# Signals as a user sees them through the job scripts: SIGTERM ends a run with exit 143 and a
# checkpoint, SIGINT (Ctrl-C) with 130, whichever phase the run is in; mpirun alone would exit 1
# and turn SIGINT into SIGTERM (jobs/lib.sh: perron_launch).
source "$(dirname "$0")/common.sh"
unset OMPI_MCA_odls_base_sigkill_timeout  # mpirun's default grace between SIGTERM and SIGKILL, as users have
cd "$WORK" || exit 1
# Python starts the job with default signal dispositions (a shell's background job would
# ignore SIGINT), waits for it to reach the wanted phase, and sends the signal.
signal_run() {  # NAME SIGNAL WAIT-FOR-FILE EXPECTED-CODE 'REGEX' ARGS...
  local name=$1 sig=$2 marker=$3 code=$4 regex=$5
  shift 5
  rm -f "$WORK"/run*.h5
  "$PYTHON" - "$sig" "$marker" "$@" >"$WORK/out.log" 2>&1 <<'PY'
import os, signal, subprocess, sys, time
sig, marker, args = getattr(signal, "SIG" + sys.argv[1]), sys.argv[2], sys.argv[3:]
env = dict(os.environ, PERRON_BINARY=os.environ["PERRON"])
p = subprocess.Popen(["bash", os.path.join(os.environ["SOURCE_DIR"], "jobs/mpirun-local.sh"), "-n", "2", "-t", "1"] + args,
                     env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
deadline = time.time() + 60
while time.time() < deadline and marker != "-" and not os.path.exists(marker):
    time.sleep(0.02)
if marker == "-":
    time.sleep(1.0)
p.send_signal(sig)
out, _ = p.communicate(timeout=90)
print(out)
sys.exit(p.returncode)
PY
  local rc=$?
  LAST_RC=$rc
  if [ "$rc" -ne "$code" ]; then fail "$name: exit $rc, expected $code"; return; fi
  grep -Eq "$regex" "$WORK/out.log" || { fail "$name: no /$regex/"; return; }
  [ -f "$WORK/run.h5" ] && { fail "$name: a result file was written"; return; }
  ls "$WORK"/run.h5.tmp* >/dev/null 2>&1 && { fail "$name: a temporary was left"; return; }
  echo "ok   $name (exit $rc): $(grep "perron: error" "$WORK/out.log" | head -1)"
}
LONG=(pagerank --input kronecker:scale=15 --tolerance 1e-300 --max-iterations 1000000 --checkpoint-every 3 --output "$WORK/run.h5" --quiet)
signal_run "SIGTERM while iterating" TERM "$WORK/run.ckpt.h5" 143 "SIGTERM after iteration [0-9]+; checkpoint written" "${LONG[@]}"
grep -q "stopped by SIGTERM" "$WORK/out.log" || fail "SIGTERM is not named"
signal_run "SIGINT while iterating" INT "$WORK/run.ckpt.h5" 130 "checkpoint written" "${LONG[@]}"
grep -q "stopped by SIGINT" "$WORK/out.log" || fail "SIGINT is not named"
# During the load there is nothing to save: the run stops when the load ends, exit 143.
signal_run "SIGTERM during the load" TERM - 143 "SIGTERM during the load and graph build: stopped before the first iteration" \
  pagerank --input kronecker:scale=20 --output "$WORK/run.h5" --quiet
finish
