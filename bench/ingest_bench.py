#!/usr/bin/python3
"""Driver of bench/ingest.sh: one Kronecker graph as a text edge list, a binary edge list, an
HDF5 edge list as perron convert writes it (scale-offset ids) and one as h5py users often write
it (shuffle + gzip); perron loads each at 1 and 2 ranks, interleaved and repeated. Reports read
time (the format's reader, before the id remap and the graph build), MB/s of file read, and peak
RSS summed over ranks per edge, from each run's HDF5 provenance (one PageRank step with the
plain kernel, so that the blocked kernel's copy of the columns does not count as loading memory).
The disk's own read rate (dd with O_DIRECT, bypassing the page cache) is measured in the same run:
a format whose MB/s exceeds it is limited by the disk, not by perron."""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

import h5py

from bench_common import run
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--perron", required=True)
ap.add_argument("--scale", type=int, default=22)
ap.add_argument("--repetitions", type=int, default=3)
ap.add_argument("--json", required=True)
a = ap.parse_args()
work = tempfile.mkdtemp(prefix="perron-ingest-")



binary = os.path.join(work, "g.bin")
print("generating Kronecker scale %d ..." % a.scale, flush=True)
run(["mpirun", "-np", "2", "--bind-to", "none", a.perron, "generate", "kronecker", "--scale", str(a.scale), "--output", binary])
t = time.perf_counter()
pairs = np.fromfile(binary, dtype="<u8").reshape(-1, 2)
text = os.path.join(work, "g.txt")
np.savetxt(text, pairs, fmt="%d\t%d", header="Kronecker scale %d" % a.scale)
m = len(pairs)
del pairs
print("wrote the text edge list in %.1f s" % (time.perf_counter() - t), flush=True)
hdf5 = os.path.join(work, "g.h5")
t = time.perf_counter()
run(["mpirun", "-np", "2", "--bind-to", "none", a.perron, "convert", "--input", binary, "--output", hdf5])
print("perron convert wrote the HDF5 edge list in %.1f s" % (time.perf_counter() - t), flush=True)
gzip_h5 = os.path.join(work, "g-gzip.h5")
with h5py.File(hdf5) as f, h5py.File(gzip_h5, "w") as g:
    for name in ("src", "dst"):
        g.create_dataset(name, data=f[name][:], chunks=(1 << 20,), shuffle=True, compression="gzip", compression_opts=4)
files = {"text": text, "binary": binary, "hdf5": hdf5, "hdf5-gzip": gzip_h5}


def disk_mb_per_s(path):
    """The disk's sequential read rate: dd with O_DIRECT (no page cache), its own report."""
    r = subprocess.run(["dd", "if=" + path, "of=/dev/null", "bs=16M", "iflag=direct"], capture_output=True, text=True)
    for line in r.stderr.splitlines():
        if "copied" in line:
            value, unit = line.split(",")[-1].split()
            return float(value) * {"kB/s": 1e-3, "MB/s": 1, "GB/s": 1e3}[unit]
    return float("nan")


disk = statistics.median(disk_mb_per_s(binary) for _ in range(3))

runs = [(fmt, np_) for fmt in files for np_ in (1, 2)]
samples = {r: [] for r in runs}
for rep in range(a.repetitions):
    for fmt, np_ in runs:
        out = os.path.join(work, "r.h5")
        run(["mpirun", "-np", str(np_), "--bind-to", "none", a.perron, "pagerank", "--input", files[fmt], "--iterations", "1", "--kernel", "csr",
             "--threads", str(2 // np_), "--output", out, "--overwrite", "--quiet", "--top-k", "1"])
        with h5py.File(out) as f:
            p = f["provenance"].attrs
            samples[(fmt, np_)].append((p["load_s"], p["partition_s"], int(p["peak_rss_bytes_sum"])))
    print("repetition %d/%d done" % (rep + 1, a.repetitions), flush=True)

rows = []
print()
print("Kronecker scale %d: %d edges read (undirected Graph500 edges, read as directed here)" % (a.scale, m))
print("disk read rate (dd iflag=direct, median of 3): %.0f MB/s; files are read from the page cache" % disk)
print("%-9s %5s %12s %10s %10s %13s %16s" % ("format", "ranks", "file (MB)", "read (s)", "MB/s", "build (s)", "peak RSS B/edge"))
for fmt, np_ in runs:
    load = statistics.median(s[0] for s in samples[(fmt, np_)])
    build = statistics.median(s[1] for s in samples[(fmt, np_)])
    rss = statistics.median(s[2] for s in samples[(fmt, np_)])
    size = os.path.getsize(files[fmt])
    rows.append(dict(format=fmt, ranks=np_, file_bytes=size, read_s=load, mb_per_s=size / 1e6 / load, build_s=build,
                     peak_rss_bytes_sum=rss, peak_rss_bytes_per_edge=rss / m))
    print("%-9s %5d %12.0f %10.3f %10.0f %13.3f %16.1f" % (fmt, np_, size / 1e6, load, size / 1e6 / load, build, rss / m))
json.dump({"scale": a.scale, "edges": m, "repetitions": a.repetitions, "disk_mb_per_s": disk, "rows": rows},
          open(a.json, "w"), indent=1)
print("wrote", a.json)
shutil.rmtree(work, ignore_errors=True)
