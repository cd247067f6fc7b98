"""Machine translation, sequence to sequence with attention (issue #15): read a source sentence with a
bidirectional encoder, write its translation piece by piece with an attentional decoder.

    source ids (B, S) -> embed (B, S, E) -> bidirectional Recurrent, H per direction -> h̄ (B, S, 2H)
                                                                      `-> top layer's final (B, 2H) -> bridge
    AttentionDecoder (Luong et al. 2015, input feeding): y_{t-1}, h̄ -> log p(y_t | y_<t, x) (B, V)

The pieces are the shared ones: rnnlab.modules.encoder_decoder (TextEncoder, the encoder contract and
EncoderDecoder over modules.decoder's AttentionDecoder) and rnnlab.decoding.seq2seq (length limits, greedy / beam
search, the output's fields, the teacher-forced alternatives). This file holds the configs, the data, and the
text: tokenisers, detokenising, the metrics. `predict` (the PyTorch model) and `predict_graphs` (the export's
"encoder" and "decoder_step" graphs, in onnxruntime) share the tokenising, the search and the formatting: only
the start and the step the search is given differ.

Training is teacher forcing: the decoder reads <s> y_1 .. y_{T-1} and is scored on y_1 .. y_T </s>; the loss is
the summed token cross-entropy (count = target tokens, </s> included), label smoothing optional.
Evaluation reports the token loss and perplexity of the split and, from batched greedy decoding, sacreBLEU's
corpus BLEU (cased and lowercased) and chrF of the detokenised output against the raw references
(rnnlab.metrics.translation). The references travel with each batch as UTF-8 bytes (a (B, L) uint8 tensor), so
`evaluate` needs nothing but its batches, as the Task interface has it.

Data: rnnlab.readers.parallel (two line-aligned files per split, or one TSV / JSONL file per split).
Tokenisers: rnnlab.readers.tokenize (sentencepiece subwords or words), one per side, learned from the training
split alone and saved in the bundle as JSON. Training pairs longer than data.max_len pieces on either side are
left out of the training batches (as fairseq skips them); every pair is scored in evaluation.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab import checks
from rnnlab.cells import FAMILIES
from rnnlab.decoding.search import Hypothesis, StepFn
from rnnlab.decoding.seq2seq import alternatives, output_fields, search, strip_eos, teacher_forced
from rnnlab.errors import BundleError, UserError
from rnnlab.explain import eval_mode, trace_layers
from rnnlab.metrics.translation import corpus_scores
from rnnlab.modules.attention import ATTENTION_KINDS
from rnnlab.modules.decoder import AttentionDecoder, DecoderState, Memory
from rnnlab.modules.encoder_decoder import EncoderDecoder, TextEncoder
from rnnlab.readers.lines import check_line
from rnnlab.readers.parallel import SentencePair, read_parallel
from rnnlab.readers.tokenize import (
    MODEL_TYPES,
    TOKENIZERS,
    SubwordTokenizer,
    WordTokenizer,
    tokenizer_from_json,
)
from rnnlab.tasks.base import (
    ExportGraph,
    ExportTensor,
    LossOutput,
    Option,
    Task,
    bucket_batches,
    bytes_text,
    check_beam,
    export_token_batch,
    text_bytes,
)

SPLITS = ("train", "valid", "test")


@dataclass
class TranslateData:
    """Where the sentence pairs are, and how they are cut into pieces. Paths: rnnlab.readers.paths.

    Each split is either two line-aligned files (`<split>_source`, `<split>_target`) or one `.tsv` / `.jsonl`
    file (`<split>`); a split with neither is not configured (train is required)."""

    train_source: str = ""
    train_target: str = ""
    valid_source: str = ""
    valid_target: str = ""
    test_source: str = ""
    test_target: str = ""
    train: str = ""  # one TSV (source<TAB>target) or JSONL ({"source", "target"}) file instead of the pair
    valid: str = ""
    test: str = ""
    tokenizer: str = "subword"  # "subword" (sentencepiece) | "word" (words and punctuation)
    subword_type: str = "unigram"  # "unigram" | "bpe" (subword only)
    source_vocab_size: int = 8000  # pieces per side, the 4 specials included (word: the most frequent)
    target_vocab_size: int = 6000
    lowercase: bool = False  # lowercase both sides before tokenising (the output is then lowercase)
    max_len: int = 100  # training pairs with more pieces than this on either side are not trained on


@dataclass
class TranslateModelConfig:
    cell: str = "gru"  # rnn_tanh | rnn_relu | lstm | gru ("rnn" = rnn_tanh)
    embed_size: int = 256
    hidden_size: int = 128  # per direction of the bidirectional encoder, as in every task (memory: 2 * hidden_size)
    decoder_size: int = 0  # the decoder's units; 0 = 2 * hidden_size, the memory's width (dot attention needs it)
    num_layers: int = 1  # encoder and decoder each
    dropout: float = 0.2  # on embeddings, between layers, on the attentional vector
    attention: str = "general"  # "general" | "additive" | "dot"
    label_smoothing: float = 0.0  # training loss only; evaluation reports the plain cross-entropy
    beam: int = 5  # beam width of predict / translate (1 = greedy; evaluate decodes greedily, for speed)
    length_penalty: float = 0.0  # GNMT alpha in beam search (0 = none)
    max_len_a: float = 1.5  # output length limit, eos included: a * source pieces + b
    max_len_b: int = 10
    engine: str = "auto"  # the encoder's engine: "auto" | "fused" (torch kernels) | "glass" | "native"


PIECES_PER_PAIR = 2  # a subword vocabulary has at most this many pieces per training pair (subword_vocab_size)


def subword_vocab_size(configured: int, n_pairs: int) -> int:
    """The subword vocabulary learned from n_pairs training pairs: the config's size, or at most
    PIECES_PER_PAIR * n_pairs pieces (never under 5, the specials and one). A shipped vocabulary of 8,000
    pieces cannot be learned from a few hundred sentences at all (sentencepiece refuses: about 1,000 is the
    most 300 Multi30k sentences allow), and even where it can, most pieces would then be whole rare words
    seen once, which a model trained on so few pairs never learns to use. Multi30k's 29,000 pairs keep
    the config's 8,000 / 6,000 (the rule only lowers it); 300 pairs get 600 pieces a side."""
    return min(configured, max(5, PIECES_PER_PAIR * n_pairs))


