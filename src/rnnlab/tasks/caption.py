"""Image captioning (issue #26): a CNN sees, an RNN describes. Show, Attend and Tell (Xu et al. 2015) over a frozen
ImageNet CNN: the photo's grid of region vectors is the memory an attentional recurrent decoder reads while it
writes the caption word by word.

    photo -> frozen CNN (rnnlab.vision: EfficientNet-Lite0, computed once per photo, cached) -> regions (S, C)
          -> GridEncoder: W_p a_i (adapter) -> memory (S, M), final = mean      (modules.encoder_decoder)
          -> AttentionDecoder (input feeding, additive attention over the regions, LSTM)   (modules.decoder)
          -> greedy / beam search                                                    (decoding.seq2seq)

The decoder, the search and the generation glue are translation's, reached through the encoder contract: this
file holds the configs, the data (readers.images: Flickr8k's token file + split lists, or a CSV/TSV of `image`,
`caption`), the vocabulary, the scores (metrics.caption: BLEU-1..4 and CIDEr by the COCO caption code) and the
image input of the verbs and the studio.

Training is teacher forcing on every (photo, caption) pair: the decoder reads <s> w_1 .. w_{T-1}, is scored on
w_1 .. w_T </s> (summed token cross-entropy). Evaluation: the token loss against every reference of each photo,
then one caption per photo (beam model.eval_beam; greedy by default, for speed while training) scored corpus-level
against all its references. The references travel with each batch as UTF-8 bytes ((B, L) uint8, captions
separated by newlines), so `evaluate` needs nothing but its batches.

Vocabulary: the training captions' words seen at least data.min_count times (5, as Xu et al. and Karpathy's
splits), lowercased; the rest read as <unk>.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab import checks
from rnnlab.decoding.search import Hypothesis
from rnnlab.decoding.seq2seq import output_fields, search, strip_eos
from rnnlab.errors import UserError
from rnnlab.explain import eval_mode
from rnnlab.metrics.caption import caption_scores
from rnnlab.modules.attention import ATTENTION_KINDS
from rnnlab.modules.decoder import AttentionDecoder
from rnnlab.modules.encoder_decoder import EncoderDecoder, GridEncoder
from rnnlab.readers.images import CaptionedImage, read_caption_table, read_image, read_token_captions
from rnnlab.readers.paths import resolve_path
from rnnlab.readers.tokenize import WordTokenizer, tokenizer_from_json
from rnnlab.tasks.base import LossOutput, Option, Task, bucket_batches, bytes_text, check_beam, text_bytes
from rnnlab.vision.cnn import CNNS
from rnnlab.vision.features import FeatureStore

SPLITS = ("train", "valid", "test")
TABLE_SUFFIXES = (".csv", ".tsv")  # a split file with one of these is a caption table, whatever data.captions says


@dataclass
class CaptionData:
    """Where the photos and their captions are. Paths: rnnlab.readers.paths.

    Two layouts, chosen per split file: a `.csv` or `.tsv` is a table with the columns `image` and `caption`, a row
    per caption (your own photos: `data.train=mine/train.csv data.valid=mine/dev.csv data.test=` on the Flickr8k
    config trains on them); any other file is a list of image names, one a line (Flickr8k's
    `Flickr_8k.trainImages.txt`), captioned by `captions` (Flickr8k's token file, `IMAGE#N<TAB>caption`). Image
    names are relative to `images` (default: the token file's folder + images/, or the table's folder)."""

    train: str = ""
    valid: str = ""
    test: str = ""
    captions: str = ""  # Flickr8k's token file, read for the splits that are lists of image names
    images: str = ""  # the folder image names are relative to ("" = beside the table / the token file's images/)
    encoder: str = "efficientnet-lite0"  # the frozen CNN (rnnlab.vision.cnn.CNNS)
    layer: str = "top"  # its feature map read as the regions: "top" (1280 x 7x7) | "stride16" (112 x 14x14)
    min_count: int = 5  # words seen fewer times in the training captions read as <unk>
    lowercase: bool = True
    max_len: int = 40  # training captions longer than this (words) are not trained on


@dataclass
class CaptionModelConfig:
    cell: str = "lstm"  # the decoder's cell: rnn_tanh | rnn_relu | lstm | gru
    embed_size: int = 256
    hidden_size: int = 512  # the decoder's units
    project_size: int = 512  # the adapter W_p from the CNN's channels to the memory; 0 = the raw features
    regions: str = "grid"  # "grid": attend over the regions | "mean": the mean region only (no attention)
    num_layers: int = 1
    dropout: float = 0.5  # on the memory, the embeddings, between layers and on the attentional vector
    attention: str = "additive"  # "additive" (Bahdanau; Show, Attend and Tell's) | "general" | "dot"
    label_smoothing: float = 0.0  # training loss only
    beam: int = 3  # beam width of predict / caption (1 = greedy)
    eval_beam: int = 1  # beam width of evaluate (1 = greedy: fast, for choosing epochs while training)
    length_penalty: float = 0.0  # GNMT alpha in beam search (0 = none)
    max_words: int = 30  # longest caption written, words
    engine: str = "auto"  # the decoder's recurrent engine


@dataclass
class CaptionExample:
    image: CaptionedImage
    regions: torch.Tensor  # (S, C) float16 from the feature cache
    caption: str | None  # one caption (a training pair), or None: the photo scored against all its references


class CaptionModel(EncoderDecoder):
    """GridEncoder over a frozen CNN's regions -> AttentionDecoder bridged from the mean region. Reads
    {"regions" (B, S, C)}: `forward(inputs, targets_in)` (teacher forcing), `start(inputs)` (search)."""

    def __init__(self, vocab_size: int, feature_size: int, cfg: CaptionModelConfig, pad_id: int):
        encoder = GridEncoder(feature_size, project_size=cfg.project_size, regions=cfg.regions, dropout=cfg.dropout)
        decoder = AttentionDecoder(vocab_size, cfg.embed_size, cfg.hidden_size, encoder.memory_size,
                                   final_size=encoder.final_size, num_layers=cfg.num_layers, cell=cfg.cell,
                                   attention=cfg.attention, dropout=cfg.dropout, padding_idx=pad_id,
                                   engine=cfg.engine)
        super().__init__(encoder, decoder)


class CaptionTask(Task):
    """A frozen CNN's regions, an attentional recurrent decoder, greedy / beam search: a caption per photo."""

    name = "caption"
    DataConfig = CaptionData
    ModelConfig = CaptionModelConfig
    metric = "bleu4"
    metric_mode = "max"
    input_kind = "image"
    options = (Option("beam", int, "beam width (1 = greedy); default: the bundle's model.beam", minimum=1),
               Option("attention", bool, "add the words with </s> and, per word, the attention over the regions"))

    def __init__(self, data: CaptionData, model: CaptionModelConfig):
        super().__init__(data, model)
        self.cell = checks.cell("model.cell", model.cell)
        checks.model_keys(model, sizes=("embed_size", "hidden_size", "num_layers", "beam", "eval_beam", "max_words"),
                          rates=("dropout", "label_smoothing"))
        checks.whole("model.project_size", model.project_size, 0)
        checks.one_of("model.regions", model.regions, GridEncoder.REGIONS)
        checks.one_of("model.attention", model.attention, ATTENTION_KINDS)
        checks.weight("model.length_penalty", model.length_penalty)
        checks.one_of("data.encoder", data.encoder, tuple(CNNS))
        checks.one_of("data.layer", data.layer, tuple(CNNS[data.encoder].layers))
        checks.whole("data.min_count", data.min_count)
        checks.whole("data.max_len", data.max_len)
        memory = model.project_size or CNNS[data.encoder].layers[data.layer][0]
        if model.attention == "dot" and memory != model.hidden_size:
            raise UserError(f"model.attention = \"dot\" compares the decoder's state with the memory: hidden_size "
                            f"({model.hidden_size}) must equal the memory's size ({memory}: model.project_size, "
                            f"or the CNN layer's channels when it is 0)")
        if not data.train:
            raise UserError("no training data: set data.train (a caption table, or with data.captions a list of "
                            "image names)")
        self.words: WordTokenizer | None = None
        self.feature_size, self.grid_side = CNNS[data.encoder].layers[data.layer]
        self._store: FeatureStore | None = None

    @property
    def store(self) -> FeatureStore:
        if self._store is None:
            self._store = FeatureStore(self.data.encoder, (self.data.layer,))
        return self._store

    # ---- data -------------------------------------------------------------------------------

    def splits(self) -> list[str]:
        return [s for s in SPLITS if getattr(self.data, s)]

    def read_images(self, split: str) -> list[CaptionedImage]:
        """The split's photos with their captions (no features): readers.images, by the config's layout."""
        if split not in self.splits():
            raise UserError(f"split {split!r} is not configured (this config has: {', '.join(self.splits())})")
        images = resolve_path(self.data.images) if self.data.images else None
        listed = resolve_path(getattr(self.data, split))
        if listed.suffix.lower() in TABLE_SUFFIXES or not self.data.captions:
            return read_caption_table(listed, images)
        return read_token_captions(resolve_path(self.data.captions), listed, images)

    def read(self, split: str) -> list[CaptionExample]:
        """Training: one example per (photo, caption); other splits: one per photo, scored against all its captions.
        Each photo's regions come from the feature cache (computed there first, with a progress bar)."""
        items = self.read_images(split)
        feats = self.store.features([it.image for it in items], desc=f"{split} photos")
        regions = [f[self.data.layer] for f in feats]
        if split == "train":
            return [CaptionExample(it, r, c) for it, r in zip(items, regions) for c in it.captions]
        return [CaptionExample(it, r, None) for it, r in zip(items, regions)]

    def fit(self, train_examples: list[CaptionExample]) -> None:
        captions = [c for e in train_examples for c in ((e.caption,) if e.caption is not None else e.image.captions)]
        self.words = WordTokenizer.train(captions, None, lowercase=self.data.lowercase, min_count=self.data.min_count)

    def encode(self, example: CaptionExample) -> dict[str, Any]:
        if example.caption is not None:
            return {"regions": example.regions, "tgt": self.words.ids(example.caption)}
        return {"regions": example.regions, "refs": list(example.image.captions),
                "ref_ids": [self.words.ids(c) for c in example.image.captions]}

    def length(self, features: dict[str, Any]) -> int:
        return len(features["tgt"]) + 1 if "tgt" in features else 1

    def batches(self, features: list[dict[str, Any]], batch_size: int, *, shuffle: bool, seed: int = 0,
                epoch: int = 0) -> list[list[int]]:
        """Length bucketing; training batches leave out captions longer than data.max_len words."""
        if not shuffle:
            return super().batches(features, batch_size, shuffle=False, seed=seed, epoch=epoch)
        keep = [i for i, f in enumerate(features) if len(f.get("tgt", ())) <= self.data.max_len]
        if features and not keep:
            raise UserError(f"every training caption is longer than data.max_len={self.data.max_len} words; raise it")
        groups = bucket_batches([self.length(features[i]) for i in keep], batch_size, shuffle=True, seed=seed,
                                epoch=epoch)
        return [[keep[j] for j in group] for group in groups]

    def _targets(self, captions: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Word ids per caption -> targets_in (N, T) (<s> w_1 .. w_n, padded) and targets_out (w_1 .. w_n </s>)."""
        w = self.words
        T = max(len(c) for c in captions) + 1
        targets_in = torch.full((len(captions), T), w.pad_id, dtype=torch.long)
        targets_out = torch.full((len(captions), T), w.pad_id, dtype=torch.long)
        for b, c in enumerate(captions):
            n = len(c)
            targets_in[b, 0] = w.bos_id
            if n:
                targets_in[b, 1: n + 1] = torch.tensor(c, dtype=torch.long)
                targets_out[b, :n] = torch.tensor(c, dtype=torch.long)
            targets_out[b, n] = w.eos_id
        return targets_in, targets_out

    def collate(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = {"regions": torch.stack([f["regions"].float() for f in features])}  # (B, S, C) float32
        if "tgt" in features[0]:
            batch["targets_in"], batch["targets_out"] = self._targets([f["tgt"] for f in features])
        elif "refs" in features[0]:
            # every reference of each photo: (B, R, T), R the most references a photo of the batch has; a photo with
            # fewer has all-pad rows (no tokens: nothing scored)
            R = max(len(f["ref_ids"]) for f in features)
            rows = [f["ref_ids"] + [None] * (R - len(f["ref_ids"])) for f in features]
            flat = [r for row in rows for r in row]
            flat_in, flat_out = self._targets([r if r is not None else [] for r in flat])
            for k, r in enumerate(flat):
                if r is None:
                    flat_in[k], flat_out[k] = self.words.pad_id, self.words.pad_id
            T = flat_in.shape[1]
            batch["targets_in"], batch["targets_out"] = flat_in.view(len(features), R, T), flat_out.view(
                len(features), R, T)
            batch["reference"], batch["reference_lengths"] = text_bytes(["\n".join(f["refs"]) for f in features])
        return batch

    # ---- model ------------------------------------------------------------------------------

    def build_model(self) -> CaptionModel:
        cfg = dataclasses.replace(self.model_config, cell=self.cell)
        return CaptionModel(len(self.words), self.feature_size, cfg, self.words.pad_id)

    def _token_loss(self, model: nn.Module, batch: dict[str, torch.Tensor], smoothing: float) -> LossOutput:
        regions, targets_in, gold = batch["regions"], batch["targets_in"], batch["targets_out"]
        if targets_in.dim() == 3:  # (B, R, T): every reference of each photo
            B, R, T = targets_in.shape
            regions = regions.repeat_interleave(R, dim=0)  # (B*R, S, C)
            targets_in, gold = targets_in.reshape(B * R, T), gold.reshape(B * R, T)
            real = gold[:, 0] != self.words.pad_id  # rows that hold a reference
            regions, targets_in, gold = regions[real], targets_in[real], gold[real]
        logits = model({"regions": regions}, targets_in)  # (N, T, V)
        total = F.cross_entropy(logits.float().flatten(0, 1), gold.flatten(), ignore_index=self.words.pad_id,
                                reduction="sum", label_smoothing=smoothing)
        return LossOutput(total, int((gold != self.words.pad_id).sum()))

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], carry: Any = None) -> LossOutput:
        return self._token_loss(model, batch, self.model_config.label_smoothing)

    def generate(self, model: nn.Module, regions: torch.Tensor, beam_size: int) -> list[Hypothesis]:
        """One Hypothesis per photo: regions (B, S, C) -> the model's start, then greedy / beam search."""
        cfg = self.model_config
        state, memory, sizes = model.start({"regions": regions})
        return search(model.decoder.step, state, memory, sizes, bos=self.words.bos_id, eos=self.words.eos_id,
                      beam_size=beam_size, max_len_a=0.0, max_len_b=cfg.max_words + 1,
                      length_penalty=cfg.length_penalty)

    def _text(self, ids: list[int]) -> str:
        return self.words.decode(self.words.pieces(ids))

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches: Iterable[dict[str, torch.Tensor]], *,
                 beam: int | None = None, meteor: bool = False) -> dict[str, float]:
        """Token loss against every reference; a caption per photo (beam model.eval_beam, or `beam`) scored by
        BLEU-1..4 (x100), CIDEr (x1, as the papers print it) and, with `meteor`, METEOR (x100)."""
        beam_size = self.model_config.eval_beam if beam is None else beam
        loss_sum, tokens = 0.0, 0
        hypotheses, references = [], []
        for batch in batches:
            out = self._token_loss(model, batch, 0.0)
            loss_sum, tokens = loss_sum + float(out.total), tokens + out.count
            if "reference" in batch:
                hyps, refs = self._caption_batch(model, batch, beam_size)
                hypotheses, references = hypotheses + hyps, references + refs
        loss = loss_sum / max(tokens, 1)
        metrics = {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "n": float(len(hypotheses))}
        if hypotheses:
            scores = caption_scores(hypotheses, references, meteor=meteor)
            for key, value in scores.items():
                if isinstance(value, float):
                    metrics[key] = value if key == "cider" else 100.0 * value
            metrics["mean_words"] = sum(len(h.split()) for h in hypotheses) / len(hypotheses)
        else:
            metrics.update({f"bleu{n}": 0.0 for n in range(1, 5)}, cider=0.0)
        return metrics

    @torch.no_grad()
    def captions_of(self, model: nn.Module, batches: Iterable[dict[str, torch.Tensor]],
                    beam: int) -> tuple[list[str], list[list[str]]]:
        """(one caption per photo, the photo's references) over evaluation batches: what a benchmark scores."""
        hypotheses, references = [], []
        for batch in batches:
            hyps, refs = self._caption_batch(model, batch, beam)
            hypotheses, references = hypotheses + hyps, references + refs
        return hypotheses, references

    def _caption_batch(self, model: nn.Module, batch: dict[str, torch.Tensor],
                       beam: int) -> tuple[list[str], list[list[str]]]:
        """One evaluation batch: a caption per photo (search of width `beam`) and the photo's references."""
        hyps = self.generate(model, batch["regions"], beam)
        return ([self._text(strip_eos(h.tokens, self.words.eos_id)) for h in hyps],
                [t.split("\n") for t in bytes_text(batch["reference"], batch["reference_lengths"])])

    # ---- user input -------------------------------------------------------------------------

    def parse_input(self, text: str) -> Any:
        """A path to a photo (CLI, `predict`); the studio passes images it decoded from an upload."""
        if not str(text).strip():
            raise UserError("empty input: give the path of an image (JPEG or PNG)")
        return _Photo(str(text).strip(), read_image(Path(str(text).strip())))

    def parse_bytes(self, data: bytes, name: str) -> list[tuple[str, Any]]:
        """An upload or a file's bytes: one photo (DataError naming it if it is not a whole image)."""
        from rnnlab.readers.images import image_from_bytes

        return [(name, _Photo(name, image_from_bytes(data, name)))]

    def inputs_from_file(self, path: str) -> list[tuple[str, Any]]:
        """`rnnlab predict BUNDLE photo.jpg`: one caption for the photo."""
        from rnnlab.readers.paths import check_input_file

        check_input_file(path)
        return [(path, self.parse_input(path))]

    def input_length(self, input: Any) -> int:
        return self.grid_side * self.grid_side  # regions the decoder attends over, whatever the photo's size

    def check_options(self, options: dict[str, Any], called: dict[str, str] | None = None) -> dict[str, Any]:
        checked = super().check_options(options, called)
        if "beam" in checked:
            self.check_beam(checked["beam"], (called or {}).get("beam", "option beam"))
        return checked

    def check_beam(self, beam: int, called: str) -> int:
        """A beam this bundle can search (tasks.base.check_beam over the word vocabulary)."""
        return check_beam(beam, len(self.words), called, "vocabulary", "words")

    def _photos(self, inputs: list[Any]) -> list["_Photo"]:
        photos = []
        for x in inputs:
            if isinstance(x, _Photo):
                photos.append(x)
            elif isinstance(x, (str, Path)):
                photos.append(self.parse_input(str(x)))
            elif hasattr(x, "convert") and hasattr(x, "size"):  # a PIL image (the Python API)
                photos.append(_Photo("image", x))
            else:
                raise UserError(f"expected an image (a path or a PIL image), got {type(x).__name__}")
        return photos

    def predict(self, model: nn.Module, inputs: list[Any], *, beam: int | None = None,
                attention: bool = False) -> list[dict[str, Any]]:
        """For each photo: `answer` the caption with exp(mean log-prob per word, </s> included) as its probability,
        `sequence` its words, `scores.log_prob`, `tokens` the names of the regions the decoder attends over (row-
        major over the grid), `image` the photo's size and the grid; `attention` adds `target_tokens` (the words,
        </s> when chosen) and `attention` (one row per target token: a weight per region)."""
        return self._predict(model, inputs, beam, attention)[0]

    def _predict(self, model: nn.Module, inputs: list[Any], beam: int | None,
                 attention: bool) -> tuple[list[dict[str, Any]], list[Hypothesis], torch.Tensor | None]:
        """`predict`'s answers, with the hypotheses and the regions (B, S, C) they were searched from."""
        photos = self._photos(list(inputs))
        if not photos:
            return [], [], None
        beam_size = self.check_beam(self.model_config.beam if beam is None else checks.whole("beam", beam),
                                    "beam" if beam is not None else "model.beam")
        device = next(model.parameters()).device
        feats = self.store.features_of_images([p.image for p in photos])
        regions = torch.stack([f[self.data.layer] for f in feats]).to(device)  # (B, S, C)
        with torch.no_grad(), eval_mode(model):
            hyps = self.generate(model, regions, beam_size)
        tokens = self.region_names()
        out = []
        for photo, hyp in zip(photos, hyps):
            fields = output_fields(hyp, eos=self.words.eos_id, pieces=self.words.pieces, detokenize=self.words.decode,
                                   answer_kind="caption", source_size=len(tokens), attention=attention)
            width, height = photo.image.size
            out.append({"task": self.name, "text": photo.name, "tokens": tokens, **fields,
                        "image": {"width": width, "height": height, "grid": [self.grid_side, self.grid_side],
                                  "encoder": self.data.encoder, "layer": self.data.layer}})
        return out, hyps, regions

    def region_names(self) -> list[str]:
        """The regions as the decoder sees them: 'r1c1' .. 'r7c7', row-major (what `tokens` holds for a photo)."""
        return [f"r{r + 1}c{c + 1}" for r in range(self.grid_side) for c in range(self.grid_side)]

    def trace(self, model: nn.Module, input: Any) -> dict[str, Any]:
        """`predict` with the attention (per word of the caption, where on the photo's grid the decoder looked) and
        the decoder's state as it wrote each word: `layers`, one per decoder layer, with `h` (and an LSTM's `c`)
        per target token, from the chosen words fed back step by step (the search's own computation)."""
        preds, hyps, regions = self._predict(model, [input], None, True)
        pred, tokens = preds[0], hyps[0].tokens
        family = model.decoder.rnn.family
        steps: list[tuple[torch.Tensor, ...]] = []
        with torch.no_grad(), eval_mode(model):
            state, memory, _ = model.start({"regions": regions[:1]})
            for y_prev in [self.words.bos_id] + tokens[:-1]:
                _, state, _ = model.decoder.step(torch.tensor([y_prev], device=regions.device), state, memory)
                steps.append(family.state_parts(state[0]))  # h (L, 1, H)[, c]
        layers = []
        for layer in range(model.decoder.num_layers):
            entry: dict[str, Any] = {"layer": layer, "direction": "forward"}
            for k, name in enumerate(family.state_names):
                entry[name] = [[round(float(v), 5) for v in parts[k][layer, 0].tolist()] for parts in steps]
            layers.append(entry)
        return {**pred, "cell": self.cell, "layers": layers}

    def format_prediction(self, prediction: dict[str, Any]) -> str:
        return prediction["answer"]["label"]

    # ---- bundles ----------------------------------------------------------------------------

    def state_to_json(self) -> dict[str, Any]:
        spec = CNNS[self.data.encoder]
        return {"vocab.words": self.words.to_json(),
                "encoder": {"name": spec.name, "weights": spec.weights, "sha256": spec.sha256,
                            "layer": self.data.layer, "channels": self.feature_size, "grid": self.grid_side,
                            "image_size": spec.image_size, "mean": spec.mean, "std": spec.std}}

    def state_from_json(self, state: dict[str, Any]) -> None:
        for key in ("vocab.words", "encoder"):
            if key not in state:
                raise ValueError(f"missing {key}")
        encoder = state["encoder"]
        if not isinstance(encoder, dict) or encoder.get("name") not in CNNS:
            raise ValueError(f"encoder: unknown CNN {encoder.get('name') if isinstance(encoder, dict) else encoder!r} "
                             f"(this rnnlab knows {', '.join(CNNS)})")
        spec = CNNS[encoder["name"]]
        if encoder.get("sha256") != spec.sha256:
            raise ValueError(f"encoder: the model was trained on {spec.name} weights with SHA-256 "
                             f"{str(encoder.get('sha256'))[:16]}..., this rnnlab pins {spec.sha256[:16]}...")
        if encoder.get("layer") != self.data.layer or encoder.get("channels") != self.feature_size:
            raise ValueError(f"encoder: layer {encoder.get('layer')!r} with {encoder.get('channels')} channels, the "
                             f"config says {self.data.layer!r} ({self.feature_size})")
        self.words = tokenizer_from_json(state["vocab.words"])


@dataclass(frozen=True)
class _Photo:
    """A decoded photo and the name it came with (a path, an upload's name), for messages and predictions."""

    name: str
    image: Any  # a PIL image
