#!/usr/bin/env bash
# The torch bridge (python/perron_torch.py): models of each supported kind built in the test,
# exported, and perron's attention and TokenRank checked against torch and a float64 oracle
# (tests/python/torch_bridge.py). Needs Debian's python3-torch, which jobs/lib.sh installs.
source "$(dirname "$0")/common.sh"
if ! "$PYTHON" -c "import torch" 2>/dev/null; then
  fail "python3-torch is not installed for $PYTHON: jobs/test.sh installs it (apt-get install python3-torch)"
else
  "$PYTHON" "$SOURCE_DIR/tests/python/torch_bridge.py" "$PERRON" "$MPIEXEC" "$WORK" "$SOURCE_DIR" || FAILURES=$((FAILURES + 1))
fi
finish
