"""Fill in the blank on PTB: does the context AFTER the blank help? (the tutorial's point)

    RNNLAB_DATA=../shared/data python benchmarks/cloze.py [--forward runs/bench-ptb/bundle]
        [--backward runs/bench-ptb-backward/bundle] [--sentences 0] [--candidates 20] [--quick]

For each PTB test sentence one word is blanked (a position drawn with a fixed seed among the words
that are not <unk>; sentences with no such word are skipped), and every method of rnnlab.fill ranks
the vocabulary (minus <unk> and <eos>) for the blank, seeing only that sentence:

    left     forward LM, words before the blank only
    right    backward LM, words after the blank only
    product  p_fwd(w | left) * p_bwd(w | right)
    exact    p(w | left, right) by the forward LM's chain rule, over the `candidates` best of product
    exact2   exact under both models, averaged in log space

Reports top-1 and top-5 accuracy per method, the mean log-probability of the true word (left, right,
product: over the vocabulary; exact: over the candidates, and only where the true word is among
them), and how often the true word is among the exact methods' candidates (their ceiling).
Models: the bundles benchmarks/ptb.py trained (forward, and backward with --backward-minutes).
--sentences N evaluates a fixed-seed sample of N sentences (0 = all); --quick = 100 sentences.
No target of its own (it measures what both sides of the blank add): its JSON's `targets` list is empty.
"""
from __future__ import annotations

import argparse
import math
import os
import random
import shlex
import sys
from pathlib import Path

import torch

import lmbench

TARGETS_NOTE = ("no numeric target: the benchmark measures how much the context after the blank adds "
                "(left_only_vs_both_sides)")


def cloze_items(path: Path, seed: int, vocab) -> tuple[list[tuple[list[str], str, list[str]]], int]:
    """(left, word, right) for each sentence of the file, blank position drawn with `seed`; skipped count."""
    rng = random.Random(seed)
    items, skipped = [], 0
    for line in path.read_text().splitlines():
        words = line.split()
        positions = [i for i, w in enumerate(words) if w != "<unk>" and w in vocab]
        if not positions:
            skipped += 1
            continue
        i = rng.choice(positions)
        items.append((words[:i], words[i], words[i + 1:]))
    return items, skipped


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--forward", default="runs/bench-ptb/bundle")
    ap.add_argument("--backward", default="runs/bench-ptb-backward/bundle")
    ap.add_argument("--sentences", type=int, default=0, help="fixed-seed sample of N test sentences (0 = all)")
    ap.add_argument("--candidates", type=int, default=20, help="proposals the exact methods rescore")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(lmbench.RESULTS / "cloze.json"))
    args = ap.parse_args()

    import rnnlab
    from rnnlab.fill import FillModels, score_blank_methods

    if args.threads:
        torch.set_num_threads(args.threads)
    clock = lmbench.Clock()
    forward = rnnlab.load(args.forward)
    backward = rnnlab.load(args.backward) if Path(args.backward).is_dir() else None
    models = FillModels(forward, backward, Path(args.forward))
    methods = models.methods()
    vocab = forward.task.vocab
    test = Path(os.path.expandvars("$RNNLAB_DATA/ptb/ptb.test.txt"))
    items, skipped = cloze_items(test, args.seed, vocab)
    total_items = len(items)
    n = 100 if args.quick else args.sentences
    if n and n < len(items):
        items = random.Random(args.seed + 1).sample(items, n)

    stats = {m: {"top1": 0, "top5": 0, "logp_sum": 0.0, "logp_n": 0, "in_candidates": 0} for m in methods}
    examples = []
    for k, (left, word, right) in enumerate(items):
        target = vocab.index(word)
        ranked = score_blank_methods(models, left, right, methods, args.candidates)
        for method, (ids, probs) in ranked.items():
            s = stats[method]
            hit = (ids == target).nonzero()
            if len(hit):
                rank = int(hit[0, 0])
                s["top1"] += rank == 0
                s["top5"] += rank < 5
                s["logp_sum"] += math.log(max(float(probs[rank]), 1e-30))
                s["logp_n"] += 1
                s["in_candidates"] += 1
        if k < 8:
            examples.append({"sentence": " ".join(left + ["___"] + right), "answer": word,
                             **{m: vocab.decode(ranked[m][0][:5].tolist()) for m in methods}})
        if (k + 1) % 200 == 0:
            print(f"{k + 1}/{len(items)}  " + "  ".join(f"{m} top1 {stats[m]['top1'] / (k + 1):.3f}" for m in methods),
                  flush=True)

    count = len(items)
    figures = {}
    for method, s in stats.items():
        figures[method] = {"top1": round(s["top1"] / count, 4), "top5": round(s["top5"] / count, 4),
                           "mean_log_prob_true_word": round(s["logp_sum"] / max(s["logp_n"], 1), 4)}
        if method.startswith("exact"):
            figures[method]["true_word_in_candidates"] = round(s["in_candidates"] / count, 4)
    best = max(methods, key=lambda m: (figures[m]["top1"], figures[m]["top5"]))
    result = {
        "benchmark": "cloze", "command": " ".join(["python"] + [shlex.quote(a) for a in sys.argv]),
        "quick": args.quick, "machine": lmbench.machine(),
        "models": {"forward": args.forward, "backward": args.backward if backward else None,
                   "forward_test_perplexity": forward.metrics.get("test", {}).get("perplexity")},
        "protocol": {"file": "ptb.test.txt", "sentences_in_file": total_items + skipped,
                     "skipped_no_blankable_word": skipped, "sentences_evaluated": count, "seed": args.seed,
                     "blank": "one word per sentence, uniform over its non-<unk> positions",
                     "context": "the sentence only (left context starts after <eos>, right ends with <eos>)",
                     "candidates_for_exact": args.candidates},
        "figures": figures,
        "left_only_vs_both_sides": {"left_top1": figures["left"]["top1"], "left_top5": figures["left"]["top5"],
                                    "best_both_sides": best, "both_top1": figures[best]["top1"],
                                    "both_top5": figures[best]["top5"]},
        "examples": examples,
        "targets": [],
        "targets_note": TARGETS_NOTE,
        "time": clock.report(),
    }
    lmbench.write_json(Path(args.out), result)
    for m in methods:
        print(f"{m:8s} top1 {figures[m]['top1']:.3f}  top5 {figures[m]['top5']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
