"""Joint intent detection and slot filling (task "intent_slots"): one encoder, two heads.

    "play the new album by adele on spotify"
      -> intent PlayMusic (0.99), slots: play the new album by [adele]{artist} on [spotify]{service}

Model (Liu & Lane 2016 and Goo et al. 2018 for the joint set-up; Lample et al. 2016 for char
features + CRF under a BiLSTM):

    words (B, T) ──embedding──────────────┐
    chars (B, T, L) ──char CNN + max-pool─┴─ concat (B, T, E+F) ── dropout
        ── BiRecurrent layer 1 (B, T, 2H) ── ... ── BiRecurrent layer N (B, T, 2H) = top
    intent head:  [forward final state, backward final state, max-pool over top] (B, 4H) -> intents
                  (+ attention pool over top (B, 2H) with `attention_pool`: (B, 6H))
    slot head:    top (B, T, 2H) -> tag emissions (B, T, K) -> CRF (Viterbi) or per-token argmax
    causal head:  forward half of layer 1 (B, T, H) -> intents at every step   (see below)

Per-token intents, honestly. The tutorial's figures show the network's intent guess after each word,
read left to right. A bidirectional encoder has read the whole sentence at every position, so its
states cannot give that. Layer 1's *forward* direction has read only words 1..t at step t (the char
CNN looks inside one word only), so a small linear "causal head" on it gives a true left-to-right
guess. It is trained with the utterance's intent at every step (weight `causal_weight`, averaged over
the steps; like the token-level intent detection of Stack-Propagation, Qin et al. 2019), which also
acts as an auxiliary loss for the encoder. Upper layers mix both directions, so only layer 1 is used.
The final intent is the sequence head's, which sees everything; the causal head's last step usually
agrees with it but need not.

Unknown words: at prediction time words not in the vocabulary map to <unk>. In training, word dropout
(rnnlab.modules.embedding.WordDropout, in the model's forward) replaces each word by <unk> with
probability `word_dropout`, so the <unk> embedding is trained while the char CNN still sees the word's
spelling (rare entity names are most of SNIPS's slot values); `singleton_dropout` also replaces words
seen once in training, so <unk> is learned from the rare words it will stand for (Lample et al. 2016).

Slots are scored with seqeval (rnnlab.metrics.tagging) in its conlleval-compatible default mode (what
the papers report) and in strict IOB2 mode; the CRF's BIO constraints make the two agree.

What was measured on SNIPS for these choices (the CRF, singleton dropout, attention pooling) and what
was tried and dropped: docs/experiments/snips.md.
"""
from __future__ import annotations

import copy
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab import checks
from rnnlab.errors import UserError
from rnnlab.explain import eval_mode, trace_layers
from rnnlab.layers import RecurrentConfig, build_recurrent
from rnnlab.metrics.tagging import chunk_f1, chunks
from rnnlab.modules import unwrap
from rnnlab.modules.crf import CRF, bio_constraints, viterbi
from rnnlab.modules.embedding import CharCNN, WordDropout
from rnnlab.modules.pooling import AttentionPool, length_mask, max_pool
from rnnlab.readers.paths import resolve_path
from rnnlab.readers.utterances import Utterance, read_utterances
from rnnlab.state import hidden
from rnnlab.tasks.base import ExportGraph, ExportTensor, LossOutput, Task, labels
from rnnlab.vocab import Vocab


@dataclass
class JointData:
    train: str = ""  # a seq.in/seq.out/label directory, a .csv or a .jsonl file
    valid: str = ""
    test: str = ""
    lowercase: bool = True  # words and characters are lowercased (SNIPS and ATIS already are)
    min_count: int = 1  # words seen fewer times in training map to <unk>


