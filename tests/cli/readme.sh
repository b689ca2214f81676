#!/usr/bin/env bash
# Every command in README.md runs, in the README's order, as a user would type it: each
# ```bash block line by line (continuations joined) and each ```python block as a script, in a
# scratch directory laid out like a checkout (build/bin/perron, configs/, jobs/, python/, and
# ../shared beside it). Every command must exit 0 and leave the output file it names. ```text
# and ```toml blocks are shown, not run (job submissions need a cluster). The README stays
# within 400 lines.
source "$(dirname "$0")/common.sh"
README=$SOURCE_DIR/README.md
lines=$(wc -l <"$README")
if [ "$lines" -le 400 ]; then echo "ok   README.md has $lines lines (at most 400)"; else fail "README.md has $lines lines, more than 400"; fi

main=$WORK/main
mkdir -p "$main/build/bin"
ln -s "$PERRON" "$main/build/bin/perron"
for d in configs jobs python; do ln -s "$SOURCE_DIR/$d" "$main/$d"; done
have_data=0
if [ -d "$DATA" ]; then
  ln -s "$(cd "$DATA/.." && pwd)" "$WORK/shared"
  have_data=1
else
  echo "SKIPPED LOUDLY: $DATA is missing; the README commands that read it are skipped"
fi

# The blocks, as files: NNN.bash (one command per line) and NNN.py, in README order.
"$PYTHON" - "$README" "$WORK/blocks" <<'PY'
import os, sys
readme, out = sys.argv[1], sys.argv[2]
os.makedirs(out)
lang, body, n = None, [], 0
for line in open(readme, encoding="utf-8"):
    line = line.rstrip("\n")
    if lang is None and line.startswith("```"):
        lang, body = line[3:].strip(), []
    elif lang is not None and line.startswith("```"):
        if lang in ("bash", "python"):
            n += 1
            if lang == "bash":  # join continuations; drop comments and blank lines
                cmds, cur = [], ""
                for b in body:
                    cur += b.rstrip("\\").rstrip() + " " if b.endswith("\\") else b
                    if not b.endswith("\\"):
                        if cur.strip() and not cur.lstrip().startswith("#"):
                            cmds.append(cur.strip())
                        cur = ""
                open(os.path.join(out, "%03d.bash" % n), "w").write("\n".join(cmds) + "\n")
            else:
                open(os.path.join(out, "%03d.py" % n), "w").write("\n".join(body) + "\n")
        lang = None
    elif lang is not None:
        body.append(line)
PY

count=0
for block in "$WORK"/blocks/*; do
  case $block in
  *.py)
    count=$((count + 1))
    if (cd "$main" && "$PYTHON" "$block") >"$WORK/out.log" 2>&1; then
      echo "ok   README python block $(basename "$block")"
    else
      fail "README python block $(basename "$block"): $(head -c 300 "$block")"
    fi
    ;;
  *.bash)
    while IFS= read -r cmd; do
      count=$((count + 1))
      case $cmd in
      "jobs/test.sh"*)
        echo "SKIPPED LOUDLY: '$cmd' is the runner of this very suite (CI runs it through .ci/run)"
        continue
        ;;
      "jobs/quickstart.sh"*)  # the job with the binary under test; test.sh covers install and build
        cmd="PERRON_BINARY=$PERRON $cmd"
        ;;
      esac
      config=$(sed -n 's/.*-c \([^ ]*\).*/\1/p' <<<"$cmd")
      if [ "$have_data" -eq 0 ] && { [[ $cmd == *../shared* ]] || { [ -n "$config" ] && grep -q "\.\./shared" "$main/$config"; }; }; then
        echo "SKIPPED LOUDLY (no ../shared/data): $cmd"
        continue
      fi
      if (cd "$main" && timeout 300 bash -c "$cmd") >"$WORK/out.log" 2>&1 </dev/null; then
        output=$(sed -n 's/.*--output \([^ ]*\).*/\1/p' <<<"$cmd")
        if [ -n "$output" ] && [ ! -f "$main/$output" ]; then
          fail "README: $cmd: exit 0 but no $output"
        else
          echo "ok   README: $cmd"
        fi
      else
        fail "README: $cmd (exit $?)"
      fi
    done <"$block"
    ;;
  esac
done
[ -f "$main/results/quickstart.h5" ] && echo "ok   the quickstart job wrote results/quickstart.h5" || fail "the quickstart job wrote no results/quickstart.h5"
[ "$count" -ge 20 ] && echo "ok   $count README commands and scripts found" || fail "only $count README commands found: is the parser broken?"
finish