ALTERNATIVES = 5  # pieces shown per output piece in a trace (`alternatives`): what else the decoder considered


def _state_names(model: "TranslateModel") -> list[str]:
    return list(model.decoder.rnn.family.state_names)  # ["h"] or ["h", "c"]


def _has_projected(model: "TranslateModel") -> bool:
    """Does the decoder's attention precompute a key projection (additive), a memory part to carry?"""
    return model.decoder.attention.project_keys(torch.zeros(1, 1, model.decoder.memory_size)) is not None


class _Start(nn.Module):
    """The encoder graph: (source, source_lengths) -> (keys, mask[, projected], h_0[, c_0], feed_0)."""

    def __init__(self, model: "TranslateModel", parts: list[str], projected: bool):
        super().__init__()
        self.model, self.projected = model, projected

    def forward(self, source: torch.Tensor, source_lengths: torch.Tensor):
        state, memory, _ = self.model.start({"source": source, "source_lengths": source_lengths})
        family = self.model.decoder.rnn.family
        extra = (memory.projected,) if self.projected else ()
        return (memory.keys, memory.mask, *extra, *family.state_parts(state[0]), state[1])


class _Step(nn.Module):
    """The decoder step graph: (y_prev, h[, c], feed, keys, mask[, projected]) -> (log_probs, h[, c], feed,
    attention): AttentionDecoder.step with its state and memory as flat tensors."""

    def __init__(self, model: "TranslateModel", parts: list[str], projected: bool):
        super().__init__()
        self.model, self.arity, self.projected = model, len(parts), projected

    def forward(self, y_prev: torch.Tensor, *tensors: torch.Tensor):
        family = self.model.decoder.rnn.family
        rnn = family.state_from_parts(tensors[: self.arity])
        feed, keys, mask = tensors[self.arity: self.arity + 3]
        memory = Memory(keys, mask, tensors[self.arity + 3] if self.projected else None)
        log_probs, state, weights = self.model.decoder.step(y_prev, DecoderState(rnn, feed), memory)
        return (log_probs, *family.state_parts(state[0]), state[1], weights)


