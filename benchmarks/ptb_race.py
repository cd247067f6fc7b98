"""Time to quality on Penn Treebank (issue 25, target 4): rnnlab against pytorch/examples' word_language_model,
both trained on this machine in one run.

    RNNLAB_DATA=../shared/data python benchmarks/ptb_race.py [--epochs 15] [--threads 2] [key=value ...]
    RNNLAB_DATA=../shared/data python benchmarks/ptb_race.py --peer-json PEER.json [key=value ...]  # peer not rerun
    RNNLAB_DATA=../shared/data python benchmarks/ptb_race.py --quick --out /tmp/ptb_race.json   # seconds: smoke run

The peer is word_language_model's default recipe, rebuilt here with plain torch.nn: words of each line
plus <eos>, vocabulary from train; embedding 200 -> dropout 0.2 -> nn.LSTM(200, 200, 2 layers, dropout 0.2)
-> dropout 0.2 -> nn.Linear(200, V), untied (its RNNModel drops out the embeddings too, with the same
Dropout), embedding and decoder uniform(-0.1, 0.1), decoder bias 0; 20 contiguous
streams for training, 10 for evaluation; truncated BPTT of 35 with the state carried (detached); plain SGD
p -= lr * grad, lr 20, gradient norm clipped to 0.25; after each epoch the validation loss, lr /= 4 when
it did not improve; the best-validation weights scored on test. It runs --epochs (15: the issue quotes a
test perplexity of about 97 after 15 epochs; we measure it). Its training time counts the training loops
only (evaluation excluded); its total wall time is reported beside it.

rnnlab trains configs/ptb_fast.toml (its fastest PTB recipe: 2-layer LSTM 400, tied, AdamW, cosine on
time, precision auto, the native engine) through its own trainer (lmbench.train_within, as ptb.py) for a
budget of a third of the peer's training time (train.max_minutes; validation not counted), then scores
the best weights in float32 on valid and test with 10 streams (lmbench.evaluate_bundle_fp32, as ptb.py).
The JSON names the precision train.precision resolved to and the engine that ran: under bf16 autocast the
native engine hands an LSTM to torch's oneDNN kernels (`engine_ran` "fused", `engine_note` says why).
key=value arguments override that config (the recipe is tuned on VALIDATION perplexity, never on test);
--peer-json reuses the peer of an earlier JSON instead of training it again (the JSON says so).

Writes benchmarks/results/ptb_race.json (--out) and ptb_race.png: validation perplexity against training
minutes for both runs, the peer's final valid and test perplexity as lines. Figures: each side's
per-epoch curve, training seconds, valid and test perplexity, and the first rnnlab training time at
which its validation perplexity (per epoch, in the training precision) fell to the peer's final one.
Targets (the JSON's `targets`): rnnlab_test_perplexity_vs_peer (rnnlab's test perplexity <= the peer's)
and rnnlab_train_time_over_peer (rnnlab's training seconds / the peer's <= 1/3).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchcommon  # noqa: E402
import lmbench  # noqa: E402  (puts src/ on the path)
import rnnlab  # noqa: E402

CONFIG = lmbench.ROOT / "configs" / "ptb_fast.toml"
SPLITS = ("train", "valid", "test")
QUICK_LINES = {"train": 2000, "valid": 200, "test": 200}
EOS, UNK = "<eos>", "<unk>"
TIME_RATIO = 1 / 3  # issue 25: the peer's test perplexity in a third of its training time

# word_language_model's defaults (main.py's arguments), except epochs: the 15
PEER = {"emsize": 200, "nhid": 200, "nlayers": 2, "dropout": 0.2, "tied": False, "lr": 20.0, "clip": 0.25,
        "bptt": 35, "batch_size": 20, "eval_batch_size": 10, "epochs": 15, "anneal": 4.0, "init_range": 0.1,
        "seed": 1111}
QUICK_PEER = {"emsize": 32, "nhid": 32, "epochs": 1}
QUICK_RNNLAB = ["model.hidden_size=32", "model.embed_size=32", "train.progress=false"]


# ---- the peer: word_language_model's recipe in plain torch.nn ----------------------------------------

def read_words(path: Path) -> list[str]:
    """A split as one word stream: each line's words, then <eos>."""
    words: list[str] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        words += line.split() + [EOS]
    return words