@dataclass
class JointModelConfig:
    cell: str = "lstm"  # rnn | lstm | gru (rnn = tanh RNN; rnn_relu also accepted)
    embed_size: int = 128  # word embedding
    char_dim: int = 32
    char_filters: int = 64  # char CNN output size per word
    char_width: int = 3  # char CNN kernel width
    max_word_chars: int = 20  # longer words are cut (their first chars carry the shape)
    hidden_size: int = 200  # per direction
    num_layers: int = 2
    dropout: float = 0.3
    word_dropout: float = 0.1  # training: replace a word by <unk> with this probability
    singleton_dropout: float = 0.0  # training: replace a word seen once in train by <unk> with this probability
    crf: bool = True
    causal_weight: float = 0.5  # weight of the per-step intent loss of the causal head
    intent_smoothing: float = 0.0  # label smoothing of both intent losses (sentence and causal head);
    #                                trades intent for slots on SNIPS (docs/experiments/snips.md)
    attention_pool: bool = False  # the intent head also reads an attention-weighted mean of the top layer
    members: int = 1  # > 1: a deep ensemble of this many independently initialised models (JointEnsemble)


def decode_tags(crf: CRF | tuple[torch.Tensor, ...] | None, emissions: torch.Tensor,
                lengths: torch.Tensor) -> list[list[int]]:
    """Tag ids per sentence: Viterbi under the CRF (or its scores, CRF.scores(), as an export's graph gives them),
    or each token's best tag without one."""
    if crf is not None:
        return viterbi(emissions, lengths, *(crf.scores() if isinstance(crf, CRF) else crf))
    return [row[:n] for row, n in zip(emissions.argmax(-1).tolist(), lengths.tolist())]


