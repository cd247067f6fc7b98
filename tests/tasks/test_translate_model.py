"""TranslateModel over the shared encoder-decoder is the model translation always built: held against a copy of
the model as it was (`LegacyTranslateModel`), a seeded build draws the same weights in the same parameter order
and computes the same logits (dropout included), and state dicts saved under the old names (embed.*, encoder.*)
load strictly, from a bundle through rnnlab.load too."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.bundle import save_bundle
from rnnlab.config import config_from_dict
from rnnlab.errors import UserError
from rnnlab.layers import Recurrent
from rnnlab.modules.decoder import AttentionDecoder, top_layer_final
from rnnlab.state import map_state
from rnnlab.tasks.translate import TranslateModel, TranslateModelConfig
from rnnlab.training import prepare_task

SOURCE_VOCAB, TARGET_VOCAB, PAD = 13, 11, 0


class LegacyTranslateModel(nn.Module):
    """The translation model before modules.encoder_decoder (kept verbatim as the reference)."""

    def __init__(self, source_vocab: int, target_vocab: int, cfg: TranslateModelConfig, pad_id: int):
        super().__init__()
        half = cfg.hidden_size  # per direction (the legacy model took the total and halved it: same layers)
        self.embed = nn.Embedding(source_vocab, cfg.embed_size, padding_idx=pad_id)
        self.drop = nn.Dropout(cfg.dropout)
        self.encoder = Recurrent(cfg.cell, cfg.embed_size, half, num_layers=cfg.num_layers, bidirectional=True,
                                 batch_first=True, dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
                                 engine=cfg.engine)
        self.decoder = AttentionDecoder(target_vocab, cfg.embed_size, cfg.decoder_size or 2 * half, 2 * half,
                                        final_size=2 * half, num_layers=cfg.num_layers, cell=cfg.cell,
                                        attention=cfg.attention, dropout=cfg.dropout, padding_idx=pad_id)

    def encode(self, source, lengths):
        outputs, state = self.encoder(self.drop(self.embed(source)), lengths=lengths.cpu())
        h_n = state[0] if isinstance(state, tuple) else state
        mask = torch.arange(source.shape[1], device=source.device).unsqueeze(0) < lengths.to(source.device).unsqueeze(1)
        return outputs, top_layer_final(h_n, 2), mask

    def forward(self, source, lengths, targets_in):
        outputs, final, mask = self.encode(source, lengths)
        return self.decoder(targets_in, outputs, final, mask)


def legacy_name(key: str) -> str:
    """Today's parameter name -> the one LegacyTranslateModel gives it."""
    if key.startswith("encoder.embed."):
        return key[len("encoder."):]
    if key.startswith("encoder.rnn."):
        return "encoder." + key[len("encoder.rnn."):]
    return key


def leaves(state) -> list[torch.Tensor]:
    found = []
    map_state(state, lambda t: found.append(t) or t)
    return found


CONFIGS = [dict(cell="gru"), dict(cell="lstm", num_layers=2, attention="additive"),
           dict(cell="rnn_relu", num_layers=3, attention="dot", embed_size=6), dict(cell="gru", engine="glass")]


def build(cls, seed: int = 0, **model):
    cfg = TranslateModelConfig(**{"embed_size": 5, "hidden_size": 8, "dropout": 0.25, **model})
    torch.manual_seed(seed)
    return cls(SOURCE_VOCAB, TARGET_VOCAB, cfg, PAD)


def batch():
    torch.manual_seed(3)
    lengths = torch.tensor([5, 2, 4])
    source = torch.randint(1, SOURCE_VOCAB, (3, 5))
    source[1, 2:], source[2, 4:] = PAD, PAD
    return source, lengths, torch.randint(1, TARGET_VOCAB, (3, 6))


@pytest.mark.parametrize("model", CONFIGS, ids=lambda m: "-".join(map(str, m.values())))
def test_a_seeded_build_is_the_legacy_model(model):
    old, new = build(LegacyTranslateModel, **model), build(TranslateModel, **model)
    old_params, new_params = list(old.named_parameters()), list(new.named_parameters())
    # same parameters, same order (the optimizer's state is keyed by position), same values
    assert [legacy_name(n) for n, _ in new_params] == [n for n, _ in old_params]
    for (_, a), (_, b) in zip(old_params, new_params):
        assert torch.equal(a, b)
    source, lengths, targets_in = batch()
    inputs = {"source": source, "source_lengths": lengths}
    for training in (False, True):  # with dropout: both draw the same masks in the same order
        old.train(training), new.train(training)
        torch.manual_seed(7)
        want = old(source, lengths, targets_in)
        torch.manual_seed(7)
        got = new(inputs, targets_in)
        assert torch.equal(want, got)
    with torch.no_grad():
        old.eval(), new.eval()
        outputs, final, mask = old.encode(source, lengths)
        state, memory, sizes = new.start(inputs)
        want_state = old.decoder.init_state(outputs, final, mask)
    assert torch.equal(memory.keys, outputs) and torch.equal(memory.mask, mask)
    assert len(leaves(state)) == len(leaves(want_state)) == (3 if model["cell"] == "lstm" else 2)
    assert all(torch.equal(a, b) for a, b in zip(leaves(want_state), leaves(state)))
    assert sizes.tolist() == lengths.tolist()