class Corpus:
    """The three splits as id tensors over the training vocabulary. Full PTB has no word outside it
    (rare words are <unk> already); the quick subsets do, and they read as <unk>."""

    def __init__(self, paths: dict[str, Path]):
        words = {split: read_words(paths[split]) for split in SPLITS}
        self.vocab = {w: i for i, w in enumerate(dict.fromkeys(words["train"] + [UNK]))}
        unk = self.vocab[UNK]
        self.ids = {split: torch.tensor([self.vocab.get(w, unk) for w in ws], dtype=torch.long)
                    for split, ws in words.items()}


def batchify(data: torch.Tensor, bsz: int) -> torch.Tensor:
    """A stream (N,) -> (N // bsz, bsz): column b is the b-th contiguous slice of the stream, so row t+1
    continues every column where row t stopped (the state carries over); the tail that fills no row is
    dropped."""
    rows = data.size(0) // bsz
    return data[:rows * bsz].view(bsz, rows).t().contiguous()


def get_batch(source: torch.Tensor, i: int, bptt: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows i .. i+bptt-1 of a batchified stream as inputs (T, B), the next token of each as targets
    (T, B); the last chunk is shorter, so every row but the first is a target once."""
    steps = min(bptt, source.size(0) - 1 - i)
    return source[i:i + steps], source[i + 1:i + 1 + steps]


class PeerModel(nn.Module):
    """Embedding -> nn.LSTM -> Linear over the vocabulary; one Dropout on the embeddings and on the LSTM's
    output, as word_language_model's RNNModel applies it."""

    def __init__(self, ntokens: int, emsize: int, nhid: int, nlayers: int, dropout: float, init_range: float):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.embed = nn.Embedding(ntokens, emsize)
        self.rnn = nn.LSTM(emsize, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntokens)
        self.nlayers, self.nhid = nlayers, nhid
        nn.init.uniform_(self.embed.weight, -init_range, init_range)
        nn.init.uniform_(self.decoder.weight, -init_range, init_range)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, ids: torch.Tensor, state):
        out, state = self.rnn(self.drop(self.embed(ids)), state)  # ids (T, B) -> (T, B, H)
        return self.decoder(self.drop(out)), state

    def zero_state(self, bsz: int):
        return (torch.zeros(self.nlayers, bsz, self.nhid), torch.zeros(self.nlayers, bsz, self.nhid))


def peer_evaluate(model: PeerModel, source: torch.Tensor, bptt: int) -> float:
    """Mean loss (nats per token) over every target of a batchified split, the state carried through."""
    model.eval()
    state, total, count = model.zero_state(source.size(1)), 0.0, 0
    with torch.no_grad():
        for i in range(0, source.size(0) - 1, bptt):
            x, y = get_batch(source, i, bptt)
            logits, state = model(x, state)
            total += F.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1), reduction="sum").item()
            count += y.numel()
    return total / count


def peer_train_epoch(model: PeerModel, source: torch.Tensor, lr: float, recipe: dict, bar) -> tuple[float, int]:
    """One pass of truncated BPTT with plain SGD: (mean training loss, target tokens)."""
    model.train()
    state, total, tokens = model.zero_state(source.size(1)), 0.0, 0
    params = list(model.parameters())
    for i in range(0, source.size(0) - 1, recipe["bptt"]):
        x, y = get_batch(source, i, recipe["bptt"])
        state = tuple(s.detach() for s in state)  # carry the values, cut the graph at the chunk boundary
        model.zero_grad(set_to_none=True)
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(params, recipe["clip"])
        with torch.no_grad():
            for p in params:  # the recipe's hand-written SGD step, no optimizer object
                p.add_(p.grad, alpha=-lr)
        total += loss.item() * y.numel()
        tokens += y.numel()
        bar.update(1)
        bar.set_postfix(ppl=f"{math.exp(total / tokens):.1f}", lr=f"{lr:g}", refresh=False)
    return total / tokens, tokens


