"""Language models: predict the next character (Tiny Shakespeare) or the next word (Penn Treebank).

One model and one task core for both levels; `CharLMTask` and `WordLMTask` differ only in how they
read text into a token stream and how they tokenise user input.

    ids (B, T) -> embed (B, T, E) -> dropout -> Recurrent (B, T, H) -> dropout
               -> [project H -> E when tied and E != H] -> decoder (B, T, V): logits of the next token

Tied embeddings (Press & Wolf 2017; Inan et al. 2017): the decoder reuses the input embedding matrix,
so a word's input vector and its output vector are one parameter (fewer weights, better perplexity).

Truncated backpropagation through time with carried state (as in pytorch/examples
word_language_model). The split is ONE token stream; it is cut into windows of `bptt + 1` tokens that
overlap by one (the last token of a window is the first of the next: it is the last target of one and
the first input of the other). With n windows and batch size B, column b holds windows
b*M .. b*M + M - 1 (M = ceil(n / B)), and batch t is row t of every column:

    stream:   w0 w1 w2 w3 | w4 w5 w6 w7 | w8 w9 w10 w11 | ...     (windows of bptt tokens + 1 overlap)
    batch 0:  [w0  w4  w8 ]  <- column 0 starts at window 0, column 1 at window M, column 2 at 2M
    batch 1:  [w1  w5  w9 ]  <- each row continues exactly where the same row of batch 0 stopped,
    batch 2:  [w2  w6  w10]     so the hidden state after batch t is the right start for batch t + 1
    ...                         (carried, but detached: gradients stop at the batch boundary)

When n is not a multiple of B the last column is shorter, so the final batches have fewer rows; the
missing rows are always the LAST columns, so the carried state is cut to its first rows. The final
window may be shorter than bptt + 1 (padded; padded targets are ignored), so every token of the split
after the first is predicted exactly once: `evaluate` reports the loss over the whole split.

Independent blocks (`read_blocks`, `evaluate(..., independent=True)`): the protocol of transformer LMs
such as nanoGPT (its `estimate_loss` scores x = data[i:i+256], y = data[i+1:i+257], each block from a
fresh context). The split is cut into the full windows of `windows(stream, size)` -- blocks of size + 1
tokens whose targets tile the stream -- and every block starts from the zero state, so no token is
predicted from more than `size` tokens of context. The carried-state stream gives an RNN the whole
split before a token as context, which a fixed-window model never has: compare to such a model with
the blocks, not the stream.

`reverse = True` reverses the whole stream: a backward language model (right-to-left), which the
fill-in-the-blank tool (rnnlab.fill) combines with a forward one.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab import checks
from rnnlab.cells import FAMILIES
from rnnlab.errors import DataError, UserError
from rnnlab.explain import eval_mode, gradient_x_input, trace_layers
from rnnlab.layers import RecurrentConfig, build_recurrent
from rnnlab.metrics.language import bits, perplexity
from rnnlab.readers.paths import resolve_path
from rnnlab.readers.text import read_corpus, word_stream
from rnnlab.state import detach, hidden, map_state
from rnnlab.tasks.base import ExportGraph, ExportTensor, LossOutput, Task, labels
from rnnlab.vocab import Vocab

IGNORE = -100  # target id of padded positions (F.cross_entropy's ignore_index)
EOS = "<eos>"
UNK = "<unk>"


@dataclass
class LMModelConfig:
    cell: str = "lstm"  # rnn_tanh | rnn_relu | lstm | gru ("rnn" = rnn_tanh)
    embed_size: int = 256
    hidden_size: int = 512
    num_layers: int = 2
    dropout: float = 0.2  # between recurrent layers and on the recurrent output (before the decoder)
    embed_dropout: float = -1.0  # on the embeddings; < 0 = same as dropout
    tie_weights: bool = False  # decoder weight = embedding weight (adds an H -> E projection if E != H)
    engine: str = "auto"  # "auto" (native where faster, else fused) | "fused" | "glass" | "native"; same weights


@dataclass
class CharLMData:
    """One text file; the first (1 - valid_fraction) of its characters train, the rest validate
    (nanoGPT's Tiny Shakespeare split: first 90 % / last 10 %)."""

    text: str = "$RNNLAB_DATA/tinyshakespeare/input.txt"
    valid_fraction: float = 0.1
    bptt: int = 256  # truncated-BPTT length: tokens per window
    reverse: bool = False  # right-to-left model
    split_epochs: int = 1  # cut each pass over the training text into this many epochs (see batches)


@dataclass
class WordLMData:
    """One sentence per line, words separated by spaces (Mikolov's PTB); `<eos>` ends each line."""

    train: str = "$RNNLAB_DATA/ptb/ptb.train.txt"
    valid: str = "$RNNLAB_DATA/ptb/ptb.valid.txt"
    test: str = "$RNNLAB_DATA/ptb/ptb.test.txt"  # "" = no test split
    bptt: int = 35
    reverse: bool = False  # right-to-left model (each split's stream reversed)
    min_count: int = 1  # words seen fewer times in train map to <unk>
    split_epochs: int = 1  # cut each pass over the training text into this many epochs (see batches)


class LanguageModel(nn.Module):
    """Embedding -> Recurrent -> (projection) -> decoder over the vocabulary, with carried state."""

    def __init__(self, vocab_size: int, cfg: LMModelConfig):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, cfg.embed_size)
        self.embed_drop = nn.Dropout(cfg.dropout if cfg.embed_dropout < 0 else cfg.embed_dropout)
        self.rnn = build_recurrent(RecurrentConfig.of(cfg), cfg.embed_size)
        self.out_drop = nn.Dropout(cfg.dropout)
        out_size = cfg.hidden_size
        self.project = None
        if cfg.tie_weights and cfg.embed_size != cfg.hidden_size:
            self.project = nn.Linear(cfg.hidden_size, cfg.embed_size, bias=False)
            out_size = cfg.embed_size
        self.decoder = nn.Linear(out_size, vocab_size)
        if cfg.tie_weights:
            self.decoder.weight = self.embed.weight  # one (V, E) matrix for reading and writing words
        # small uniform init of embedding and decoder, as in Zaremba et al. 2014 / word_language_model
        nn.init.uniform_(self.embed.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, ids: torch.Tensor, state=None, embedded: torch.Tensor | None = None):
        """ids (B, T), state from the previous chunk (or None) -> (logits (B, T, V), state).

        `embedded` (B, T, E) replaces the embedding lookup (gradient x input in `trace`)."""
        x = self.embed(ids) if embedded is None else embedded  # (B, T, E)
        out, state = self.rnn(self.embed_drop(x), state)  # (B, T, H); state (L, B, H) or (h, c)
        out = self.out_drop(out)
        if self.project is not None:
            out = self.project(out)  # (B, T, E)
        return self.decoder(out), state  # (B, T, V)


