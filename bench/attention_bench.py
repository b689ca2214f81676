#!/usr/bin/python3
"""Driver of bench/attention.sh: achieved GFLOP/s of perron attention (4·N²·d flops per head,
half for causal) next to the sgemm ceiling measured in the same run, for each N, d, causal or
not, as 1 rank x 1 thread, 1 x 2 and 2 x 1; on one thread also with the SGEMM tile kernel
(--kernel blas) for comparison with the default; interleaved repetitions, medians; peak RSS
from each run's provenance."""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

import h5py

ap = argparse.ArgumentParser()
ap.add_argument("--perron", required=True)
ap.add_argument("--ceiling", required=True)
ap.add_argument("--seqs", default="4096,8192,16384")
ap.add_argument("--dims", default="64,128")
ap.add_argument("--repetitions", type=int, default=3)
ap.add_argument("--json", required=True)
a = ap.parse_args()
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OPENBLAS_NUM_THREADS="1",
           OMPI_MCA_btl_vader_single_copy_mechanism="none", HDF5_USE_FILE_LOCKING="FALSE")
work = tempfile.mkdtemp(prefix="perron-attn-bench-")


def run(cmd, **kw):
    r = subprocess.run(cmd, env=dict(env, **kw), capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("step failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r.stdout


# (N, d, causal, ranks, threads per rank)
configs = [(n, d, causal, r, t) for n in map(int, a.seqs.split(",")) for d in map(int, a.dims.split(","))
           for causal in (False, True) for r, t in ((1, 1), (1, 2), (2, 1))]
inputs = {}
for n in sorted({c[0] for c in configs}):
    for d in sorted({c[1] for c in configs}):
        inputs[(n, d)] = os.path.join(work, "qkv_%d_%d.h5" % (n, d))
        run([a.perron, "generate", "qkv", "--heads", "1", "--seq", str(n), "--dim", str(d), "--output", inputs[(n, d)]])
samples = {c: [] for c in configs}
blas_samples = {c: [] for c in configs}
rss = {c: [] for c in configs}
torch_samples = {c: [] for c in configs}
ceilings = []
# The peer: PyTorch's CPU attention as its users write it (matmul, softmax, matmul), float32,
# on the same inputs, with the same thread count, timed in a subprocess interleaved with perron.
TORCH = r"""
import sys, time, h5py, torch
path, threads, causal = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
torch.set_num_threads(threads)
f = h5py.File(path)
q, k, v = (torch.from_numpy(f[n][:]) for n in ("q", "k", "v"))
def run():
    s = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    if causal:
        s = s.masked_fill(torch.ones(s.shape[-2:], dtype=torch.bool).triu(1), float("-inf"))
    return torch.softmax(s, dim=-1) @ v
run()
t = time.perf_counter(); run(); print(time.perf_counter() - t)
"""
try:
    subprocess.run(["/usr/bin/python3", "-c", "import torch"], check=True, capture_output=True)
    have_torch = True
except subprocess.CalledProcessError:
    have_torch = False


def flops(c):
    """Flops credited to one attention pass of configuration c: 4·N²·d, half for causal."""
    n, d, causal = c[:3]
    return 4.0 * n * n * d * (0.5 if causal else 1.0)


def perron_gflops(c, kernel):
    """One perron run of configuration c with the given tile kernel: (GFLOP/s, peak RSS bytes)."""
    n, d, causal, ranks, t = c
    out = os.path.join(work, "out.h5")
    cmd = [a.perron, "attention", "--input", inputs[(n, d)], "--output", out, "--overwrite", "--quiet", "--threads", str(t),
           "--kernel", kernel] + (["--causal"] if causal else [])
    if ranks > 1:
        cmd = ["mpirun", "-np", str(ranks), "--oversubscribe", "--bind-to", "none"] + cmd
    run(cmd, OMP_NUM_THREADS=str(t))
    with h5py.File(out) as f:
        p = f["provenance"].attrs
        return flops(c) / p["compute_s"] / 1e9, int(p["peak_rss_bytes_max_rank"])


for rep in range(a.repetitions):
    ceilings.append(float(run([a.ceiling]).strip()))
    for c in configs:
        n, d, causal, ranks, t = c
        g, peak = perron_gflops(c, "auto")
        samples[c].append(g)
        rss[c].append(peak)
        if (ranks, t) == (1, 1):
            blas_samples[c].append(perron_gflops(c, "blas")[0])
        if have_torch and ranks == 1:
            seconds = float(run(["/usr/bin/python3", "-c", TORCH, inputs[(n, d)], str(t), "1" if causal else "0"],
                                OMP_NUM_THREADS=str(t)).strip())
            torch_samples[c].append(flops(c) / seconds / 1e9)
    print("repetition %d/%d done" % (rep + 1, a.repetitions), flush=True)
ceiling = statistics.median(ceilings)
rows = []
print()
print("sgemm ceiling (2048^3, 1 thread, median of %d): %.1f GFLOP/s" % (len(ceilings), ceiling))
print("%6s %4s %7s %7s %10s %10s %12s %14s %14s %9s" % ("N", "d", "causal", "ranks x threads", "GFLOP/s", "% ceiling",
                                                         "blas GFLOP/s", "peak RSS (MB)", "torch GFLOP/s", "vs torch"))
median = lambda xs: statistics.median(xs) if xs else float("nan")
for c in configs:
    n, d, causal, ranks, t = c
    g, tg, bg = median(samples[c]), median(torch_samples[c]), median(blas_samples[c])
    rows.append(dict(n=n, d=d, causal=causal, ranks=ranks, threads=t, gflops=g, fraction_of_ceiling=g / ceiling,
                     blas_kernel_gflops=bg, peak_rss_bytes=median(rss[c]), samples=samples[c], torch_gflops=tg))
    print("%6d %4d %7s %15s %10.1f %9.0f%% %12s %14.0f %14s %9s" % (
        n, d, "yes" if causal else "no", "%d x %d" % (ranks, t), g, 100 * g / ceiling,
        "%.1f" % bg if blas_samples[c] else "-", median(rss[c]) / 1e6, "%.1f" % tg if torch_samples[c] else "-",
        "%.2fx" % (g / tg) if torch_samples[c] else "-"))
print()
print("2 ranks x 1 thread against 1 rank x 2 threads (time ratio, medians):")
for n in sorted({c[0] for c in configs}):
    for d in sorted({c[1] for c in configs}):
        for causal in (False, True):
            ratio = median(samples[(n, d, causal, 1, 2)]) / median(samples[(n, d, causal, 2, 1)])
            print("  N %6d  d %4d  causal %-3s  %.2fx" % (n, d, "yes" if causal else "no", ratio))
if not have_torch:
    print("PyTorch peer not measured: install Debian's python3-torch (apt-get install python3-torch)")
json.dump({"sgemm_ceiling_gflops": ceiling, "rows": rows}, open(a.json, "w"), indent=1)
print("wrote", a.json)
shutil.rmtree(work, ignore_errors=True)