def run_peer(paths: dict[str, Path], recipe: dict) -> dict[str, Any]:
    """Train and score the peer; per-epoch curve, training seconds (loops only) and total wall seconds."""
    from tqdm import tqdm

    started = time.perf_counter()
    torch.manual_seed(recipe["seed"])
    corpus = Corpus(paths)
    train = batchify(corpus.ids["train"], recipe["batch_size"])
    valid = batchify(corpus.ids["valid"], recipe["eval_batch_size"])
    test = batchify(corpus.ids["test"], recipe["eval_batch_size"])
    model = PeerModel(len(corpus.vocab), recipe["emsize"], recipe["nhid"], recipe["nlayers"], recipe["dropout"],
                      recipe["init_range"])
    lr, best_loss, best_state, best_epoch = recipe["lr"], math.inf, None, 0
    curve: list[dict[str, Any]] = []
    train_s, train_tokens = 0.0, 0
    epochs = recipe["epochs"]
    chunks = math.ceil((train.size(0) - 1) / recipe["bptt"])
    for epoch in range(1, epochs + 1):
        epoch_started = time.perf_counter()
        with tqdm(total=chunks, desc=f"peer epoch {epoch}/{epochs}", unit="batch", file=sys.stdout, leave=False,
                  mininterval=5.0, dynamic_ncols=True) as bar:
            t0 = time.perf_counter()
            train_loss, tokens = peer_train_epoch(model, train, lr, recipe, bar)
            epoch_train_s = time.perf_counter() - t0
        train_s += epoch_train_s
        train_tokens += tokens
        t0 = time.perf_counter()
        valid_loss = peer_evaluate(model, valid, recipe["bptt"])
        eval_s = time.perf_counter() - t0
        improved = valid_loss < best_loss
        curve.append({"epoch": epoch, "lr": lr, "train_loss": round(train_loss, 4),
                      "valid_loss": round(valid_loss, 4), "valid_perplexity": round(math.exp(valid_loss), 2),
                      "train_s": round(epoch_train_s, 2), "train_time_s": round(train_s, 2),
                      "eval_s": round(eval_s, 2), "tokens_per_s": round(tokens / epoch_train_s)})
        if improved:
            best_loss, best_epoch = valid_loss, epoch
            best_state = copy.deepcopy(model.state_dict())  # the weights the test is scored with
        else:
            lr /= recipe["anneal"]  # the recipe's only schedule: anneal when validation stalls
        wall = time.perf_counter() - epoch_started
        eta = (epochs - epoch) * (time.perf_counter() - started) / epoch
        print(f"peer epoch {epoch}/{epochs}: valid ppl {math.exp(valid_loss):.2f}{' *' if improved else ''}  "
              f"train ppl {math.exp(train_loss):.1f}  {tokens / epoch_train_s:.0f} tokens/s  "
              f"train {epoch_train_s:.1f} s + eval {eval_s:.1f} s ({wall:.1f} s)  next lr {lr:g}  "
              f"ETA {eta / 60:.1f} min", flush=True)
    model.load_state_dict(best_state)
    valid_loss = peer_evaluate(model, valid, recipe["bptt"])
    test_loss = peer_evaluate(model, test, recipe["bptt"])
    total_s = time.perf_counter() - started
    print(f"peer: best epoch {best_epoch}: valid ppl {math.exp(valid_loss):.2f}, test ppl {math.exp(test_loss):.2f}; "
          f"training {train_s:.1f} s, total {total_s:.1f} s", flush=True)
    return {"recipe": peer_recipe(recipe), "source": "trained in this run", "curve": curve,
            "train_s": round(train_s, 2), "total_s": round(total_s, 2),
            "valid_ppl": round(math.exp(valid_loss), 2), "test_ppl": round(math.exp(test_loss), 2),
            "valid_loss": round(valid_loss, 4), "test_loss": round(test_loss, 4), "best_epoch": best_epoch,
            "vocab_size": len(corpus.vocab), "parameters": sum(p.numel() for p in model.parameters()),
            "tokens": {split: int(corpus.ids[split].numel()) for split in SPLITS},
            "train_tokens_per_s": round(train_tokens / max(train_s, 1e-9))}


