#!/usr/bin/python3
"""Is attention's "importance" PageRank? A worked study on a real (tiny) model, reproducible on 2
cores in a few minutes with a fixed seed.

    /usr/bin/python3 python/study_tiny_lm.py [--perron build/bin/perron] [--out results/study]
                                             [--steps 1500] [--ranks 2]

1. Trains a small causal transformer (2 layers, 4 heads, d = 128, context 64, dropout 0.1) on
   the English text Debian ships on every machine (/usr/share/common-licenses), word-level, and
   reports its held-out loss (every tenth block of 512 words) against the unigram baseline.
2. Exports a held-out passage with perron_torch (q, k, v of both layers, the words, causal).
3. Runs `perron tokenrank` on it with its baselines (column sums, rollout, the positional null),
   and once per query token with the teleport on that token (personalized TokenRank: which
   tokens matter to this one).
4. Writes the figures (perron_plot) and a JSON summary: TokenRank against the column sums, the
   rollout and the null; the mass at position 0; Spearman correlations with position.
"""
import argparse
import collections
import glob
import json
import math
import os
import re
import subprocess
import sys
import time

import h5py
import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import perron_torch  # noqa: E402

MPI_ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_btl_vader_single_copy_mechanism="none", OMPI_MCA_rmaps_base_oversubscribe="1",
               OPENBLAS_NUM_THREADS="1", HDF5_USE_FILE_LOCKING="FALSE")


def corpus():
    """The words of every licence text Debian ships, lower-cased; punctuation kept as tokens."""
    words = []
    for path in sorted(glob.glob("/usr/share/common-licenses/*")):
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                words += re.findall(r"[a-z]+(?:'[a-z]+)?|[.,;:()\"]", f.read().lower())
    if len(words) < 50000:
        raise SystemExit("/usr/share/common-licenses holds only %d words; the study needs Debian's licence texts" % len(words))
    return words


class TinyLM(torch.nn.Module):
    """Token and learned position embeddings, a causal TransformerEncoder, a linear head."""

    def __init__(self, vocab, d=128, heads=4, layers=2, context=64):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, d)
        self.position = torch.nn.Embedding(context, d)
        layer = torch.nn.TransformerEncoderLayer(d, heads, dim_feedforward=4 * d, dropout=0.1, batch_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, layers)
        self.head = torch.nn.Linear(d, vocab)
        self.register_buffer("mask", torch.nn.Transformer.generate_square_subsequent_mask(context))

    def forward(self, ids):
        n = ids.shape[1]
        x = self.embed(ids) + self.position(torch.arange(n))
        return self.head(self.encoder(x, mask=self.mask[:n, :n]))