class TranslateModel(EncoderDecoder):
    """Source embedding -> bidirectional Recurrent (TextEncoder) -> AttentionDecoder (bridged from the top
    layer's final h). The model reads {"source" (B, S), "source_lengths" (B,)}: `forward(inputs, targets_in)`.

    Parameters are created in the order they always were (source embedding, encoder recurrence, decoder), so a
    seeded build draws the same weights. Their names moved when the encoder became a TextEncoder
    (embed.* -> encoder.embed.*, encoder.* -> encoder.rnn.*); state dicts saved under the old names (bundles,
    checkpoints) are renamed on load by `_legacy_keys`."""

    def __init__(self, source_vocab: int, target_vocab: int, cfg: TranslateModelConfig, pad_id: int):
        encoder = TextEncoder(source_vocab, cfg.embed_size, cfg.hidden_size, num_layers=cfg.num_layers,
                              cell=cfg.cell, dropout=cfg.dropout, padding_idx=pad_id, engine=cfg.engine)
        decoder = AttentionDecoder(target_vocab, cfg.embed_size, cfg.decoder_size or encoder.memory_size,
                                   encoder.memory_size,
                                   final_size=encoder.final_size, num_layers=cfg.num_layers, cell=cfg.cell,
                                   attention=cfg.attention, dropout=cfg.dropout, padding_idx=pad_id)
        super().__init__(encoder, decoder)
        self.register_load_state_dict_pre_hook(_legacy_keys)


def _legacy_keys(module: nn.Module, state_dict: dict[str, Any], prefix: str, *args) -> None:
    """A state dict of the model before the TextEncoder (`embed.*` for the source embedding, `encoder.*` for the
    recurrence) -> today's names, in place. One with `embed.weight` is of the old layout; others pass as they are."""
    if prefix + "embed.weight" not in state_dict:
        return
    for key in list(state_dict):
        if key.startswith(prefix + "embed."):
            state_dict[prefix + "encoder." + key[len(prefix):]] = state_dict.pop(key)
        elif key.startswith(prefix + "encoder."):
            state_dict[prefix + "encoder.rnn." + key[len(prefix + "encoder."):]] = state_dict.pop(key)


def _inputs(batch: dict[str, torch.Tensor], device: torch.device | None = None) -> dict[str, torch.Tensor]:
    """What the model's encoder reads from a batch: the source ids (to `device`, if given) and their lengths."""
    source = batch["source"] if device is None else batch["source"].to(device)
    return {"source": source, "source_lengths": batch["source_lengths"]}


def _graph_step(graph: Any) -> StepFn:
    """The export's decoder_step graph ((y_prev, h[, c], feed, keys, mask[, projected]) -> (log_probs, h[, c], feed,
    attention)) as a search step function: step(y_prev, state (h[, c], feed), Memory) -> (log_probs, state, weights)."""

    def step(y_prev: torch.Tensor, state: tuple[torch.Tensor, ...], memory: Memory):
        extra = () if memory.projected is None else (memory.projected,)
        log_probs, *state, weights = graph(y_prev, *state, memory.keys, memory.mask, *extra)
        return log_probs, tuple(state), weights

    return step