def peer_recipe(recipe: dict) -> dict[str, Any]:
    return {"name": "pytorch/examples word_language_model, default arguments (rebuilt with torch.nn here)",
            **recipe,
            "model": f"embedding {recipe['emsize']} -> nn.LSTM({recipe['emsize']}, {recipe['nhid']}, "
                     f"num_layers={recipe['nlayers']}, dropout={recipe['dropout']}) -> dropout -> Linear, untied; "
                     f"dropout also on the embeddings",
            "init": f"embedding and decoder weight uniform(-{recipe['init_range']}, {recipe['init_range']}), "
                    "decoder bias 0, nn.LSTM's own init",
            "optimizer": "plain SGD p -= lr * grad, clip_grad_norm_ before; lr /= anneal when valid loss does "
                         "not improve; the best-valid weights are tested",
            "valid_ppl": "of the best-validation weights (the ones tested): the lowest of the curve"}


def load_peer(path: Path) -> dict[str, Any]:
    """The peer of an earlier ptb_race JSON (or a bare peer object), marked as reused."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise SystemExit(f"--peer-json {path}: cannot read it ({e})") from None
    peer = data.get("peer", data) if isinstance(data, dict) else None
    missing = [k for k in ("train_s", "valid_ppl", "test_ppl", "curve") if k not in (peer or {})]
    if missing:
        raise SystemExit(f"--peer-json {path}: no peer result there (missing {', '.join(missing)})")
    return {**peer, "source": {"reused_from": str(path), "earlier_source": peer.get("source"),
                               "command": data.get("command"), "machine": data.get("machine"),
                               "quick": data.get("quick")}}


# ---- rnnlab --------------------------------------------------------------------------------------------

def engine_used(cfg) -> tuple[str, str]:
    """The engine the recurrent layers actually ran and why it differs from model.engine (after train(),
    which resolves train.precision in place)."""
    from rnnlab.engines import native

    engine = cfg.model.engine
    if engine == "auto":  # the default: native for the modes where it is faster, torch's kernels otherwise
        if cfg.model.cell not in native.FASTER_THAN_TORCH:
            return "fused", f"engine auto runs a {cfg.model.cell} on torch's kernels (native.FASTER_THAN_TORCH)"
        engine = "native"
    if engine != "native":
        return engine, ""
    if not native.available():
        return "fused", f"the native engine is not built here ({native.why()})"
    if cfg.train.precision == "bf16" and cfg.model.cell != "gru":
        return "fused", ("bf16 autocast: the native engine hands an lstm/rnn to torch's kernels (oneDNN bf16), "
                         "rnnlab.engines.native.run")
    return "native", ""


def run_rnnlab(overrides: list[str], budget_s: float, command: str, keep_bundle: bool) -> dict[str, Any]:
    """configs/ptb_fast.toml within `budget_s` of training time, the best weights scored in float32."""
    from rnnlab.config import load_config

    cfg = load_config(CONFIG, overrides)
    summary, records, clock = lmbench.train_within(cfg, budget_s / 60, False, command)
    bundle = Path(cfg.run_dir) / "bundle"
    fp32 = {split: lmbench.evaluate_bundle_fp32(bundle, split, 10) for split in ("valid", "test")}
    engine, engine_note = engine_used(cfg)
    curve = [{"epoch": r["epoch"], "step": r["step"], "train_time_s": r["train_time_s"],
              "train_loss": round(r["train_loss"], 4), "valid_loss": round(r["valid_loss"], 4),
              "valid_perplexity": round(r["valid_perplexity"], 2), "lr": r["lr"]} for r in records]
    return {"config": {"file": str(CONFIG.relative_to(lmbench.ROOT)), "overrides": overrides, "data": vars(cfg.data),
                       "model": vars(cfg.model), "train": vars(cfg.train)},
            "precision": cfg.train.precision, "precision_note": summary["precision"],
            "engine": cfg.model.engine, "engine_ran": engine, "engine_note": engine_note,
            "budget_s": round(budget_s, 2), "curve": curve,
            "curve_note": "valid_perplexity per epoch as the trainer measured it, in the training precision",
            "train_s": round(summary["train_time_s"], 2),
            "valid_ppl": round(fp32["valid"]["perplexity"], 2), "test_ppl": round(fp32["test"]["perplexity"], 2),
            "test_ppl_train_precision": round(summary["test"]["perplexity"], 2),
            "best_epoch": summary["best_epoch"], "epochs": summary["epochs_run"],
            "parameters": summary["parameters"], "train_tokens_per_s": lmbench.tokens_per_s(cfg, summary, records),
            "time": clock, "bundle": str(bundle) if keep_bundle else None}


def reached_at(curve: list[dict[str, Any]], valid_ppl: float) -> float | None:
    """The first training time (s) at which the curve's validation perplexity is <= valid_ppl, or None."""
    return next((r["train_time_s"] for r in curve
                 if r.get("valid_perplexity") is not None and r["valid_perplexity"] <= valid_ppl), None)