def spearman(a, b):
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def run(cmd):
    r = subprocess.run(cmd, env=MPI_ENV, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("step failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--perron", default=os.path.join(os.path.dirname(here), "build", "bin", "perron"))
    ap.add_argument("--out", default="results/study")
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--queries", type=int, default=3, help="personalized TokenRank for this many query tokens")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(0)
    np.random.seed(0)
    torch.set_num_threads(2)
    started = time.time()

    # 1. Data and model.
    words = corpus()
    counts = collections.Counter(words)
    vocab = ["<unk>"] + [w for w, _ in counts.most_common(1999)]
    index = {w: i for i, w in enumerate(vocab)}
    ids = torch.tensor([index.get(w, 0) for w in words])
    # Every tenth block of 512 words is held out: the licences repeat each other's clauses, so a
    # split by position would hold out whole licences the model never saw.
    block = torch.arange(len(ids)) // 512
    train, held = ids[block % 10 != 9], ids[block % 10 == 9]
    cut = len(train)
    context = 64
    model = TinyLM(len(vocab), context=context)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=a.steps)
    lossf = torch.nn.CrossEntropyLoss()
    for step in range(a.steps):
        start = torch.randint(0, len(train) - context - 1, (32,))
        x = torch.stack([train[s:s + context] for s in start])
        y = torch.stack([train[s + 1:s + context + 1] for s in start])
        loss = lossf(model(x).reshape(-1, len(vocab)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 250 == 0:
            print("step %d: training loss %.3f" % (step, loss.item()), flush=True)
    model.eval()
    with torch.no_grad():
        starts = range(0, len(held) - context - 1, context)
        total, tokens = 0.0, 0
        for s in starts:
            x, y = held[s:s + context][None], held[s + 1:s + context + 1][None]
            total += lossf(model(x).reshape(-1, len(vocab)), y.reshape(-1)).item() * context
            tokens += context
    held_loss = total / tokens
    freq = np.bincount(train.numpy(), minlength=len(vocab)) + 1.0
    freq /= freq.sum()
    unigram = float(-np.log(freq[held.numpy()]).mean())
    print("held-out loss %.3f nats/token (perplexity %.1f); unigram %.3f (perplexity %.1f)"
          % (held_loss, math.exp(held_loss), unigram, math.exp(unigram)), flush=True)
    train_s = time.time() - started

    # 2. A held-out passage, exported.
    passage = held[1024:1024 + context]
    words_of = [vocab[i] for i in passage.tolist()]
    cap = perron_torch.capture(model, passage[None])
    qkv = os.path.join(a.out, "passage-qkv.h5")
    perron_torch.write(qkv, cap, tokens=words_of, model="study_tiny_lm: 2 layers, 4 heads, d 128, %d steps" % a.steps)

    # 3. TokenRank with its baselines, then one personalized run per query token.
    mpirun = ["mpirun", "-np", str(a.ranks), "--bind-to", "none", a.perron]
    result = os.path.join(a.out, "passage-tokenrank.h5")
    print(run(mpirun + ["tokenrank", "--input", qkv, "--output", result, "--overwrite", "--precision", "double",
                        "--tolerance", "1e-12", "--quiet"]).strip())
    with h5py.File(result) as f:
        g = f["tokenrank"]
        score, column, null = g["mean_score"][:], g["mean_column_sum"][:], g["null_score"][:]
        rollout, relative = g["mean_rollout"][:], g["mean_relative_score"][:]
    n = score.size
    position = np.arange(n)
    queries = [n - 1 - 9 * q for q in range(a.queries)]
    personalized = {}
    for q in queries:
        teleport = os.path.join(a.out, "teleport-%d.txt" % q)
        with open(teleport, "w") as f:
            f.write("%d 1\n" % q)
        out = os.path.join(a.out, "personalized-%d.h5" % q)
        run(mpirun + ["tokenrank", "--input", qkv, "--output", out, "--overwrite", "--teleport", teleport, "--precision",
                      "double", "--tolerance", "1e-12", "--quiet"])
        with h5py.File(out) as f:
            p = f["tokenrank/mean_score"][:]
        top = [int(i) for i in np.argsort(-p)[:6]]
        personalized[str(q)] = {"query": words_of[q], "top": [[i, words_of[i], float(p[i])] for i in top],
                                "mass_on_itself": float(p[q])}

    # Each layer alone, for the small multiples and the summary.
    per_layer = {}
    layer_results = []
    for layer in range(len(cap.layers)):
        out = os.path.join(a.out, "passage-layer%d.h5" % layer)
        run(mpirun + ["tokenrank", "--input", qkv, "--q", "layer_%d/q" % layer, "--k", "layer_%d/k" % layer, "--output", out,
                      "--overwrite", "--precision", "double", "--tolerance", "1e-12", "--quiet"])
        with h5py.File(out) as f:
            s_l = f["tokenrank/mean_score"][:]
        per_layer[str(layer)] = {"mass_at_position_0": float(s_l[0]), "spearman_vs_position": spearman(s_l, -np.arange(n)),
                                 "top": [words_of[i] for i in np.argsort(-s_l)[:8]]}
        layer_results.append(out)

    # 4. Figures and the summary.
    figures = run(["/usr/bin/python3", os.path.join(here, "perron_plot.py"), result, *layer_results, "--outdir", a.out,
                   "--top", "15"]).split()

    def top(v, k=10):
        return [[int(i), words_of[i], float(v[i])] for i in np.argsort(-v)[:k]]

    summary = {
        "model": {"layers": 2, "heads": 4, "d_model": 128, "context": context, "vocabulary": len(vocab), "steps": a.steps,
                  "train_tokens": int(cut), "held_out_tokens": int(len(held))},
        "held_out_loss": held_loss, "unigram_loss": unigram, "perplexity": math.exp(held_loss),
        "unigram_perplexity": math.exp(unigram),
        "passage": " ".join(words_of),
        "mass_at_position_0": {"tokenrank": float(score[0]), "null": float(null[0]), "column_sum": float(column[0]),
                               "rollout": float(rollout[0])},
        "spearman": {"tokenrank_vs_position": spearman(score, -position), "null_vs_position": spearman(null, -position),
                     "tokenrank_vs_null": spearman(score, null), "tokenrank_vs_column_sum": spearman(score, column),
                     "tokenrank_vs_rollout": spearman(score, rollout), "relative_vs_position": spearman(relative, -position),
                     "relative_vs_column_sum_over_null": spearman(relative, column / null)},
        "l1": {"tokenrank_vs_null": float(np.abs(score - null).sum()), "tokenrank_vs_column_sum": float(np.abs(score - column).sum())},
        "top_by_tokenrank": top(score), "top_by_relative_score": top(relative), "top_by_column_sum": top(column),
        "personalized": personalized, "per_layer": per_layer,
        "figures": figures, "seconds": time.time() - started, "training_seconds": train_s,
    }
    path = os.path.join(a.out, "summary.json")
    with open(path, "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps({k: summary[k] for k in ("held_out_loss", "unigram_loss", "mass_at_position_0", "spearman")}, indent=1))
    print("top by TokenRank:", [w for _, w, _ in summary["top_by_tokenrank"]])
    print("top by TokenRank / null:", [w for _, w, _ in summary["top_by_relative_score"]])
    print("wrote", path, "and", len(figures), "figures in", a.out, "(%.0f s)" % summary["seconds"])


if __name__ == "__main__":
    main()
