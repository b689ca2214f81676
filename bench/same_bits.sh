#!/usr/bin/env bash
# Same bits before and after a refactoring: runs a fixed set of PageRank, attention and
# TokenRank jobs (every solver and kernel, 1 and 2 ranks, directed and undirected, personalized,
# causal and windowed attention, GQA, several layers) and compares every result dataset and
# result attribute bit for bit (provenance, timings and memory figures excluded).
#
#   bench/same_bits.sh save DIR      # run with the current build, keep the results in DIR
#   bench/same_bits.sh compare DIR   # run again into DIR.new and compare with DIR
#
# PERRON_BUILD_DIR chooses the build (default build/). Exit 0 when every file is identical.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=jobs/lib.sh
source "$here/jobs/lib.sh"
perron_mpi_env
mode=${1:?usage: same_bits.sh save|compare DIR}
ref=${2:?usage: same_bits.sh save|compare DIR}
bin=${PERRON_BUILD_DIR:-$here/build}/bin/perron
py=/usr/bin/python3
data=$here/../shared/data/real

out=$ref
[[ $mode == compare ]] && out=$ref.new
rm -rf "$out"; mkdir -p "$out"; cd "$out"

run() {  # run NAME RANKS ARGS...: one job, quiet, into NAME.h5
  local name=$1 np=$2; shift 2
  mpirun --oversubscribe -np "$np" "$bin" "$@" -o "$name.h5" -q > "$name.log" 2>&1 ||
    { echo "same_bits: $name failed:"; cat "$name.log"; exit 1; }
}

for np in 1 2; do
  for solver in power anderson cg; do
    for kernel in csr blocked; do
      run "k14-$solver-$kernel-np$np" "$np" pagerank -i kronecker:scale=14 --solver "$solver" --kernel "$kernel" --threads 1
    done
  done
  run "k14-seeds-np$np" "$np" pagerank -i kronecker:scale=14 --seeds 1,5,9 --threads 1
  run "k14-fixed-np$np" "$np" pagerank -i kronecker:scale=14 --iterations 7 --threads 1
  if [[ -f $data/wiki-Vote.txt ]]; then
    run "wiki-power-np$np" "$np" pagerank -i "$data/wiki-Vote.txt" --threads 1
    run "wiki-anderson-np$np" "$np" pagerank -i "$data/wiki-Vote.txt" --solver anderson --threads 1
  fi
done

"$bin" generate qkv --heads 2 --seq 700 --dim 32 --structure sink -o qkv.h5 > /dev/null
"$bin" generate qkv --heads 4 --kv-heads 2 --seq 300 --dim 16 --layers 2 --structure clusters -o qkv2.h5 > /dev/null
for np in 1 2; do
  run "att-np$np" "$np" attention -i qkv.h5 --tile-q 64 --tile-k 128 --threads 1
  run "att-causal-np$np" "$np" attention -i qkv.h5 --causal --window 50 --threads 1
  run "att-gqa-np$np" "$np" attention -i qkv2.h5 --q layer_1/q --k layer_1/k --v layer_1/v --threads 1
  run "tr-causal-np$np" "$np" tokenrank -i qkv.h5 --causal --threads 1
  run "tr-power-np$np" "$np" tokenrank -i qkv.h5 --threads 1
  run "tr-layers-np$np" "$np" tokenrank -i qkv2.h5 --rollout --threads 1
  run "tr-double-np$np" "$np" tokenrank -i qkv.h5 --precision double --window 40 --threads 1
done

results=(./*.h5)
[[ $mode == save ]] && { echo "same_bits: saved ${#results[@]} results in $out"; exit 0; }

"$py" - "$ref" "$out" <<'EOF'
import sys, pathlib, h5py, numpy as np
ref, new = map(pathlib.Path, sys.argv[1:])
skip = ("provenance", "rss", "_s")
def items(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if name.startswith("provenance"):
                return
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
            for k, v in obj.attrs.items():
                if not any(s in k for s in skip):
                    out[f"{name}@{k}"] = v
        f.visititems(visit)
    return out
bad = 0
for r in sorted(ref.glob("*.h5")):
    n = new / r.name
    if r.name.startswith("qkv"):
        continue
    a, b = items(r), items(n)
    diffs = [k for k in sorted(set(a) | set(b))
             if k not in a or k not in b or np.asarray(a[k]).tobytes() != np.asarray(b[k]).tobytes()]
    if diffs:
        bad += 1
        print(f"DIFFERENT {r.name}: {', '.join(diffs[:8])}")
print(f"same_bits: {len(list(ref.glob('*.h5'))) - 2 - bad} identical, {bad} different")
sys.exit(1 if bad else 0)
EOF
