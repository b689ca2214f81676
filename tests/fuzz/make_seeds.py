#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into tests/fuzz/corpus/<target>/seed-*.

Run with Debian's python3 (numpy is not needed). Seeds are small valid inputs of each format,
and for the structure-aware targets (hdf5, qkv, checkpoint: the bytes choose shapes, types and
values of a well-formed file) a spread of byte strings. Crash reproducers that libFuzzer finds
go beside them as crash-*, and stay: tests/fuzz/replay_main.cpp replays every file.
"""
import gzip
import os
import random
import struct
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
rng = random.Random(20261202)


def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


texts = {
    "triangle": "1 2\n2 3\n3 1\n",
    "snap": "# Directed graph: example\n# Nodes: 4 Edges: 4\n# FromNodeId\tToNodeId\n0\t1\n1\t2\n2\t0\n2\t3\n",
    "csv": "src,dst,weight\n1,2,0.5\n2,3,1.5\n3,1,2\n",
    "weighted": "1 2 1.5\n2 3 0.25\n3 1 4\n3 3 1\n",
    "comments": "% comment\n# another\n\n10 20\n20 30\n30 10\n40 10\n",
    "wide": "18446744073709551615 1\n1 4294967296\n",
}
for name, text in texts.items():
    put("text", name, text)
    put("gzip", name, gzip.compress(text.encode(), mtime=0))

put("mm", "pattern", "%%MatrixMarket matrix coordinate pattern general\n3 3 3\n1 2\n2 3\n3 1\n")
put("mm", "real-symmetric", "%%MatrixMarket matrix coordinate real symmetric\n% c\n4 4 3\n2 1 0.5\n3 2 1\n4 4 2\n")
put("mm", "integer", "%%MatrixMarket matrix coordinate integer general\n2 2 2\n1 2 3\n2 1 4\n")

put("metis", "plain", "3 3\n2 3\n1 3\n1 2\n")
put("metis", "weighted", "3 2 1\n2 5\n1 5 3 2\n2 2\n")
put("metis", "vertex-weights", "3 2 11\n7 2 1\n8 1 1 3 1\n9 2 1\n")

props = "graph.g.vertex-file = g.v\ngraph.g.edge-file = g.e\ngraph.g.directed = {d}\n{w}graph.g.pr.damping-factor = 0.85\ngraph.g.pr.num-iterations = 5\n"
put("evlp", "directed", props.format(d="true", w="") + "--\n1\n2\n3\n--\n1 2\n2 3\n3 1\n")
put("evlp", "weighted", props.format(d="false", w="graph.g.edge-properties.names = weight\n") + "--\n1\n2\n3\n4\n--\n1 2 0.5\n2 3 1\n")

def binary(layout, declared, pairs, weights=None):
    ids32 = layout & 1
    wkind = (layout >> 1) % 3
    out = bytes([layout, declared])
    for i, (s, t) in enumerate(pairs):
        out += struct.pack("<II" if ids32 else "<QQ", s, t)
        if wkind:
            out += struct.pack("<f" if wkind == 1 else "<d", weights[i] if weights else 1.0)
    return out

put("binary", "u64", binary(0, 0, [(0, 1), (1, 2), (2, 0)]))
put("binary", "u32-f32", binary(1 | 2, 0, [(0, 1), (1, 2)], [0.5, 2.0]))
put("binary", "u64-f64-declared", binary(4 | 8, 5, [(0, 1), (3, 4)], [1.0, 3.0]))

for target in ("hdf5", "qkv", "checkpoint", "graph"):
    put(target, "zeros", bytes(64))
    put(target, "ones", bytes([255]) * 96)  # every choice of below(n) away from 0: mostly well-formed
    for i in range(6):
        put(target, "random-%d" % i, bytes(rng.randrange(256) for _ in range(rng.choice((16, 48, 128)))))

put("toml", "pagerank", '[pagerank]\ndamping = 0.9\ntolerance = 1e-8\nsolver = "anderson"\nkernel = "csr"\ntop-k = 5\n')
put("toml", "cg", '[pagerank]\nsolver = "cg"\ncg-eliminate = false\nundirected = true\n')
put("toml", "other-tables", '[pagerank]\nquiet = true\n[generate.kronecker]\nscale = 4\n[attention]\ncausal = true\n')
put("toml", "typo", '[pagerank]\nsolver = "gmres"\n')

# Seed-set files for --seed-sets on the fixed 8-vertex graph (ids 0 to 7).
put("seeds", "plain", "0,1\n2 3\n7\n")
put("seeds", "weights", "# comment\n0:0.5,1:2\n3:1e-3 4\n")
put("seeds", "blanks", "  5 ,\t6  \n1\r\n")
put("seeds", "bad-weight", "0:0\n")
put("seeds", "not-a-vertex", "0,99\n")
put("seeds", "empty-line", "0\n\n1\n")
print("seeds written under", root, file=sys.stderr)