@pytest.mark.parametrize("model", CONFIGS[:2], ids=["gru", "lstm"])
def test_a_legacy_state_dict_loads_strictly(model):
    old, new = build(LegacyTranslateModel, seed=1, **model), build(TranslateModel, seed=2, **model)
    legacy = old.state_dict()
    assert "embed.weight" in legacy and "encoder.weight_ih_l0" in legacy
    kept = dict(legacy)
    new.load_state_dict(legacy, strict=True)
    assert list(legacy) == list(kept)  # the caller's dict is not renamed under it
    for name, value in new.state_dict().items():
        assert torch.equal(value, legacy[legacy_name(name)]), name
    # today's names load as they are, and a wrong one is still refused
    again = build(TranslateModel, seed=3, **model)
    again.load_state_dict(new.state_dict(), strict=True)
    assert all(torch.equal(a, b) for a, b in zip(again.parameters(), new.parameters()))
    broken = {("encoder.embed.weight" if k == "embed.weight" else k): v for k, v in legacy.items()}
    with pytest.raises(RuntimeError, match="encoder.weight_ih_l0"):
        again.load_state_dict(broken, strict=True)


def test_a_bundle_saved_with_legacy_names_loads_and_translates(tmp_path):
    """A bundle written before the encoder-decoder split (the weights under embed.* and encoder.*) loads through
    rnnlab.load as it is, and translates as today's model with those weights does."""
    pairs = [("red cat", "CAT RED"), ("a big dog", "DOG BIG A"), ("the blue sees", "SEES BLUE THE")]
    (tmp_path / "train.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in pairs))
    cfg = config_from_dict({"task": "translate", "run_dir": str(tmp_path / "run"),
                            "data": {"train": str(tmp_path / "train.tsv"), "tokenizer": "word"},
                            "model": {"hidden_size": 8, "embed_size": 6, "dropout": 0.0, "cell": "lstm"}})
    task, _ = prepare_task(cfg)
    model_cfg = dataclasses.replace(task.model_config, cell=task.cell)
    torch.manual_seed(0)
    legacy = LegacyTranslateModel(len(task.source), len(task.target), model_cfg, task.source.pad_id)
    path = save_bundle(tmp_path / "bundle", task, legacy, cfg, metrics={})
    predictor = rnnlab.load(path)
    assert isinstance(predictor.model, TranslateModel)
    torch.manual_seed(0)
    today = task.build_model().eval()
    texts = ["red cat", "a big dog", "zebra"]
    assert json.dumps(predictor.predict(texts)) == json.dumps(task.predict(today, texts))
    assert predictor.trace("a big dog")["attention"] == task.trace(today, "a big dog")["attention"]


def test_a_config_saved_before_hidden_size_meant_per_direction_builds_the_same_model(tmp_path):
    """translate's hidden_size was the decoder's size (half of it per encoder direction) and the beam width was
    beam_size; a bundle saved then (no decoder_size in its config) is migrated as it loads: same layers, same
    weights, same translations. A user's TOML with beam_size is told the new name."""
    pairs = [("red cat", "CAT RED"), ("a big dog", "DOG BIG A"), ("the blue sees", "SEES BLUE THE")]
    (tmp_path / "train.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in pairs))
    cfg = config_from_dict({"task": "translate", "run_dir": str(tmp_path / "run"),
                            "data": {"train": str(tmp_path / "train.tsv"), "tokenizer": "word"},
                            "model": {"hidden_size": 4, "embed_size": 6, "dropout": 0.0, "beam": 2}})
    task, _ = prepare_task(cfg)
    torch.manual_seed(0)
    model = task.build_model().eval()
    path = save_bundle(tmp_path / "bundle", task, model, cfg, metrics={})
    saved = json.loads((path / "config.json").read_text())
    old = {k: v for k, v in saved["model"].items() if k not in ("decoder_size", "beam")}
    saved["model"] = {**old, "hidden_size": 8, "beam_size": 2}  # as rnnlab wrote it before
    (path / "config.json").write_text(json.dumps(saved))
    predictor = rnnlab.load(path)
    assert (predictor.config.model.hidden_size, predictor.config.model.decoder_size) == (4, 8)
    assert predictor.config.model.beam == 2
    assert predictor.predict(["red cat", "zebra"]) == task.predict(model, ["red cat", "zebra"])
    with pytest.raises(UserError, match="model.beam_size was renamed to model.beam"):
        config_from_dict({"task": "translate", "data": {"train": "x.tsv"}, "model": {"beam_size": 3}})
