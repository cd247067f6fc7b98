"""A toy application written the way a new one is: one Task subclass, its configs and its wiring, nothing else.

"Has a digit?": a GRU reads a line character by character and says whether it holds a digit. It declares its
input kind and one decode option (`top`: how many labels the ranking keeps) and touches no file of the package:
registering it (`TASKS["toy_digits"] = "toy_task:ToyTask"`) must be enough for train, predict, the studio and
the upload path (tests/tasks/test_interface.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.errors import DataError, UserError
from rnnlab.layers import RecurrentConfig, build_recurrent
from rnnlab.modules.pooling import last_step
from rnnlab.tasks.base import LossOutput, Option, Task, labels

LABELS = ("no digit", "digit")


@dataclass
class ToyData:
    train: str = ""  # one line per example: the text (its label is whether it holds a digit)
    test: str = ""


@dataclass
class ToyModelConfig:
    cell: str = "gru"
    embed_size: int = 8
    hidden_size: int = 12  # per direction, as everywhere
    num_layers: int = 1
    dropout: float = 0.0
    engine: str = "fused"


class ToyModel(nn.Module):
    def __init__(self, cfg: ToyModelConfig):
        super().__init__()
        rnn = RecurrentConfig.of(cfg)
        self.embed = nn.Embedding(130, cfg.embed_size)  # code points < 128, then <pad>=128, <other>=129
        self.rnn = build_recurrent(rnn, cfg.embed_size)
        self.head = nn.Linear(rnn.output_size, len(LABELS))

    def forward(self, chars: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """chars (B, T), lengths (B,) -> logits (B, 2) at each line's last character."""
        out, _ = self.rnn(self.embed(chars), lengths=lengths.cpu())  # (B, T, H)
        return self.head(last_step(out, lengths))


def _ids(text: str) -> list[int]:
    return [ord(c) if ord(c) < 128 else 129 for c in text] or [129]


class ToyTask(Task):
    """Has a digit? A character GRU over one line (a test's toy task)."""

    name = "toy_digits"
    DataConfig = ToyData
    ModelConfig = ToyModelConfig
    metric = "accuracy"
    metric_mode = "max"
    input_kind = "text"
    options = (Option("top", int, "labels kept in the ranking, best first", minimum=1),)

    def splits(self) -> list[str]:
        return [s for s in ("train", "test") if getattr(self.data, s)]

    def read(self, split: str) -> list[str]:
        path = Path(getattr(self.data, split))
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines, 1):
            if not line.strip():
                raise DataError(path, i, "empty line")
        return lines

    def fit(self, train_examples: list[str]) -> None:
        pass

    def encode(self, example: str) -> dict[str, Any]:
        return {"chars": _ids(example), "label": int(any(c.isdigit() for c in example))}

    def length(self, features: dict[str, Any]) -> int:
        return len(features["chars"])

    def collate(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        lengths = torch.tensor([len(f["chars"]) for f in features])
        chars = torch.full((len(features), int(lengths.max())), 128, dtype=torch.long)  # (B, T)
        for b, f in enumerate(features):
            chars[b, : len(f["chars"])] = torch.tensor(f["chars"])
        return {"chars": chars, "lengths": lengths, "label": torch.tensor([f["label"] for f in features])}

    def build_model(self) -> ToyModel:
        return ToyModel(self.model_config)

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], carry: Any = None) -> LossOutput:
        logits = model(batch["chars"], batch["lengths"])
        return LossOutput(F.cross_entropy(logits.float(), batch["label"], reduction="sum"), len(batch["label"]))

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> dict[str, float]:
        right = n = 0
        loss = 0.0
        for batch in batches:
            logits = model(batch["chars"], batch["lengths"]).float()
            loss += F.cross_entropy(logits, batch["label"], reduction="sum").item()
            right += int((logits.argmax(-1) == batch["label"]).sum())
            n += len(batch["label"])
        return {"accuracy": right / max(n, 1), "loss": loss / max(n, 1)}

    def predict(self, model: nn.Module, inputs: list[Any], *, top: int | None = None) -> list[dict[str, Any]]:
        if any(not str(t).strip() for t in inputs):
            raise UserError("empty input")
        batch = self.collate([{"chars": _ids(str(t)), "label": 0} for t in inputs])
        with torch.no_grad():
            probs = model(batch["chars"], batch["lengths"]).float().softmax(-1)  # (B, 2)
        out = []
        for text, p in zip(inputs, probs):
            ranking = labels(LABELS, p, top)
            out.append({"task": self.name, "text": str(text), "tokens": list(str(text)), "answer": ranking[0],
                        "answer_kind": "has a digit?", "ranking": ranking})
        return out

    def state_to_json(self) -> dict[str, Any]:
        return {"labels": list(LABELS)}

    def state_from_json(self, state: dict[str, Any]) -> None:
        if state.get("labels") != list(LABELS):
            raise ValueError("labels: expected " + ", ".join(LABELS))