# ---- the run -------------------------------------------------------------------------------------------

def data_paths() -> tuple[dict[str, Path] | None, str]:
    """PTB's three files under $RNNLAB_DATA/ptb, or None and the one line that says what is missing."""
    root = os.environ.get("RNNLAB_DATA")
    if not root:
        return None, "ptb_race: RNNLAB_DATA is not set (point it at the directory holding ptb/ptb.train.txt)"
    paths = {split: Path(root) / "ptb" / f"ptb.{split}.txt" for split in SPLITS}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        return None, f"ptb_race: Penn Treebank not found: {', '.join(missing)} (set RNNLAB_DATA)"
    return paths, ""


def quick_data(paths: dict[str, Path], root: Path) -> dict[str, Path]:
    """The first lines of each split under `root` (smoke runs only)."""
    out = {}
    for split in SPLITS:
        lines = paths[split].read_text(encoding="utf-8").splitlines()[:QUICK_LINES[split]]
        out[split] = root / f"{split}.txt"
        out[split].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def targets(peer: dict[str, Any], rnnlab: dict[str, Any]) -> list[dict[str, Any]]:
    return [benchcommon.target("rnnlab_test_perplexity_vs_peer", rnnlab["test_ppl"], peer["test_ppl"], "<="),
            benchcommon.target("rnnlab_train_time_over_peer", rnnlab["train_s"] / peer["train_s"], TIME_RATIO, "<=")]