class TranslateTask(Task):
    """Sequence to sequence with attention: a bidirectional encoder, an attentional decoder, greedy / beam search."""

    name = "translate"
    DataConfig = TranslateData
    ModelConfig = TranslateModelConfig
    metric = "bleu_lowercase"
    metric_mode = "max"
    RENAMED = {"model.beam_size": "model.beam"}  # one name for the beam width in every task
    input_kind = "text"
    options = (Option("beam", int, "beam width (1 = greedy); default: the bundle's model.beam", minimum=1),
               Option("attention", bool, "add target_tokens, the attention matrix and each step's alternatives"))

    @classmethod
    def migrate_saved_config(cls, raw: dict[str, Any]) -> dict[str, Any]:
        """hidden_size was the decoder's size, the encoder having half of it per direction; it is now per
        direction, as in every task, with the decoder's own size in decoder_size. A config saved before
        (no decoder_size) is rewritten so it builds the model it was trained as."""
        model = raw.get("model")
        if not isinstance(model, dict) or "decoder_size" in model or not isinstance(model.get("hidden_size"), int):
            return raw
        return {**raw, "model": {**model, "hidden_size": model["hidden_size"] // 2,
                                 "decoder_size": model["hidden_size"]}}

    @classmethod
    def ignored_keys(cls, data: TranslateData, model: TranslateModelConfig) -> dict[str, str]:
        if data.tokenizer == "word":
            return {"data.subword_type": 'data.tokenizer = "word" learns no subwords'}
        return {}

    def __init__(self, data: TranslateData, model: TranslateModelConfig):
        super().__init__(data, model)
        self.cell = checks.cell("model.cell", model.cell)
        checks.model_keys(model, sizes=("embed_size", "hidden_size", "num_layers", "beam"),
                          rates=("dropout", "label_smoothing"))
        checks.whole("model.decoder_size", model.decoder_size, 0)
        checks.one_of("model.attention", model.attention, ATTENTION_KINDS)
        if model.attention == "dot" and model.decoder_size not in (0, 2 * model.hidden_size):
            raise UserError(f"model.attention = \"dot\" compares the decoder's state with the memory: decoder_size "
                            f"must be 2 * hidden_size ({2 * model.hidden_size}) or 0, got {model.decoder_size}")
        checks.weight("model.length_penalty", model.length_penalty)
        checks.weight("model.max_len_a", model.max_len_a)
        checks.whole("model.max_len_b", model.max_len_b, 0)
        checks.one_of("data.tokenizer", data.tokenizer, tuple(TOKENIZERS))
        checks.one_of("data.subword_type", data.subword_type, MODEL_TYPES)
        checks.whole("data.source_vocab_size", data.source_vocab_size, 5)
        checks.whole("data.target_vocab_size", data.target_vocab_size, 5)
        checks.whole("data.max_len", data.max_len)
        for split in SPLITS:
            single, pair = getattr(data, split), (getattr(data, f"{split}_source"), getattr(data, f"{split}_target"))
            if single and any(pair):
                raise UserError(f"data.{split} and data.{split}_source/_target both given: give one file "
                                f"(TSV or JSONL) or two line-aligned files, not both")
            if bool(pair[0]) != bool(pair[1]):
                missing = f"{split}_target" if pair[0] else f"{split}_source"
                raise UserError(f"data.{missing} is missing: two line-aligned files need both sides")
        if not (data.train or data.train_source):
            raise UserError("no training data: set data.train_source and data.train_target (line-aligned files) "
                            "or data.train (one TSV or JSONL file)")
        self.source: SubwordTokenizer | WordTokenizer | None = None
        self.target: SubwordTokenizer | WordTokenizer | None = None

    # ---- data -------------------------------------------------------------------------------

    def splits(self) -> list[str]:
        return [s for s in SPLITS if getattr(self.data, s) or getattr(self.data, f"{s}_source")]

    def read(self, split: str) -> list[SentencePair]:
        if split not in self.splits():
            raise UserError(f"split {split!r} is not configured (this config has: {', '.join(self.splits())})")
        single = getattr(self.data, split)
        if single:
            return read_parallel(single)
        return read_parallel(getattr(self.data, f"{split}_source"), getattr(self.data, f"{split}_target"))

    def read_file(self, split: str, path: str) -> list[SentencePair]:
        """`rnnlab evaluate --data FILE`: one TSV or JSONL file of pairs, scored as `split`."""
        if split not in SPLITS:
            raise UserError(f"--data: task {self.name!r} has splits {', '.join(SPLITS)}, not {split!r}")
        self.data = dataclasses.replace(self.data, **{split: path, f"{split}_source": "", f"{split}_target": ""})
        return self.read(split)

    def _train_tokenizer(self, texts: list[str], vocab_size: int):
        if self.data.tokenizer == "word":
            return WordTokenizer.train(texts, vocab_size, lowercase=self.data.lowercase)
        # a ceiling: still too many for the text (very short sentences) gives as many pieces as it can make
        return SubwordTokenizer.train(texts, vocab_size, model_type=self.data.subword_type,
                                      lowercase=self.data.lowercase, hard_limit=False)

    def fit(self, train_examples: list[SentencePair]) -> None:
        """The two tokenisers, from the training pairs alone. Subword vocabularies are sized for the data
        (`subword_vocab_size`): the size actually learned is written back to data.source_vocab_size /
        target_vocab_size, so the run's config.json (and its bundle) records it."""
        n = len(train_examples)
        for side in ("source", "target"):
            key = f"{side}_vocab_size"
            size = getattr(self.data, key)
            if self.data.tokenizer == "subword":
                size = subword_vocab_size(size, n)
            tokenizer = self._train_tokenizer([getattr(e, side) for e in train_examples], size)
            setattr(self, side, tokenizer)
            if self.data.tokenizer == "subword":
                setattr(self.data, key, len(tokenizer))

    def _source_ids(self, text: str) -> list[int]:
        return self.source.ids(text) or [self.source.unk_id]  # a source normalising to nothing: one <unk>

    def encode(self, example: SentencePair) -> dict[str, Any]:
        target = self.target.ids(example.target)
        return {"src": self._source_ids(example.source), "tgt": target, "ref": example.target}

    def length(self, features: dict[str, Any]) -> int:
        return max(len(features["src"]), len(features.get("tgt", ())) + 1)

    def batches(self, features: list[dict[str, Any]], batch_size: int, *, shuffle: bool, seed: int = 0,
                epoch: int = 0) -> list[list[int]]:
        """Length bucketing; training batches (shuffle) leave out pairs longer than data.max_len on either side."""
        if not shuffle:
            return super().batches(features, batch_size, shuffle=False, seed=seed, epoch=epoch)
        keep = [i for i, f in enumerate(features)
                if len(f["src"]) <= self.data.max_len and len(f.get("tgt", ())) <= self.data.max_len]
        if features and not keep:
            raise UserError(f"every training pair is longer than data.max_len={self.data.max_len} pieces; raise it")
        groups = bucket_batches([self.length(features[i]) for i in keep], batch_size, shuffle=True, seed=seed,
                                epoch=epoch)
        return [[keep[j] for j in group] for group in groups]

    def collate(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        pad = self.source.pad_id
        lengths = [len(f["src"]) for f in features]
        source = torch.full((len(features), max(lengths)), pad, dtype=torch.long)  # (B, S)
        for b, f in enumerate(features):
            source[b, : len(f["src"])] = torch.tensor(f["src"], dtype=torch.long)
        batch = {"source": source, "source_lengths": torch.tensor(lengths, dtype=torch.long)}
        if "tgt" in features[0]:
            T = max(len(f["tgt"]) for f in features) + 1
            targets_in = torch.full((len(features), T), self.target.pad_id, dtype=torch.long)  # <s> y_1 .. y_n
            targets_out = torch.full((len(features), T), self.target.pad_id, dtype=torch.long)  # y_1 .. y_n </s>
            for b, f in enumerate(features):
                ids = torch.tensor(f["tgt"], dtype=torch.long)
                n = len(f["tgt"])
                targets_in[b, 0], targets_in[b, 1: n + 1] = self.target.bos_id, ids
                targets_out[b, :n], targets_out[b, n] = ids, self.target.eos_id
            batch.update(targets_in=targets_in, targets_out=targets_out)
            batch["reference"], batch["reference_lengths"] = text_bytes([f["ref"] for f in features])
        return batch

    # ---- model ------------------------------------------------------------------------------

    def build_model(self) -> TranslateModel:
        cfg = dataclasses.replace(self.model_config, cell=self.cell)
        return TranslateModel(len(self.source), len(self.target), cfg, self.source.pad_id)

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], carry: Any = None) -> LossOutput:
        logits = model(_inputs(batch), batch["targets_in"])  # (B, T, V)
        gold = batch["targets_out"]
        total = F.cross_entropy(logits.float().flatten(0, 1), gold.flatten(), ignore_index=self.target.pad_id,
                                reduction="sum", label_smoothing=self.model_config.label_smoothing)
        return LossOutput(total, int((gold != self.target.pad_id).sum()))

    def _generate(self, model: TranslateModel, inputs: dict[str, torch.Tensor], beam_size: int) -> list[Hypothesis]:
        """One Hypothesis per source: the model's start, then `_search` over its decoder's step."""
        state, memory, sizes = model.start(inputs)
        return self._search(model.decoder.step, state, memory, sizes, beam_size)

    def _search(self, step: StepFn, state: Any, memory: Memory, sizes: torch.Tensor,
                beam_size: int) -> list[Hypothesis]:
        """decoding.seq2seq.search with this config's limits and length penalty, over any decoder step: the
        PyTorch decoder's (`_generate`) or the export's decoder_step graph (`predict_graphs`)."""
        cfg = self.model_config
        return search(step, state, memory, sizes, bos=self.target.bos_id, eos=self.target.eos_id,
                      beam_size=beam_size, max_len_a=cfg.max_len_a, max_len_b=cfg.max_len_b,
                      length_penalty=cfg.length_penalty)

    def _text(self, ids: list[int]) -> str:
        """Output ids (eos stripped) -> the translation's text."""
        return self.target.decode(self.target.pieces(ids))

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> dict[str, float]:
        loss_sum, tokens = 0.0, 0
        hypotheses, references = [], []
        for batch in batches:
            inputs = _inputs(batch)
            logits = model(inputs, batch["targets_in"])
            gold = batch["targets_out"]
            loss_sum += F.cross_entropy(logits.float().flatten(0, 1), gold.flatten(),
                                        ignore_index=self.target.pad_id, reduction="sum").item()
            tokens += int((gold != self.target.pad_id).sum())
            hyps = self._generate(model, inputs, beam_size=1)
            hypotheses += [self._text(strip_eos(h.tokens, self.target.eos_id)) for h in hyps]
            references += bytes_text(batch["reference"], batch["reference_lengths"])
        loss = loss_sum / max(tokens, 1)
        scores = corpus_scores(hypotheses, references) if hypotheses else {}
        return {"bleu": float(scores.get("bleu", 0.0)), "bleu_lowercase": float(scores.get("bleu_lowercase", 0.0)),
                "chrf": float(scores.get("chrf", 0.0)), "loss": loss, "perplexity": math.exp(min(loss, 50.0)),
                "n": len(hypotheses)}

    # ---- user input -------------------------------------------------------------------------

    def input_length(self, input: str) -> int:
        return len(self.source.encode(str(input)))

    def check_options(self, options: dict[str, Any], called: dict[str, str] | None = None) -> dict[str, Any]:
        checked = super().check_options(options, called)
        if "beam" in checked:
            self.check_beam(checked["beam"], (called or {}).get("beam", "option beam"))
        return checked

    def check_beam(self, beam: int, called: str) -> int:
        """A beam this bundle can search (tasks.base.check_beam over the target vocabulary)."""
        return check_beam(beam, len(self.target), called)

    def translate(self, model: nn.Module, inputs: list[str], beam: int | None = None,
                  attention: bool = False) -> list[dict[str, Any]]:
        """The prediction schema for each source text, decoded by beam search (beam 1: greedy; None: the
        config's model.beam). attention=True adds "target_tokens" (the output pieces, </s> included when
        it was chosen), "attention" (len(target_tokens) x len(tokens): where each output piece looked) and
        "alternatives" (per target token, the ALTERNATIVES pieces ranked highest at that step, best first)."""
        inputs = list(inputs)
        if not inputs:
            return []
        beam_size = self._beam_size(beam)
        pieces, ids = self._sources(inputs)
        device = next(model.parameters()).device
        batch = _inputs(self.collate([{"src": i} for i in ids]), device)
        with torch.no_grad(), eval_mode(model):
            hyps = self._generate(model, batch, beam_size)
            alts = self._alternatives(lambda targets_in: model(batch, targets_in.to(device)), hyps) \
                if attention else None
        return self._predictions(inputs, pieces, ids, hyps, attention, alts)

    def predict(self, model: nn.Module, inputs: list[str], *, beam: int | None = None,
                attention: bool = False) -> list[dict[str, Any]]:
        """For each source text: `tokens` the source pieces (`unknown` those read as <unk>), `sequence` the
        output pieces, `answer` the detokenised translation with exp(mean log-prob per output piece) as its
        probability, `scores.log_prob` the sum. Beam search of width `beam` (default model.beam); `attention`
        adds the attention matrix and the alternatives (see `translate`)."""
        return self.translate(model, inputs, beam=beam, attention=attention)

    def predict_graphs(self, graphs: dict[str, Any], inputs: list[str], *, beam: int | None = None,
                       attention: bool = False) -> list[dict[str, Any]]:
        """`predict` from the export's graphs (rnnlab.runtime): "encoder" starts the search, "decoder_step" is its
        step (the state and memory as the graphs' flat tensors, reordered by rows as the PyTorch decoder's are),
        and the alternatives come from the same step run teacher-forced. The same answers as `predict`, every
        option included: the tokenising, the search and the formatting are the same code."""
        inputs = list(inputs)
        if not inputs:
            return []
        beam_size = self._beam_size(beam)
        pieces, ids = self._sources(inputs)
        batch = self.collate([{"src": i} for i in ids])
        state, memory = self._graph_start(graphs["encoder"], batch)
        step = _graph_step(graphs["decoder_step"])
        with torch.no_grad():
            hyps = self._search(step, state, memory, memory.mask.sum(1), beam_size)
            alts = self._alternatives(lambda targets_in: teacher_forced(step, state, memory, targets_in), hyps) \
                if attention else None
        return self._predictions(inputs, pieces, ids, hyps, attention, alts)

    def _beam_size(self, beam: int | None) -> int:
        """The beam to search with: `beam`, or the config's model.beam for None, checked (check_beam)."""
        return self.check_beam(self.model_config.beam if beam is None else checks.whole("beam", beam),
                               "beam" if beam is not None else "model.beam")

    def _sources(self, inputs: list[str]) -> tuple[list[list[str]], list[list[int]]]:
        """Each text checked and tokenised: its source pieces and their ids (<unk> for an unseen piece)."""
        pieces, ids = [], []
        for i, text in enumerate(inputs, start=1):
            if not isinstance(text, str):
                raise UserError(f"expected text, got {type(text).__name__}")
            # the verbs have checked their lines already (naming them); here for the server and the Python API
            check_line(text, "text" if len(inputs) == 1 else f"input {i}", count=self.input_length)
            p = self.source.encode(text)
            if not p:
                raise UserError(f"nothing to translate in {text!r}")
            pieces.append(p)
            ids.append(self.source.ids(text))  # one id per piece (<unk> for an unseen one)
        return pieces, ids

    def _alternatives(self, forward: Any, hyps: list[Hypothesis]) -> list[list[list[dict[str, Any]]]]:
        """Per output piece of each hypothesis, the ALTERNATIVES pieces ranked highest at its step, from
        `forward(targets_in) -> logits or log-probs (N, T, V)` (decoding.seq2seq.alternatives)."""
        return alternatives(forward, [h.tokens for h in hyps], bos=self.target.bos_id, pad=self.target.pad_id,
                            pieces=self.target.pieces, k=ALTERNATIVES)

    def _predictions(self, inputs: list[str], pieces: list[list[str]], ids: list[list[int]], hyps: list[Hypothesis],
                     attention: bool, alts: list | None) -> list[dict[str, Any]]:
        """The schema's dicts from the sources and their hypotheses (and, with attention, their alternatives)."""
        out = [{"task": self.name, "text": text, "tokens": p, "unknown": [k == self.source.unk_id for k in i],
                **output_fields(hyp, eos=self.target.eos_id, pieces=self.target.pieces, detokenize=self.target.decode,
                                answer_kind="translation", source_size=len(p), attention=attention)}
               for text, p, i, hyp in zip(inputs, pieces, ids, hyps)]
        for pred, alt in zip(out, alts or []):
            pred["alternatives"] = alt
        return out

    def _graph_start(self, encoder: Any, batch: dict[str, torch.Tensor]) -> tuple[tuple[torch.Tensor, ...], Memory]:
        """The encoder graph's outputs (keys, mask[, projected], h_0[, c_0], feed_0) as the search's start: the
        decoder's state as a tuple of tensors (h[, c], feed; batch on dim 1, as a DecoderState's) and a Memory."""
        out = encoder(batch["source"], batch["source_lengths"])
        parts = FAMILIES[self.cell].state_arity + 1  # h[, c] and feed
        projected = len(out) - 2 - parts  # additive attention's key projection, or none
        if projected not in (0, 1):
            raise BundleError("graph encoder", f"it gives {len(out)} outputs; a {self.cell} decoder's start is "
                                               f"keys, mask[, projected] and {parts} state tensors")
        memory = Memory(out[0], out[1].bool(), out[2] if projected else None)
        return tuple(out[2 + projected:]), memory

    def trace(self, model: nn.Module, input: str) -> dict[str, Any]:
        """`predict`'s output plus the attention matrix (target x source, "target_tokens" naming its rows) and the
        encoder's states and gates per source piece (both directions, every layer) from the glass engine."""
        pred = self.translate(model, [input], attention=True)[0]
        device = next(model.parameters()).device
        batch = _inputs(self.collate([{"src": self._source_ids(input)}]), device)
        with torch.no_grad(), eval_mode(model):
            traced = model.encoder.trace(batch)
        return {**pred, "cell": self.cell, "layers": trace_layers(traced)}

    # ---- export ---------------------------------------------------------------------------------

    def export_graph(self, model: nn.Module) -> dict[str, ExportGraph]:
        """Two graphs that a search loop drives, as decoding.search drives `start` and `decoder.step`: "encoder"
        (source ids (tokenizer.source) -> the memory, its mask and the decoder's first state) and "decoder_step"
        (the previous target id, the state and the memory -> log p of the next target id (tokenizer.target),
        the next state, the attention). Start from y_prev = <s> (id 2), stop at </s> (id 3)."""
        parts = _state_names(model)
        projected = _has_projected(model)
        memory = (ExportTensor("keys", "float32", ("batch", "time", "memory"), "encoder outputs, zero past ends"),
                  ExportTensor("mask", "bool", ("batch", "time"), "True at real source positions"))
        if projected:
            memory += (ExportTensor("projected", "float32", ("batch", "time", "attention"),
                                    "additive attention's key projection, once per source"),)
        state = tuple(ExportTensor(n, "float32", ("layers", "batch", "units"), f"decoder {n}") for n in parts)
        feed = ExportTensor("feed", "float32", ("one", "batch", "units"), "the input-feed vector h~ of the last step")
        encoder = ExportGraph(_Start(model, parts, projected), inputs=(
            ExportTensor("source", "int64", ("batch", "time"), "source piece ids (tokenizer.source), padded with 0"),
            ExportTensor("source_lengths", "int64", ("batch",), "pieces per source, 1..time"),
        ), outputs=(*memory, *(dataclasses.replace(t, name=f"{t.name}_0") for t in (*state, feed))))
        step = ExportGraph(_Step(model, parts, projected), inputs=(
            ExportTensor("y_prev", "int64", ("batch",), "the previous target id (<s> = 2 at the start)"),
            *state, feed, *memory,
        ), outputs=(ExportTensor("log_probs", "float32", ("batch", "vocab"), "log p of the next target id"),
                    *(dataclasses.replace(t, name=f"{t.name}_next") for t in (*state, feed)),
                    ExportTensor("attention", "float32", ("batch", "time"), "attention over the source")))
        return {"encoder": encoder, "decoder_step": step}

    def export_example(self, model: nn.Module, batch_size: int, length: int, seed: int = 0) -> dict[str, torch.Tensor]:
        """Sources of the source tokenizer's pieces (ragged), and the decoder's inputs one step into decoding
        them (a previous target piece, the state after it, the memory): what a search loop would feed."""
        source = export_token_batch(self.source, batch_size, length, seed)
        example = {"source": source["tokens"], "source_lengths": source["lengths"]}
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            state, memory, _ = model.start(example)
            first = torch.randint(4, len(self.target), (batch_size,), generator=g)
            _, state, _ = model.decoder.step(first, state, memory)  # a state with a real input-feed vector
        family = model.decoder.rnn.family
        example.update(zip(_state_names(model), family.state_parts(state[0])))
        example.update(y_prev=torch.randint(4, len(self.target), (batch_size,), generator=g), feed=state[1],
                       keys=memory.keys, mask=memory.mask)
        if memory.projected is not None:
            example["projected"] = memory.projected
        return example

    # ---- bundles ----------------------------------------------------------------------------

    def state_to_json(self) -> dict[str, Any]:
        return {"tokenizer.source": self.source.to_json(), "tokenizer.target": self.target.to_json()}

    def state_from_json(self, state: dict[str, Any]) -> None:
        for key in ("tokenizer.source", "tokenizer.target"):
            if key not in state:
                raise ValueError(f"missing {key}")
        self.source = tokenizer_from_json(state["tokenizer.source"])
        self.target = tokenizer_from_json(state["tokenizer.target"])
