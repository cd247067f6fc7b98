"""Intent classification, many-to-one: read an utterance word by word, decide its intent at the end.

The tutorial's first example ("what time is it?" -> ask the time). The encoder runs LEFT TO RIGHT
only, so its hidden state after word t has seen words 1..t and nothing after: applying the intent
head to every step gives "the network's best guess after reading word t", which `predict` returns
per token. Training uses only the last step (many-to-one).

    tokens (B, T) -> embed (B, T, E) -> Recurrent (B, T, H) -> head (B, T, C) per step
                                                           `-> step lengths-1 -> (B, C) the decision

Word contributions ("influence"): gradient x input on the word embeddings
(rnnlab.explain.gradient_x_input) of the predicted intent's log-odds against all the others
(rnnlab.explain.predicted_log_odds). Positive: the word pushed the decision towards the predicted
intent; negative: away from it.

Data: rnnlab.readers.intents (JSONL or CSV with `text,intent`, or a seq.in/label directory; slot tags
are ignored here), tokenised into words and punctuation as user input is; without `data.valid`, a fixed
`valid_fraction` of train is held out (rnnlab.readers.splits.hold_out). The network, with word dropout in
its forward (training only), is rnnlab.modules.classifier.IntentModel, which the API-call task reuses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab import checks
from rnnlab.errors import UserError
from rnnlab.explain import eval_mode, gradient_x_input, predicted_log_odds, trace_layers
from rnnlab.metrics.classification import accuracy, confusion_matrix, macro_f1
from rnnlab.modules.classifier import IntentModel, IntentModelConfig
from rnnlab.readers.intents import IntentExample, read_intents, tokenize
from rnnlab.readers.paths import resolve_path
from rnnlab.readers.splits import hold_out
from rnnlab.tasks.base import ExportGraph, ExportTensor, LossOutput, Task, export_token_batch, labels
from rnnlab.vocab import Vocab


@dataclass
class IntentData:
    """Where the utterances are. Paths: see rnnlab.readers.paths ("package:" = shipped data)."""

    train: str = "package:demo_intents/train.jsonl"
    valid: str = ""  # "" = hold out `valid_fraction` of train (fixed seed) for model selection
    test: str = "package:demo_intents/test.jsonl"  # "" = no test split
    valid_fraction: float = 0.1
    lowercase: bool = True
    min_count: int = 1  # words seen fewer times in train map to <unk>
    max_tokens: int = 64  # training utterances are cut to this (keeps the first words); predict reads all


class IntentTask(Task):
    """Many-to-one intent classification: read an utterance left to right, decide its intent at the end."""

    name = "intent"
    DataConfig = IntentData
    ModelConfig = IntentModelConfig
    metric = "accuracy"
    metric_mode = "max"

    @classmethod
    def ignored_keys(cls, data: IntentData, model: IntentModelConfig) -> dict[str, str]:
        return {"data.valid_fraction": "data.valid names the validation file"} if data.valid else {}

    def __init__(self, data: IntentData, model: IntentModelConfig):
        super().__init__(data, model)
        cell = checks.cell("model.cell", model.cell)
        if not 0.0 <= data.valid_fraction < 1.0:
            raise UserError(f"data.valid_fraction must be in [0, 1), got {data.valid_fraction}")
        # here, not in build_model: a hand-edited bundle config then fails as it loads, in one line
        checks.model_keys(model, sizes=("embed_size", "hidden_size", "num_layers"), rates=("dropout", "word_dropout"))
        checks.whole("data.min_count", data.min_count, 0)
        checks.whole("data.max_tokens", data.max_tokens)
        self.cell = cell
        self.words: Vocab | None = None
        self.intents: Vocab | None = None

    # ---- data -------------------------------------------------------------------------------

    def splits(self) -> list[str]:
        out = ["train"]
        if self.data.valid or self.data.valid_fraction > 0:
            out.append("valid")
        if self.data.test:
            out.append("test")
        return out

    def _read_file(self, path_text: str) -> list[IntentExample]:
        return read_intents(resolve_path(path_text), lowercase=self.data.lowercase, max_tokens=self.data.max_tokens)

    def _train_valid(self) -> tuple[list[IntentExample], list[IntentExample]]:
        examples = self._read_file(self.data.train)
        # seed 0, independent of the training seed: the held-out set never moves
        return hold_out(examples, 0.0 if self.data.valid else self.data.valid_fraction, seed=0)

    def read(self, split: str) -> list[IntentExample]:
        if split not in self.splits():
            raise UserError(f"split {split!r} is not configured (this config has: {', '.join(self.splits())})")
        if split == "train":
            return self._train_valid()[0]
        if split == "valid":
            return self._read_file(self.data.valid) if self.data.valid else self._train_valid()[1]
        return self._read_file(self.data.test)

    def fit(self, train_examples: list[IntentExample]) -> None:
        self.words = Vocab.build((e.tokens for e in train_examples), min_count=self.data.min_count)
        self.intents = Vocab(sorted({e.intent for e in train_examples}), pad=None, unk=None)

    def encode(self, example: IntentExample) -> dict[str, Any]:
        if example.intent not in self.intents:
            raise UserError(f"intent {example.intent!r} (in {example.text!r}) does not occur in the training "
                            f"data; known intents: {', '.join(self.intents.itos)}")
        return {"ids": self.words.encode(example.tokens), "intent": self.intents.index(example.intent)}

    def length(self, features: dict[str, Any]) -> int:
        return len(features["ids"])

    def collate(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        lengths = [len(f["ids"]) for f in features]
        tokens = torch.full((len(features), max(lengths)), self.words.pad_id, dtype=torch.long)  # (B, T)
        for b, f in enumerate(features):
            tokens[b, : len(f["ids"])] = torch.tensor(f["ids"], dtype=torch.long)
        batch = {"tokens": tokens, "lengths": torch.tensor(lengths, dtype=torch.long)}
        if "intent" in features[0]:
            batch["intent"] = torch.tensor([f["intent"] for f in features], dtype=torch.long)  # (B,)
        return batch

    # ---- model ------------------------------------------------------------------------------

    def build_model(self) -> IntentModel:
        cfg = IntentModelConfig(**{**self.model_config.__dict__, "cell": self.cell})
        return IntentModel(len(self.words), len(self.intents), cfg, self.words.pad_id, self.words.unk_id)

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], carry: Any = None) -> LossOutput:
        final, _ = model(batch["tokens"], batch["lengths"])
        total = F.cross_entropy(final.float(), batch["intent"], reduction="sum")
        return LossOutput(total, int(batch["intent"].shape[0]))

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> dict[str, float]:
        loss_sum, n_cls = 0.0, len(self.intents)
        confusion = torch.zeros(n_cls, n_cls, dtype=torch.long)  # [true, predicted]
        for batch in batches:
            final, _ = model(batch["tokens"], batch["lengths"])
            loss_sum += F.cross_entropy(final.float(), batch["intent"], reduction="sum").item()
            confusion += confusion_matrix(batch["intent"], final.argmax(-1), n_cls)
        n = int(confusion.sum())
        return {"accuracy": accuracy(confusion), "loss": loss_sum / max(n, 1),
                "macro_f1": macro_f1(confusion), "n": n}  # macro over the intents that occur in this split

    # ---- user input -------------------------------------------------------------------------

    def _explain(self, model: nn.Module, texts: list[str]) -> list[dict[str, Any]]:
        """Per-step guesses, final decision and gradient x input influences for each text."""
        token_lists, batch = self._batch(texts, next(model.parameters()).device)
        with eval_mode(model):
            (final, steps), influence = gradient_x_input(  # influence (B, T)
                model.embed(batch["tokens"]),  # (B, T, E)
                lambda emb: model(batch["tokens"], batch["lengths"], embedded=emb),
                lambda out: predicted_log_odds(out[0].float()).sum())
        return self._predictions(texts, token_lists, final, steps, influence)

    def predict_graphs(self, graphs: dict[str, Any], inputs: list[str]) -> list[dict[str, Any]]:
        """`predict` from the export graph ("model": tokens, lengths -> logits, step_logits): the same intents and
        rankings; no `influence` (gradient x input needs the PyTorch model)."""
        inputs = list(inputs)
        if not inputs:
            return []
        token_lists, batch = self._batch(inputs, torch.device("cpu"))
        final, steps = graphs["model"](batch["tokens"], batch["lengths"])
        return self._predictions(inputs, token_lists, final, steps, None)

    def _batch(self, texts: list[str], device: torch.device) -> tuple[list[list[str]], dict[str, torch.Tensor]]:
        """The texts' tokens, and the padded batch of their ids (tokens (B, T), lengths (B,))."""
        token_lists = []
        for text in texts:
            if not isinstance(text, str):
                raise UserError(f"expected text, got {type(text).__name__}")
            # No cut here: the recurrent network reads any length, and the user sees every word
            # they typed in `steps` (the server limits the length before this is reached).
            tokens = tokenize(text, self.data.lowercase)
            if not tokens:
                raise UserError(f"no words to classify in {text!r}")
            token_lists.append(tokens)
        batch = {k: v.to(device) for k, v in self.collate([{"ids": self.words.encode(t)} for t in token_lists]).items()}
        return token_lists, batch

    def _predictions(self, texts: list[str], token_lists: list[list[str]], final: torch.Tensor, steps: torch.Tensor,
                     influence: torch.Tensor | None) -> list[dict[str, Any]]:
        """The schema's dicts from the logits at each end (B, C) and after each token (B, T, C); influence (B, T)
        or None (an export's graphs give none)."""
        probs, step_probs = final.detach().float().softmax(-1), steps.detach().float().softmax(-1)
        names = self.intents.itos
        out = []
        for b, tokens in enumerate(token_lists):
            ranking = labels(names, probs[b])
            pred = {
                "task": self.name, "text": texts[b], "tokens": tokens,
                "unknown": [tok not in self.words for tok in tokens],
                "answer": ranking[0], "answer_kind": "intent", "ranking": ranking,
                "steps": [{"token": tok, "ranking": labels(names, step_probs[b, t])} for t, tok in enumerate(tokens)],
            }
            if influence is not None:
                pred["influence"] = {"scores": [float(v) for v in influence[b, : len(tokens)].tolist()],
                                     "method": "gradient x input (log-odds of the answer)",
                                     "target": ranking[0]["label"]}
            out.append(pred)
        return out

    def input_length(self, input: str) -> int:
        return len(tokenize(str(input), self.data.lowercase))

    def predict(self, model: nn.Module, inputs: list[str]) -> list[dict[str, Any]]:
        """For each text, the prediction schema (rnnlab.tasks.base.Prediction): the intent as `answer`,
        every intent in `ranking`, the intents after each token in `steps`, gradient x input per token
        in `influence`, and which tokens were not in the training vocabulary (`unknown`)."""
        inputs = list(inputs)
        return self._explain(model, inputs) if inputs else []  # no inputs, no batch to build

    def trace(self, model: nn.Module, input: str) -> dict[str, Any]:
        """`predict`'s output plus, from the glass engine, every layer's hidden state per step and, for
        LSTM/GRU, each gate (and the LSTM cell state c) per step: {"layers": [{"layer", "direction",
        "h": (T, H) nested list, "c": ..., "gates": {name: (T, H)}}]}."""
        return self.trace_many(model, [input])[0]

    def trace_many(self, model: nn.Module, inputs: list[str]) -> list[dict[str, Any]]:
        """`trace` of each input, from one batched pass (the server's /trace batches): the glass engine reads
        the padded batch with its lengths, so each sequence's states and gates are its own (each direction
        starts at its own end); each one's steps are cut to its length."""
        preds = self._explain(model, list(inputs))
        device = next(model.parameters()).device
        batch = self.collate([{"ids": self.words.encode(p["tokens"])} for p in preds])
        with torch.no_grad(), eval_mode(model):
            x = model.embed(batch["tokens"].to(device))  # (B, T, E)
            traced = model.encoder.trace(x, lengths=batch["lengths"])  # per-step values (B, T, H)
        out = []
        for b, pred in enumerate(preds):
            n = len(pred["tokens"])
            mine = {k: v[b:b + 1, :n] for k, v in traced.items() if k.startswith("l")}  # (1, n, H) each
            out.append({**pred, "cell": self.cell, "layers": trace_layers(mine)})
        return out

    # ---- export ---------------------------------------------------------------------------------

    def export_graph(self, model: nn.Module) -> ExportGraph:
        """Word ids and lengths in; the intents' logits at each true end and after every word out (softmax
        them for `predict`'s probabilities). The ids are `vocab.words.json`'s, unknown words its <unk>."""
        return ExportGraph(model, inputs=(
            ExportTensor("tokens", "int64", ("batch", "time"), "word ids (vocab.words), padded with its <pad>"),
            ExportTensor("lengths", "int64", ("batch",), "true length of each utterance, 1..time"),
        ), outputs=(
            ExportTensor("logits", "float32", ("batch", "intents"), "intent logits at each utterance's last word"),
            ExportTensor("step_logits", "float32", ("batch", "time", "intents"), "intent logits after each word"),
        ))

    def export_example(self, model: nn.Module, batch_size: int, length: int, seed: int = 0) -> dict[str, torch.Tensor]:
        return export_token_batch(self.words, batch_size, length, seed)

    # ---- bundles ----------------------------------------------------------------------------

    def state_to_json(self) -> dict[str, Any]:
        return {"vocab.words": self.words.to_json(), "vocab.intents": self.intents.to_json()}

    def state_from_json(self, state: dict[str, Any]) -> None:
        for key in ("vocab.words", "vocab.intents"):
            if key not in state:
                raise ValueError(f"missing {key}")
        self.words = Vocab.from_json(state["vocab.words"])
        self.intents = Vocab.from_json(state["vocab.intents"])
        if self.words.pad_id is None or self.words.unk_id is None:
            raise ValueError("vocab.words needs pad and unk tokens")