def plot(result: dict[str, Any], png: Path) -> None:
    """Validation perplexity against training minutes, both runs; the peer's final valid and test lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    peer, ours = result["peer"], result["rnnlab"]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    ax.plot([r["train_time_s"] / 60 for r in peer["curve"]], [r["valid_perplexity"] for r in peer["curve"]], "o-",
            label="word_language_model (peer)")
    ax.plot([r["train_time_s"] / 60 for r in ours["curve"]], [r["valid_perplexity"] for r in ours["curve"]], "s-",
            label=f"rnnlab ({ours['precision']}, {ours['engine_ran']} engine)")
    ax.axhline(peer["valid_ppl"], color="gray", linestyle="--", label=f"peer final valid {peer['valid_ppl']:g}")
    ax.axhline(peer["test_ppl"], color="black", linestyle=":", label=f"peer final test {peer['test_ppl']:g}")
    ax.axvline(ours["budget_s"] / 60, color="tab:orange", alpha=0.4, label="rnnlab's budget (peer / 3)")
    ax.set_yscale("log")
    ax.set_xlabel("training time (minutes, wall clock, evaluation excluded)")
    ax.set_ylabel("validation perplexity")
    ax.set_title(f"PTB word LM: time to quality ({result['machine']['threads']} threads)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=None, help=f"the peer's epochs (default {PEER['epochs']}; 1 quick)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run in seconds: the first 2000/200/200 lines, size-32 models, one peer epoch")
    ap.add_argument("--threads", type=int, default=2, help="torch threads of both runs (default 2)")
    ap.add_argument("--peer-json", type=Path, default=None, help="reuse the peer of an earlier JSON")
    ap.add_argument("--run-dir", default=None, help="rnnlab's run directory (default runs/bench-ptb-race)")
    ap.add_argument("--out", default=str(lmbench.RESULTS / "ptb_race.json"))
    ap.add_argument("overrides", nargs="*", help="key=value overrides of configs/ptb_fast.toml")
    args = ap.parse_args(argv)
    command = " ".join(["python", *map(shlex.quote, sys.argv)] if argv is None
                       else ["python benchmarks/ptb_race.py", *map(shlex.quote, argv)])
    paths, why = data_paths()
    if paths is None:
        print(why, file=sys.stderr)
        return 1
    torch.set_num_threads(args.threads)
    load_before = [round(x, 2) for x in os.getloadavg()]
    clock = lmbench.Clock()
    out = Path(args.out)
    with contextlib.ExitStack() as stack:
        run_dir = args.run_dir or "runs/bench-ptb-race"
        base = [f"train.threads={args.threads}"]  # rnnlab's trainer sets torch's threads: the same as the peer
        if args.quick:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rnnlab-ptb-race-")))
            paths = quick_data(paths, tmp)
            run_dir = args.run_dir or str(tmp / "run")
            base += [f"data.{split}={paths[split]}" for split in SPLITS] + QUICK_RNNLAB
        recipe = {**PEER, **(QUICK_PEER if args.quick else {})}
        if args.epochs is not None:
            recipe["epochs"] = args.epochs
        peer = load_peer(args.peer_json) if args.peer_json else run_peer(paths, recipe)
        if args.peer_json and (peer["source"]["quick"], (peer["source"]["machine"] or {}).get("cpu")) != \
                (args.quick, benchcommon.machine()["cpu"]):
            # a race is only fair on one machine and the same data: say so, the JSON records both
            print(f"warning: the peer of {args.peer_json} ran with quick={peer['source']['quick']} on "
                  f"{(peer['source']['machine'] or {}).get('cpu')}; this run: quick={args.quick}", flush=True)
        result: dict[str, Any] = {
            "benchmark": "ptb_race", "issue": 25, "command": command, "quick": args.quick,
            "machine": benchcommon.machine(args.threads, loadavg_before=load_before),
            "versions": {"python": platform.python_version(), "torch": torch.__version__,
                         "rnnlab": rnnlab.__version__},
            "peer": peer, "rnnlab": None, "targets": []}
        lmbench.write_json(out, result)  # now, so that a failure later keeps the peer (--peer-json reuses it)
        budget_s = peer["train_s"] * TIME_RATIO
        print(f"rnnlab: configs/ptb_fast.toml for {budget_s:.1f} s of training "
              f"(the peer's {peer['train_s']:.1f} s / 3)", flush=True)
        ours = run_rnnlab(base + [f"run_dir={run_dir}"] + args.overrides, budget_s, command,
                          keep_bundle=not args.quick)
    ours["reached_peer_valid_at_s"] = reached_at(ours["curve"], peer["valid_ppl"])
    result["rnnlab"] = ours
    result["targets"] = targets(peer, ours)
    result["machine"]["threads"] = torch.get_num_threads()
    result["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    result["time"] = {"total": clock.report()}
    png = out.with_suffix(".png")
    result["plot"] = png.name
    plot(result, png)
    print(f"peer:   valid ppl {peer['valid_ppl']}, test ppl {peer['test_ppl']}, training {peer['train_s']} s")
    print(f"rnnlab: valid ppl {ours['valid_ppl']}, test ppl {ours['test_ppl']}, training {ours['train_s']} s "
          f"({ours['precision']}, engine {ours['engine']} -> ran {ours['engine_ran']}); reached the peer's valid ppl "
          + (f"at {ours['reached_peer_valid_at_s']} s" if ours["reached_peer_valid_at_s"] is not None else "never"))
    print(benchcommon.describe(result["targets"]))
    lmbench.write_json(out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
