#!/usr/bin/python3
"""Writes the graph of a binary Graph500 edge list, as perron reads it with --undirected, as a
PETSc binary AIJ matrix (the format MatLoad reads: big-endian int32 header, row lengths, column
indices, then float64 values) for bench/petsc_pagerank.cpp.

usage: petsc_matrix.py EDGES.bin MATRIX.petsc
"""
import sys

import numpy as np

from scipy_pagerank import graph_matrix

MAT_FILE_CLASSID = 1211216

ids, A = graph_matrix(sys.argv[1])
A.sort_indices()
n = A.shape[0]
if A.nnz >= 2**31:
    sys.exit("petsc_matrix.py: %d entries need PETSc with 64-bit indices" % A.nnz)
with open(sys.argv[2], "wb") as f:
    np.array([MAT_FILE_CLASSID, n, n, A.nnz], dtype=">i4").tofile(f)
    np.diff(A.indptr).astype(">i4").tofile(f)
    A.indices.astype(">i4").tofile(f)
    A.data.astype(">f8").tofile(f)
print("wrote %s: n = %d, %d entries" % (sys.argv[2], n, A.nnz))