def fit_state(state, rows: int):
    """The carried state for a batch of `rows` rows: the first rows (see the module docstring)."""
    if state is None or hidden(state).shape[1] == rows:  # (L, B, H): dim 1 is the batch
        return state
    return map_state(state, lambda t: t[:, :rows])


def windows(stream: list[Any], bptt: int) -> list[list[Any]]:
    """Cut a stream into windows of bptt + 1 tokens overlapping by one; the last may be shorter.

    Every token but the first is a target exactly once: window k predicts stream[k*bptt+1 : (k+1)*bptt+1]."""
    if bptt < 1:
        raise UserError(f"data.bptt must be >= 1, got {bptt}")
    return [stream[start:start + bptt + 1] for start in range(0, max(len(stream) - 1, 0), bptt)]


def blocks(stream: list[Any], size: int) -> list[list[Any]]:
    """The full windows of `windows(stream, size)`: blocks of size + 1 tokens, block k predicting
    stream[k*size+1 : (k+1)*size+1]. A final shorter window is dropped, as nanoGPT never draws a block
    that does not fit: a short block would score its tokens with less context than the others."""
    return [w for w in windows(stream, size) if len(w) == size + 1]


def stream_batches(n_windows: int, batch_size: int) -> list[list[int]]:
    """Window indices per batch for contiguous-stream batching (the diagram in the module docstring):
    batch t = [t, M + t, 2M + t, ...] (M = ceil(n / B)), dropping indices past the end."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if n_windows == 0:
        return []
    m = math.ceil(n_windows / batch_size)
    return [[b * m + t for b in range(batch_size) if b * m + t < n_windows] for t in range(m)]


class _Stateful(nn.Module):
    """A LanguageModel called as exported: (ids, h_0[, c_0]) -> (logits, h_n[, c_n]), state parts flat."""

    def __init__(self, model: LanguageModel):
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, *state: torch.Tensor):
        family = self.model.rnn.family
        logits, final = self.model(ids, family.state_from_parts(state))
        return (logits, *family.state_parts(final))


class LanguageModelTask(Task):
    """Next-token prediction over one stream (see module docstring). Subclasses read and tokenise."""

    ModelConfig = LMModelConfig
    metric = "loss"
    metric_mode = "min"
    level = ""  # "char" | "word"
    start_tokens: list[str] = []  # what precedes user text in the training stream (word: <eos>)

    def __init__(self, data: Any, model: LMModelConfig):
        super().__init__(data, model)
        cell = checks.cell("model.cell", model.cell)
        if data.bptt < 1:
            raise UserError(f"data.bptt must be >= 1, got {data.bptt}")
        if data.split_epochs < 1:
            raise UserError(f"data.split_epochs must be >= 1, got {data.split_epochs}")
        # here, not in build_model: a hand-edited bundle config then fails as it loads, in one line
        checks.model_keys(model, sizes=("embed_size", "hidden_size", "num_layers"), rates=("dropout",))
        if not model.embed_dropout < 0:  # < 0 means "as dropout"
            checks.rate("model.embed_dropout", model.embed_dropout)
        if hasattr(data, "min_count"):
            checks.whole("data.min_count", data.min_count, 0)
        self.cell = cell
        self.vocab: Vocab | None = None

    # ---- subclass hooks ---------------------------------------------------------------------

    def stream(self, split: str) -> list[str]:
        """The split as one token stream (before reversal)."""
        raise NotImplementedError

    def source(self, split: str) -> str:
        """The config path the split is read from (for error messages)."""
        raise NotImplementedError

    def tokenize(self, text: str) -> list[str]:
        """User input -> tokens (the same tokenisation as the training data)."""
        raise NotImplementedError

    def detokenize(self, tokens: list[str]) -> str:
        raise NotImplementedError

    # ---- data -------------------------------------------------------------------------------

    def _tokens(self, split: str) -> list[str]:
        """The split's stream in reading order (reversed for a backward model)."""
        if split not in self.splits():
            raise UserError(f"split {split!r} is not configured (this config has: {', '.join(self.splits())})")
        tokens = self.stream(split)
        return tokens[::-1] if self.data.reverse else tokens

    def read(self, split: str) -> list[list[str]]:
        """The split's windows of bptt + 1 tokens (see `windows`), in stream order."""
        tokens = self._tokens(split)
        out = windows(tokens, self.data.bptt)
        if not out:
            # fewer than 2 tokens: no (input, next token) pair, so no sequence at all; caught here, in the
            # task, so that training fails on it as the dry run does, not only with an empty epoch
            raise DataError(resolve_path(self.source(split)), None,
                            f"the {split} split has {len(tokens)} {self.level}(s): too short for the sequence length "
                            f"(a sequence needs at least 2, a full one data.bptt + 1 = {self.data.bptt + 1}); use a "
                            f"longer text" + (" or another data.valid_fraction" if self.level == "char" else ""))
        return out

    def read_blocks(self, split: str, size: int) -> list[list[str]]:
        """The split as independent blocks of size + 1 tokens (see `blocks`), for
        `evaluate(..., independent=True)`; the tokens after the last full block are not scored."""
        if size < 1:
            raise UserError(f"the block size must be >= 1, got {size}")
        tokens = self._tokens(split)
        out = blocks(tokens, size)
        if not out:
            raise DataError(resolve_path(self.source(split)), None,
                            f"the {split} split has {len(tokens)} {self.level}(s): too short for one block of "
                            f"{size} + 1; use a smaller block or a longer text")
        return out

    def fit(self, train_examples: list[list[str]]) -> None:
        stream = train_examples[0][:1] + [t for w in train_examples for t in w[1:]] if train_examples else []
        self.vocab = self._build_vocab(stream)

    def _build_vocab(self, stream: list[str]) -> Vocab:
        raise NotImplementedError

    def encode(self, example: list[str]) -> dict[str, Any]:
        return {"ids": self.vocab.encode(example)}

    def length(self, features: dict[str, Any]) -> int:
        return len(features["ids"])

    def batches(self, features: list[dict[str, Any]], batch_size: int, *, shuffle: bool, seed: int = 0,
                epoch: int = 0) -> list[list[int]]:
        """Contiguous-stream batches, never shuffled (that would break the carried state).

        Training (shuffle=True) with data.split_epochs = k > 1: epoch e takes the (e mod k)-th k-th of
        one pass, so a long text is validated (and checkpointed, and plotted) k times per pass; the
        carried state restarts at each of these shorter epochs. Evaluation always reads the whole split."""
        batches = stream_batches(len(features), batch_size)
        k = self.data.split_epochs
        if not shuffle or k <= 1:
            return batches
        part, n = epoch % k, len(batches)
        if n < k:  # some of the k epochs would have no batch: nothing to train on, nothing to report
            raise UserError(f"the training text is too short for the sequence length: its {len(features)} "
                            f"sequence(s) (data.bptt = {self.data.bptt}) make {n} batch(es) of train.batch_size = "
                            f"{batch_size}, fewer than data.split_epochs = {k} (one each at least); lower "
                            f"data.split_epochs, data.bptt or train.batch_size, or use a longer text")
        return batches[part * n // k:(part + 1) * n // k]

    def collate(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Windows -> inputs (B, T) = tokens[:-1], targets (B, T) = tokens[1:] (padding: target IGNORE)."""
        steps = max(len(f["ids"]) for f in features) - 1
        inputs = torch.zeros((len(features), steps), dtype=torch.long)
        targets = torch.full((len(features), steps), IGNORE, dtype=torch.long)
        for b, f in enumerate(features):
            ids = torch.tensor(f["ids"], dtype=torch.long)
            inputs[b, : len(ids) - 1] = ids[:-1]
            targets[b, : len(ids) - 1] = ids[1:]
        return {"inputs": inputs, "targets": targets}

    # ---- model ------------------------------------------------------------------------------

    def build_model(self) -> LanguageModel:
        return LanguageModel(len(self.vocab), LMModelConfig(**{**self.model_config.__dict__, "cell": self.cell}))

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], carry: Any = None) -> LossOutput:
        """Summed next-token cross-entropy; carries the (detached) final state to the next batch."""
        state = fit_state(carry, batch["inputs"].shape[0])
        logits, state = model(batch["inputs"], state)  # (B, T, V)
        total = F.cross_entropy(logits.float().flatten(0, 1), batch["targets"].flatten(), ignore_index=IGNORE,
                                reduction="sum")
        # detached: gradients stop at the batch boundary (word_language_model's `repackage_hidden`)
        return LossOutput(total, int((batch["targets"] != IGNORE).sum()), detach(state))

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches: Iterable[dict[str, torch.Tensor]], *,
                 independent: bool = False) -> dict[str, float]:
        """Loss (nats per token) over the whole split, reading it as one stream with carried state.

        independent: the rows are independent blocks (`read_blocks`, batched in any order): every batch
        starts from the zero state, and the loss is the mean over all targets of all blocks."""
        total, count, carry = 0.0, 0, None
        for batch in batches:
            out = self.loss(model, batch, carry)
            total, count = total + out.total.item(), count + out.count
            carry = None if independent else out.carry
        loss = total / max(count, 1)
        metrics = {"loss": loss, "perplexity": perplexity(loss), "tokens": count}
        if self.level == "char":
            metrics["bits_per_char"] = bits(loss)
        return metrics

    # ---- user input -------------------------------------------------------------------------

    def encode_text(self, text: str) -> list[int]:
        """User text -> ids (unknown tokens -> <unk>; never raises on content, only on emptiness)."""
        if not isinstance(text, str):
            raise UserError(f"expected text, got {type(text).__name__}")
        tokens = self.tokenize(text)
        if not tokens:
            raise UserError(f"no tokens in {text!r}")
        if self.data.reverse:
            tokens = tokens[::-1]
        return self.vocab.encode(self.start_tokens + tokens)

    def _steps(self, model: nn.Module, ids: list[int], embedded_grad: bool = False, k: int = 5):
        """Run the model over ids; per-step top-k next tokens, the final distribution and (optionally)
        gradient x input of each input token on the log-probability of the most likely next token."""
        device = next(model.parameters()).device
        x = torch.tensor([ids], dtype=torch.long, device=device)  # (1, T)
        influence = None

        def log_probs(emb: torch.Tensor) -> torch.Tensor:  # (1, T, E) -> (1, T, V)
            return model(x, embedded=emb)[0].float().log_softmax(-1)

        with eval_mode(model):
            if embedded_grad:
                logp, grad_x_input = gradient_x_input(model.embed(x), log_probs, lambda lp: lp[0, -1].max())
                influence = grad_x_input[0].tolist()  # (T,)
            else:
                with torch.no_grad():
                    logp = log_probs(model.embed(x))
        probs = logp.detach().exp()[0]  # (T, V)
        return probs, influence

    def predict(self, model: nn.Module, inputs: list[str]) -> list[dict[str, Any]]:
        """For each text, the prediction schema (rnnlab.tasks.base.Prediction): the most likely next token
        as `answer`, the 10 most likely in `ranking`, and after each token its 5 most likely successors
        (`steps`). Generation: see rnnlab.generate."""
        return self._predict(inputs, lambda ids: self._steps(model, ids)[0])

    def predict_graphs(self, graphs: dict[str, Any], inputs: list[str]) -> list[dict[str, Any]]:
        """`predict` from the export graph ("model": ids and the state before them -> next-token logits, state
        after): each text read from the zero state, as `predict` reads it; the same answers."""
        cfg = self.model_config
        zeros = [torch.zeros(cfg.num_layers, 1, cfg.hidden_size) for _ in FAMILIES[self.cell].state_names]

        def probs(ids: list[int]) -> torch.Tensor:
            logits = graphs["model"](torch.tensor([ids], dtype=torch.long), *zeros)[0]  # (1, T, V)
            return logits.float().log_softmax(-1).exp()[0]  # (T, V), as `_steps` computes them

        return self._predict(inputs, probs)

    def _predict(self, inputs: list[str], probs: Any) -> list[dict[str, Any]]:
        """`predict`'s answers, with `probs(ids)` -> (T, V) the next token's probabilities after each of one text's
        ids (PyTorch's model or an export's graph)."""
        out = []
        for text in inputs:
            ids = self.encode_text(text)
            out.append(self._prediction(text, ids, self.vocab.decode(ids), probs(ids)))
        return out

    def _prediction(self, text: str, ids: list[int], tokens: list[str], probs: torch.Tensor) -> dict[str, Any]:
        itos = self.vocab.itos
        ranking = labels(itos, probs[-1], 10)
        return {"task": self.name, "text": text, "tokens": tokens, "unknown": [i == self.vocab.unk_id for i in ids],
                "answer": ranking[0], "answer_kind": f"next {self.level}", "ranking": ranking,
                "steps": [{"token": tok, "ranking": labels(itos, probs[t], 5)} for t, tok in enumerate(tokens)]}

    def trace(self, model: nn.Module, input: str) -> dict[str, Any]:
        """`predict`'s output plus `influence` (gradient x input of each token on the most likely next
        token) and, from the glass engine, every layer's h (and c, gates) per step (as the intent task)."""
        ids = self.encode_text(input)
        probs, influence = self._steps(model, ids, embedded_grad=True)
        pred = self._prediction(input, ids, self.vocab.decode(ids), probs)
        device = next(model.parameters()).device
        with torch.no_grad(), eval_mode(model):
            x = model.embed(torch.tensor([ids], dtype=torch.long, device=device))  # (1, T, E)
            traced = model.rnn.trace(x)
        influence = {"scores": [float(v) for v in influence],
                     "method": "gradient x input (log-probability of the answer)",
                     "target": pred["answer"]["label"]}
        return {**pred, "cell": self.cell, "influence": influence, "layers": trace_layers(traced)}

    # ---- export ---------------------------------------------------------------------------------

    def export_graph(self, model: nn.Module) -> ExportGraph:
        """Ids and the state carried from the text before in, the next token's logits at every step and the
        state after the last out: generation feeds one token (time = 1) and the state back, as `generate` does.
        Sampling (temperature, top-k) stays outside the graph."""
        names = [n for n in model.rnn.family.state_names]  # ["h"] or ["h", "c"]
        state = tuple(ExportTensor(f"{n}_0", "float32", ("layers", "batch", "units"), f"initial {n} (zeros to start)")
                      for n in names)
        return ExportGraph(_Stateful(model), inputs=(
            ExportTensor("ids", "int64", ("batch", "time"), "token ids (the vocabulary file)"), *state,
        ), outputs=(ExportTensor("logits", "float32", ("batch", "time", "vocab"), "next-token logits after each id"),
                    *(ExportTensor(f"{n}_n", "float32", ("layers", "batch", "units"), f"{n} after the last id")
                      for n in names)))

    def export_example(self, model: nn.Module, batch_size: int, length: int, seed: int = 0) -> dict[str, torch.Tensor]:
        """Rows of `length` tokens (a language model reads full rows; no lengths) and a carried state."""
        g = torch.Generator().manual_seed(seed)
        cfg = self.model_config
        ids = torch.randint(len(self.vocab), (batch_size, length), generator=g)
        size = (cfg.num_layers, batch_size, cfg.hidden_size)
        out = {"ids": ids, "h_0": torch.rand(size, generator=g) * 2 - 1}  # in tanh's range, as a carried h is
        if self.cell == "lstm":
            out["c_0"] = torch.rand(size, generator=g) * 4 - 2
        return out

    # ---- bundles ----------------------------------------------------------------------------

    def state_to_json(self) -> dict[str, Any]:
        return {f"vocab.{self.level}s": self.vocab.to_json()}

    def state_from_json(self, state: dict[str, Any]) -> None:
        key = f"vocab.{self.level}s"
        if key not in state:
            raise ValueError(f"missing {key}")
        self.vocab = Vocab.from_json(state[key])
        if self.vocab.unk_id is None:
            raise ValueError(f"{key} needs an unknown token")


class CharLMTask(LanguageModelTask):
    """Character-level language model (char-rnn). Vocabulary: every character of the training text,
    plus <unk> for characters never seen (never sampled: see rnnlab.decoding.sampling)."""

    name = "charlm"
    level = "char"
    DataConfig = CharLMData

    def __init__(self, data: CharLMData, model: LMModelConfig):
        super().__init__(data, model)
        if not 0.0 < data.valid_fraction < 1.0:
            raise UserError(f"data.valid_fraction must be in (0, 1), got {data.valid_fraction}")

    eval_text = ""  # a text read whole as the held-out split (`read_file`)

    def splits(self) -> list[str]:
        return ["train", "valid"]

    def source(self, split: str) -> str:
        return self.eval_text if split != "train" and self.eval_text else self.data.text

    def read_file(self, split: str, path: str) -> list[list[str]]:
        """`rnnlab evaluate --data FILE`: all of FILE is the held-out text (its own split, not cut)."""
        self.eval_text = path
        return self.read("valid")

    def stream(self, split: str) -> list[str]:
        if split != "train" and self.eval_text:
            return list(read_corpus(resolve_path(self.eval_text)))
        text = read_corpus(resolve_path(self.data.text))
        cut = int(len(text) * (1.0 - self.data.valid_fraction))  # nanoGPT: data[:int(n*0.9)]
        return list(text[:cut] if split == "train" else text[cut:])

    def _build_vocab(self, stream: list[str]) -> Vocab:
        return Vocab(sorted(set(stream)), pad=None, unk=UNK)

    def tokenize(self, text: str) -> list[str]:
        return list(text)

    def input_length(self, input: Any) -> int:
        return len(str(input))  # characters: what the model reads

    def detokenize(self, tokens: list[str]) -> str:
        return "".join(tokens)


_NUMBER = re.compile(r"^[+-]?(\d[\d,]*\.?\d*|\.\d+)%?$")


class WordLMTask(LanguageModelTask):
    """Word-level language model on whitespace-separated text, `<eos>` after every line (PTB)."""

    name = "wordlm"
    level = "word"
    start_tokens = [EOS]  # a user's text starts a sentence, as text after <eos> does in training
    DataConfig = WordLMData

    def splits(self) -> list[str]:
        return ["train", "valid"] + (["test"] if self.data.test else [])

    def source(self, split: str) -> str:
        return getattr(self.data, split)

    def stream(self, split: str) -> list[str]:
        return word_stream(read_corpus(resolve_path(getattr(self.data, split))), EOS)

    def _build_vocab(self, stream: list[str]) -> Vocab:
        return Vocab.build([stream], min_count=self.data.min_count, pad=None, unk=UNK, specials=(EOS,))

    def normalize(self, word: str) -> str:
        """A user's word in the corpus's form: PTB is lowercase and writes numbers as N."""
        if word in self.vocab:
            return word
        if word.lower() in self.vocab:
            return word.lower()
        if "N" in self.vocab and _NUMBER.match(word):
            return "N"
        return word

    def tokenize(self, text: str) -> list[str]:
        # a user's line is one sentence: its tokens (the model adds no <eos>: the text may go on)
        return [self.normalize(w) for w in text.split()]

    def detokenize(self, tokens: list[str]) -> str:
        return " ".join(tokens).replace(f" {EOS} ", "\n").replace(EOS, "\n")