class JointModel(nn.Module):
    def __init__(self, cfg: JointModelConfig, num_words: int, num_chars: int, num_intents: int, tags: list[str],
                 pad_id: int = 0, unk_id: int = 1, singletons: torch.Tensor | None = None):
        super().__init__()
        cell = checks.cell("model.cell", cfg.cell)
        self.cfg, h = cfg, cfg.hidden_size
        # ids -> ids, training only; `singletons` (V,) bool: the words seen once in training
        self.word_dropout = WordDropout(cfg.word_dropout, unk_id, pad_id, cfg.singleton_dropout, singletons)
        self.words = nn.Embedding(num_words, cfg.embed_size, padding_idx=pad_id)
        self.chars = CharCNN(num_chars, cfg.char_dim, cfg.char_filters, cfg.char_width)
        # layers built one by one so layer 1's forward half (the causal states) is reachable
        sizes = [cfg.embed_size + cfg.char_filters] + [2 * h] * (cfg.num_layers - 1)
        layer = RecurrentConfig(cell, h, bidirectional=True)  # h per direction: each layer outputs 2h
        self.encoder = nn.ModuleList(build_recurrent(layer, n) for n in sizes)
        self.drop = nn.Dropout(cfg.dropout)
        # built only when used, so bundles saved without it load unchanged
        self.attention = AttentionPool(2 * h, h) if cfg.attention_pool else None
        self.intent_head = nn.Linear((6 if cfg.attention_pool else 4) * h, num_intents)
        self.causal_head = nn.Linear(h, num_intents)
        self.slot_head = nn.Linear(2 * h, len(tags))
        self.crf = CRF(len(tags), *bio_constraints(tags)) if cfg.crf else None

    def forward(self, words: torch.Tensor, chars: torch.Tensor, lengths: torch.Tensor, *,
                drop_words: bool = True) -> dict[str, torch.Tensor]:
        """words (B, T), chars (B, T, L), lengths (B,) -> intent (B, I), steps (B, T, I), slots (B, T, K).
        drop_words=False: the caller has applied word dropout already (JointEnsemble)."""
        h = self.cfg.hidden_size
        if drop_words:
            words = self.word_dropout(words)
        x = self.drop(torch.cat([self.words(words), self.chars(chars)], dim=-1))  # (B, T, E+F)
        causal = None
        for layer in self.encoder:
            x, state = layer(x, lengths=lengths)  # (B, T, 2H); state h_n (2, B, H) or (h_n, c_n)
            if causal is None:
                causal = x[..., :h]  # (B, T, H) forward direction of layer 1: has read words 1..t
            x = self.drop(x)
        h_n = hidden(state)  # (2, B, H): forward, backward
        parts = [h_n[0], h_n[1], max_pool(x, lengths)]  # (B, H), (B, H), (B, 2H)
        if self.attention is not None:
            parts.append(self.attention(x, lengths))  # (B, 2H)
        sentence = torch.cat(parts, dim=-1)  # (B, 4H), or (B, 6H) with attention pooling
        return {"intent": self.intent_head(self.drop(sentence)),  # (B, I)
                "steps": self.causal_head(self.drop(causal)),  # (B, T, I)
                "slots": self.slot_head(x)}  # (B, T, K)

    def crf_scores(self) -> tuple[torch.Tensor, ...] | None:
        """The CRF's transitions (K, K), start and end (K,) scores, constraints included (CRF.scores); None without."""
        return None if self.crf is None else self.crf.scores()

    def decode_slots(self, emissions: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
        return decode_tags(self.crf_scores(), emissions, lengths)


class _JointOutputs(nn.Module):
    """A JointModel (or ensemble) called as exported: (words, chars, lengths) -> (intent, steps, slots), and with a
    CRF its scores (transitions, start, end: the same in every call, for the Viterbi search outside the graph)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, words: torch.Tensor, chars: torch.Tensor, lengths: torch.Tensor):
        out = self.model(words, chars, lengths)
        crf = self.model.crf_scores() or ()  # detached: a score may be a parameter itself (end)
        return out["intent"], out["steps"], out["slots"], *(score.detach() for score in crf)


class JointEnsemble(nn.Module):
    """K JointModels (a deep ensemble, Lakshminarayanan et al. 2017) read the same sentence as one model.

    Combined outputs, in the shapes JointModel gives, so evaluation, prediction and serving need no
    special case:
        intent (B, I), steps (B, T, I): log of the MEAN of the members' probabilities
                                        (softmax of it is that mean; argmax is the averaged vote)
        slots (B, T, K):                the mean of the members' emission scores, decoded under the mean of
                                        their CRF parameters. A CRF path score is linear in emissions and
                                        transitions, so this Viterbi path maximises the members' mean score.
    `members` (the K outputs) is returned too: training trains each member on its own loss.
    Members come from training with model.members = K, or from K separately trained bundles joined by
    `rnnlab ensemble` (rnnlab.ensemble), which is how benchmarks/snips.py uses both CPU cores.
    """

    def __init__(self, members: list[JointModel]):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.cfg = members[0].cfg

    def forward(self, words: torch.Tensor, chars: torch.Tensor, lengths: torch.Tensor) -> dict[str, Any]:
        # one word-dropout draw for all members (training only): they read the same corrupted sentence
        words = self.members[0].word_dropout(words)
        outs = [m(words, chars, lengths, drop_words=False) for m in self.members]
        log_k = math.log(len(outs))

        def mean_prob(key: str) -> torch.Tensor:  # log of the mean probability, (B, [T,] I)
            return torch.stack([o[key].float().log_softmax(-1) for o in outs]).logsumexp(0) - log_k

        return {"intent": mean_prob("intent"), "steps": mean_prob("steps"),
                "slots": torch.stack([o["slots"].float() for o in outs]).mean(0), "members": outs}

    @property
    def crf(self) -> CRF | None:
        """One CRF whose transition, start and end scores are the members' means (no gradient; built on
        each read, so it always follows the members' current weights)."""
        if self.members[0].crf is None:
            return None
        mean = copy.deepcopy(self.members[0].crf)
        with torch.no_grad():
            for name in ("transitions", "start", "end"):
                getattr(mean, name).copy_(torch.stack([getattr(m.crf, name) for m in self.members]).mean(0))
        return mean

    def crf_scores(self) -> tuple[torch.Tensor, ...] | None:
        """`crf`'s scores (CRF.scores), computed from the members' parameters as `crf` computes them (so that an
        export's graph holds them, not a copy made at trace time); None without a CRF."""
        first = self.members[0].crf
        if first is None:
            return None
        trans, start, end = (torch.stack([getattr(m.crf, name) for m in self.members]).mean(0)
                             for name in ("transitions", "start", "end"))
        return trans + first.transition_mask, start + first.start_mask, end

    def decode_slots(self, emissions: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
        return decode_tags(self.crf_scores(), emissions, lengths)


class JointTask(Task):
    name = "intent_slots"
    DataConfig = JointData
    ModelConfig = JointModelConfig
    metric = "exact_match"  # sentence-level: intent and every slot right ("overall accuracy" in the papers)
    metric_mode = "max"
    # the names the intent and LM tasks use; configs saved before the renaming still load (rnnlab.config)
    RENAMED = {"model.word_dim": "model.embed_size", "model.hidden": "model.hidden_size",
               "model.layers": "model.num_layers", "model.min_count": "data.min_count"}

    def __init__(self, data: JointData, model: JointModelConfig):
        super().__init__(data, model)
        # here, not in build_model: a hand-edited bundle config then fails as it loads, in one line
        checks.cell("model.cell", model.cell)
        checks.model_keys(model, sizes=("embed_size", "char_dim", "char_filters", "char_width", "max_word_chars",
                                        "hidden_size", "num_layers", "members"),
                          rates=("dropout", "word_dropout", "singleton_dropout", "intent_smoothing"), engine=False)
        checks.weight("model.causal_weight", model.causal_weight)
        checks.whole("data.min_count", data.min_count, 0)
        self.words = self.chars = self.intents = self.tags = None
        self._singletons: torch.Tensor | None = None  # (V,) bool: word ids seen once in train (fit)
        self._unseen: dict[str, int] = {}  # evaluation tags absent from training -> ids past the tag vocab

    # ---- data -------------------------------------------------------------------------------

    def splits(self) -> list[str]:
        return [s for s in ("train", "valid", "test") if getattr(self.data, s)]

    def read(self, split: str) -> list[Utterance]:
        path = getattr(self.data, split, "") if split in ("train", "valid", "test") else ""
        if not path:
            raise UserError(f"no data path for split {split!r}: set data.{split} in the config")
        return read_utterances(resolve_path(path))

    def _norm(self, token: str) -> str:
        return token.lower() if self.data.lowercase else token

    def fit(self, train: list[Utterance]) -> None:
        words = [self._norm(t) for u in train for t in u.tokens]  # every training token, normalised once
        counts = Counter(words)
        self.words = Vocab.from_counts(counts, min_count=self.data.min_count)
        self._singletons = torch.tensor([counts[w] == 1 for w in self.words.itos])  # specials: count 0
        self.chars = Vocab.build(words)  # each word is a sequence of characters
        self.intents = Vocab(sorted({u.intent for u in train}), pad=None, unk=None)
        types = sorted({t[2:] for u in train for t in (u.tags or ()) if t != "O"})
        self.tags = Vocab(["O"] + [f"{p}-{x}" for x in types for p in "BI"], pad=None, unk=None)

    def _tokens(self, tokens) -> dict[str, Any]:
        norm = [self._norm(t) for t in tokens]
        return {"words": self.words.encode(norm),
                "chars": [self.chars.encode(t[:self.model_config.max_word_chars]) for t in norm]}

    def encode(self, u: Utterance) -> dict[str, Any]:
        f = self._tokens(u.tokens)
        f["intent"] = self.intents.stoi.get(u.intent, -1)  # -1: an intent training never saw (always wrong)
        if u.tags is None:
            f["tags"] = None
        else:
            f["tags"] = [self.tags.stoi[t] if t in self.tags.stoi else
                         len(self.tags) + self._unseen.setdefault(t, len(self._unseen)) for t in u.tags]
        return f

    def length(self, f: dict[str, Any]) -> int:
        return len(f["words"])

    def collate(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        t = max(len(f["words"]) for f in features)
        length = max(len(c) for f in features for c in f["chars"])
        pad_word = [0] * length
        # padded as Python lists, then one tensor each: a copy per word was ~6 % of a SNIPS training step
        words = [list(f["words"]) + [0] * (t - len(f["words"])) for f in features]  # (B, T)
        chars = [[list(c) + [0] * (length - len(c)) for c in f["chars"]] + [pad_word] * (t - len(f["chars"]))
                 for f in features]  # (B, T, L)
        tags = [list(f["tags"]) + [0] * (t - len(f["tags"])) if f.get("tags") is not None else [0] * t
                for f in features]  # (B, T)
        return {"words": torch.tensor(words, dtype=torch.long), "chars": torch.tensor(chars, dtype=torch.long),
                "lengths": torch.tensor([len(f["words"]) for f in features]),
                "intent": torch.tensor([f.get("intent", -1) for f in features]),
                "tags": torch.tensor(tags, dtype=torch.long),
                "has_tags": torch.tensor([f.get("tags") is not None for f in features], dtype=torch.bool)}

    # ---- model ------------------------------------------------------------------------------

    def build_model(self) -> JointModel | JointEnsemble:
        cfg = self.model_config  # checked by the constructor
        models = [JointModel(cfg, len(self.words), len(self.chars), len(self.intents), self.tags.itos,
                             self.words.pad_id, self.words.unk_id, self._singletons)
                  for _ in range(cfg.members)]  # built one after another: each member its own initial weights
        return models[0] if cfg.members == 1 else JointEnsemble(models)

    def _losses(self, model, batch, out) -> torch.Tensor:
        """Per-sentence loss (B,): intent CE + slot NLL (summed over tokens) + causal per-step CE (mean)."""
        core = unwrap(model)
        lengths, intent = batch["lengths"], batch["intent"]
        known = intent >= 0
        target = intent.clamp(min=0)
        cfg = self.model_config
        smooth = cfg.intent_smoothing if core.training else 0.0  # evaluation reports the plain loss
        loss = F.cross_entropy(out["intent"].float(), target, reduction="none", label_smoothing=smooth) * known
        mask = length_mask(lengths, out["slots"].shape[1]).float()  # (B, T)
        steps = F.cross_entropy(out["steps"].float().transpose(1, 2), target[:, None].expand_as(mask),
                                reduction="none", label_smoothing=smooth)  # (B, T)
        loss = loss + cfg.causal_weight * (steps * mask).sum(1) / lengths * known
        # slots: only sentences with tags, all of them known to the tag vocabulary
        usable = batch["has_tags"] & (batch["tags"] < len(self.tags)).all(1)
        tags = batch["tags"].clamp(max=len(self.tags) - 1)
        crf = core.crf  # read once: an ensemble builds its mean CRF on each read
        if crf is not None:
            slot = crf.nll(out["slots"], tags, lengths)
        else:
            slot = (F.cross_entropy(out["slots"].float().transpose(1, 2), tags, reduction="none") * mask).sum(1)
        return loss + slot * usable

    def loss(self, model, batch, carry=None) -> LossOutput:
        out = model(batch["words"], batch["chars"], batch["lengths"])  # word dropout inside, in training
        n = len(batch["words"])
        if "members" in out and model.training:  # an ensemble trains each member on its own loss
            total = sum(self._losses(m, batch, o).sum() for m, o in zip(unwrap(model).members, out["members"]))
            return LossOutput(total, n)
        return LossOutput(self._losses(model, batch, out).sum(), n)

    @torch.no_grad()
    def evaluate(self, model, batches) -> dict[str, float]:
        core = unwrap(model)
        names = self.tags.itos + list(self._unseen)
        total_loss, n, intent_right, exact = 0.0, 0, 0, 0
        intent_nll, n_known = 0.0, 0
        gold_tags, pred_tags = [], []
        for batch in batches:
            out = core(batch["words"], batch["chars"], batch["lengths"])
            total_loss += self._losses(core, batch, out).sum().item()
            known = batch["intent"] >= 0
            # intent NLL: a continuous intent figure that still moves when accuracy has saturated
            intent_nll += F.cross_entropy(out["intent"].float()[known], batch["intent"][known],
                                          reduction="sum").item()
            n_known += int(known.sum())
            intents = out["intent"].argmax(-1)
            paths = core.decode_slots(out["slots"], batch["lengths"])
            for i, path in enumerate(paths):
                n += 1
                ok_intent = intents[i].item() == batch["intent"][i].item()
                intent_right += ok_intent
                if batch["has_tags"][i]:
                    gold = [names[j] for j in batch["tags"][i, :len(path)].tolist()]
                    pred = [names[j] for j in path]
                    gold_tags.append(gold)
                    pred_tags.append(pred)
                    exact += ok_intent and gold == pred
                else:
                    exact += ok_intent
        metrics = {"loss": total_loss / max(n, 1), "intent_accuracy": intent_right / max(n, 1),
                   "exact_match": exact / max(n, 1)}
        if n_known:
            metrics["intent_nll"] = intent_nll / n_known
        if gold_tags:
            metrics["slot_f1"] = chunk_f1(gold_tags, pred_tags)  # seqeval default: conlleval's, the papers' figure
            metrics["slot_f1_strict"] = chunk_f1(gold_tags, pred_tags, strict=True)
        return metrics

    # ---- user input -------------------------------------------------------------------------

    @torch.no_grad()
    def predict(self, model, inputs: list[str]) -> list[dict[str, Any]]:
        core = unwrap(model)
        texts, tokens, batch = self._batch(inputs)
        if not texts:
            return []  # no inputs, no batch to build
        with eval_mode(core):
            out = core(batch["words"], batch["chars"], batch["lengths"])
        return self._predictions(texts, tokens, batch["lengths"], out["intent"], out["steps"], out["slots"],
                                 core.crf_scores())

    def predict_graphs(self, graphs: dict[str, Any], inputs: list[str]) -> list[dict[str, Any]]:
        """`predict` from the export graph ("model": words, chars, lengths -> intent, steps, slots, and with a CRF
        its transitions, start and end scores, which the Viterbi search here reads): the same answers."""
        texts, tokens, batch = self._batch(inputs)
        if not texts:
            return []
        intent, steps, slots, *crf = graphs["model"](batch["words"], batch["chars"], batch["lengths"])
        if self.model_config.crf and not crf:
            raise UserError("this export's graph gives no CRF scores for the slots' Viterbi search (it was written "
                            "by an older rnnlab): export the bundle again")
        return self._predictions(texts, tokens, batch["lengths"], intent, steps, slots, tuple(crf) or None)

    def _batch(self, inputs: list[str]) -> tuple[list[str], list[list[str]], dict[str, torch.Tensor] | None]:
        """The texts, their whitespace tokens and their collated batch (None for no texts)."""
        texts = [str(t) for t in inputs]
        if not texts:
            return [], [], None
        for t in texts:
            if not t.split():
                raise UserError("empty input: give a sentence to predict")
        tokens = [t.split() for t in texts]
        return texts, tokens, self.collate([self._tokens(ts) for ts in tokens])

    def _predictions(self, texts: list[str], tokens: list[list[str]], lengths: torch.Tensor, intent: torch.Tensor,
                     steps: torch.Tensor, slots: torch.Tensor,
                     crf: tuple[torch.Tensor, ...] | None) -> list[dict[str, Any]]:
        """The schema's dicts from the network's outputs (intent (B, I), steps (B, T, I), slot scores (B, T, K))
        and the CRF's scores (CRF.scores; None: each token's best tag)."""
        probs = intent.float().softmax(-1)  # (B, I)
        steps = steps.float().softmax(-1)  # (B, T, I)
        paths = decode_tags(crf, slots, lengths)
        names, results = self.intents.itos, []
        for i, (text, toks, path) in enumerate(zip(texts, tokens, paths)):
            tags = self.tags.decode(path)
            ranking = labels(names, probs[i])
            results.append({"task": self.name, "text": text, "tokens": toks,
                            "unknown": [self._norm(tok) not in self.words for tok in toks],
                            "answer": ranking[0], "answer_kind": "intent", "ranking": ranking,
                            "steps": [{"token": tok, "tag": tags[t], "ranking": labels(names, steps[i, t])}
                                      for t, tok in enumerate(toks)],
                            "spans": chunks(toks, tags)})
        return results

    @torch.no_grad()
    def trace(self, model, input: str) -> dict[str, Any]:
        """`predict`'s output plus every encoder layer's states and gates per step, recorded by the glass
        engine (same weights; see rnnlab.explain.trace_layers for the layout). Layer 0's forward
        direction is what the per-token intents (`steps`) are read from. For an ensemble, the states
        shown are its first member's (the predictions are the whole ensemble's)."""
        core = unwrap(model)
        [pred] = self.predict(model, [input])
        if isinstance(core, JointEnsemble):
            core = core.members[0]
        f = self.collate([self._tokens(pred["tokens"])])
        layers = []
        with eval_mode(core):
            x = torch.cat([core.words(f["words"]), core.chars(f["chars"])], dim=-1)  # (1, T, E+F), no dropout
            for i, layer in enumerate(core.encoder):
                traced = layer.trace(x, lengths=f["lengths"])
                layers += [{**item, "layer": i} for item in trace_layers(traced)]
                x = traced["output"]  # (1, T, 2H): the next layer's input
        return {**pred, "cell": core.cfg.cell, "layers": layers}

    # ---- export ---------------------------------------------------------------------------------

    def export_graph(self, model: nn.Module) -> ExportGraph:
        """Word ids, their characters' ids and lengths in; the intent logits, the intent after each word and the
        slot tags' scores per word out (an ensemble's members averaged inside, as `predict` averages them), and
        with a CRF its transition, start and end scores. The tags' decoding (argmax, or the CRF's Viterbi path
        over these emissions under those scores) stays outside the graph."""
        return ExportGraph(_JointOutputs(model), inputs=(
            ExportTensor("words", "int64", ("batch", "time"), "word ids (vocab.words), padded with 0"),
            ExportTensor("chars", "int64", ("batch", "time", "chars"), "character ids per word (vocab.chars)"),
            ExportTensor("lengths", "int64", ("batch",), "words per sentence, 1..time"),
        ), outputs=(
            ExportTensor("intent", "float32", ("batch", "intents"), "intent scores (vocab.intents)"),
            ExportTensor("steps", "float32", ("batch", "time", "intents"), "intent scores after each word"),
            ExportTensor("slots", "float32", ("batch", "time", "tags"), "slot tag scores per word (vocab.tags)"),
            *(self._crf_outputs() if self.model_config.crf else ()),
        ))

    @staticmethod
    def _crf_outputs() -> tuple[ExportTensor, ...]:
        """The CRF's scores, as CRF.scores() gives them (the same in every call; constraints' penalties included)."""
        return (ExportTensor("transitions", "float32", ("tags", "tags"),
                             "CRF score of tag j after tag i [i, j], for the Viterbi search over the slot scores"),
                ExportTensor("start", "float32", ("tags",), "CRF score of each tag first"),
                ExportTensor("end", "float32", ("tags",), "CRF score of each tag last"))

    def export_example(self, model: nn.Module, batch_size: int, length: int, seed: int = 0) -> dict[str, torch.Tensor]:
        """Sentences of training words (and unknown ones), the first `length` words, encoded as `collate` does."""
        g = torch.Generator().manual_seed(seed)
        words = self.words.itos
        sizes = torch.randint(1, length + 1, (batch_size,), generator=g).tolist()
        sizes[0] = length
        picks = [torch.randint(len(words), (n,), generator=g).tolist() for n in sizes]
        batch = self.collate([self._tokens([words[i] for i in p]) for p in picks])
        return {k: batch[k] for k in ("words", "chars", "lengths")}

    # ---- bundles ----------------------------------------------------------------------------

    def state_to_json(self) -> dict[str, Any]:
        return {"vocab.words": self.words.to_json(), "vocab.chars": self.chars.to_json(),
                "vocab.intents": self.intents.to_json(), "vocab.tags": self.tags.to_json()}

    def state_from_json(self, state: dict[str, Any]) -> None:
        for key in ("vocab.words", "vocab.chars", "vocab.intents", "vocab.tags"):
            if key not in state:
                raise ValueError(f"missing {key}")
        self.words, self.chars = Vocab.from_json(state["vocab.words"]), Vocab.from_json(state["vocab.chars"])
        self.intents, self.tags = Vocab.from_json(state["vocab.intents"]), Vocab.from_json(state["vocab.tags"])
        if self.words.unk is None or self.chars.unk is None:
            raise ValueError("word and char vocabularies need an unknown token")
