#!/usr/bin/python3
"""Load perron result files (HDF5) in Python.

    import perron_h5
    r = perron_h5.load("results/quickstart.h5")
    r.scores        # pandas.DataFrame(vertex_id, score) when pandas is installed, else a dict of arrays
    r.top           # the top-k table, same type
    r.residual      # numpy array: the L1 change of every iteration
    r.tokens        # TokenRank: the words of the positions (numpy array of str), or None
    r.baselines     # TokenRank: dict of the baselines written (mean_column_sum, null_score, ...)
    r.attrs         # dict: damping, iterations, converged, n, m, ...
    r.provenance    # dict: perron_version, git_commit, config (TOML text), ranks, timings, ...

    t = perron_h5.load("results/tokenrank.h5")   # a `perron tokenrank` result
    t.scores        # DataFrame(position, score): the mean chain
    t.head_scores   # numpy array [heads, N]: the chain of every head
    t.top, t.residual, t.attrs, t.provenance as above

    b = perron_h5.load("seeds.h5")   # a batch: pagerank --seed-sets, or tokenrank --per-query
    b.kind          # "pagerank-personalized" or "tokenrank-personalized"
    b.seeds         # what each vector is personalized on: the seed sets as read, or the query positions
    b.personalized  # numpy array [k, n] (vertex_id columns; positions for TokenRank), or None with --top-k
    b.top           # DataFrame(vector, vertex_id|position, score): each vector's top list
    b.iterations    # PageRank: steps per vector

Needs h5py and numpy (Debian: python3-h5py); pandas is optional.
"""
import h5py
import numpy as np

try:
    import pandas as _pd
except ImportError:  # pandas is optional
    _pd = None


def _table(columns):
    return _pd.DataFrame(columns) if _pd is not None else columns


def _plain(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


class Result:
    """One perron result: PageRank (group /pagerank) or TokenRank (group /tokenrank)."""

    def __init__(self, path):
        self.path = path
        with h5py.File(path, "r") as f:
            self.provenance = {k: _plain(v) for k, v in f["provenance"].attrs.items()} if "provenance" in f else {}
            if "pagerank" in f and "seed_set" in f["pagerank"]:
                g = f["pagerank"]
                self.kind = "pagerank-personalized"
                self.vertex_id = g["vertex_id"][:]
                self.seeds = g["seed_set"].asstr()[:]
                self.iterations = g["personalized_iterations"][:]
                self.personalized = g["personalized"][:] if "personalized" in g else None
                if self.personalized is None:
                    ids, scores = g["personalized_top_vertex_id"][:], g["personalized_top_score"][:]
                else:
                    order = np.argsort(-self.personalized, axis=1, kind="stable")[:, :10]
                    ids = self.vertex_id[order]
                    scores = np.take_along_axis(self.personalized, order, axis=1)
                self.top = _table({"vector": np.repeat(np.arange(ids.shape[0]), ids.shape[1]), "vertex_id": ids.ravel(),
                                   "score": scores.ravel()})
            elif "tokenrank" in f and "personalized_query" in f["tokenrank"]:
                g = f["tokenrank"]
                self.kind = "tokenrank-personalized"
                self.seeds = g["personalized_query"][:]
                self.personalized = g["personalized"][:]
                self.tokens = f["tokens"].asstr()[:] if "tokens" in f else None
                order = np.argsort(-self.personalized, axis=1, kind="stable")[:, :10]
                self.top = _table({"vector": np.repeat(np.arange(order.shape[0]), order.shape[1]), "position": order.ravel(),
                                   "score": np.take_along_axis(self.personalized, order, axis=1).ravel()})
            elif "pagerank" in f:
                g = f["pagerank"]
                self.kind = "pagerank"
                self.vertex_id = g["vertex_id"][:]
                self.score = g["score"][:]
                self.scores = _table({"vertex_id": self.vertex_id, "score": self.score})
                self.top = _table({"vertex_id": g["top_vertex_id"][:], "score": g["top_score"][:]})
            elif "tokenrank" in f:
                g = f["tokenrank"]
                self.kind = "tokenrank"
                self.score = g["mean_score"][:]
                self.head_scores = g["score"][:]
                self.scores = _table({"position": np.arange(self.score.size), "score": self.score})
                self.top = _table({"position": g["top_position"][:], "score": g["top_score"][:]})
                # The words (from the input's /tokens) and the baselines, when written.
                self.tokens = f["tokens"].asstr()[:] if "tokens" in f else None
                self.baselines = {name: g[name][:] for name in ("mean_column_sum", "null_score", "mean_relative_score",
                                                                "mean_rollout", "column_sum", "relative_score")
                                  if name in g}
            elif "attention" in f:
                raise ValueError("%s is a perron attention result (/attention/out, /attention/lse): it holds no ranking; "
                                 "rank its q and k with perron tokenrank" % path)
            elif "graph" in f and "layout_version" in f["graph"].attrs:
                raise ValueError("%s is a prepared graph (perron convert --to graph), not a result: rank it with "
                                 "perron pagerank" % path)
            elif "src" in f and "dst" in f:
                raise ValueError("%s is an HDF5 edge list (perron convert or attention-graph), not a result: rank it "
                                 "with perron pagerank" % path)
            else:
                raise ValueError("%s holds no perron result (no /pagerank or /tokenrank group)" % path)
            self.attrs = {k: _plain(v) for k, v in g.attrs.items()}
            self.residual = g["residual"][:]

    def __repr__(self):
        return "<perron %s result %s: n=%s, %s iterations>" % (self.kind, self.path, self.attrs.get("n"),
                                                               self.attrs.get("iterations"))


def load(path):
    """Reads a perron result file."""
    return Result(path)


if __name__ == "__main__":
    import sys

    for p in sys.argv[1:]:
        r = load(p)
        print(r)
        key = "vertex_id" if r.kind.startswith("pagerank") else "position"
        print(r.top if _pd is not None else list(zip(r.top[key][:10], r.top["score"][:10])))
