"""`rnnlab export`: every exportable task's bundle round-trips through onnxruntime (rnnlab.export), the exporters'
known traps are tested for every cell and direction, and an export that does not match PyTorch is refused."""
from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from torch import nn

from rnnlab.bundle import load
from rnnlab.cli import main
from rnnlab.config import load_config
from rnnlab.errors import UserError
from rnnlab.export import (
    CHECK_SIZES,
    RELATIVE_TOLERANCE,
    TRACE_SIZE,
    ExportMismatch,
    export_bundle,
    prepare,
    to_onnx,
    verify,
)
from rnnlab.layers import Recurrent
from rnnlab.runtime import load_predictor, torch_graphs
from rnnlab.tasks.base import ExportGraph, ExportTensor
from rnnlab.training import train

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' tiny_* data helpers
from same_predictions import assert_same_predictions  # noqa: E402
from tiny_intent import tiny_overrides, write_tiny_data  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _train(overrides: list[str]) -> Path:
    cfg = load_config(None, overrides + ["train.progress=false"])
    train(cfg, overwrite=True, echo=None)
    return Path(cfg.run_dir) / "bundle"


@pytest.fixture(scope="module")
def intent_bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("intent")
    return _train(tiny_overrides(write_tiny_data(root / "data"), root / "run", epochs=2) + ["model.cell=gru"])


def _onnx_outputs(out: Path, feed: dict[str, np.ndarray], graph: str = "model") -> list[np.ndarray]:
    """Run an export as a user would: onnxruntime and export.json only, no rnnlab."""
    meta = json.loads((out / "export.json").read_text())["graphs"][graph]
    session = onnxruntime.InferenceSession(str(out / meta["file"]), providers=["CPUExecutionProvider"])
    return session.run([o["name"] for o in meta["outputs"]], feed)


# ---- the round trip, per task ---------------------------------------------------------------------------------

def test_intent_export_round_trips_through_onnxruntime(intent_bundle, tmp_path):
    out = tmp_path / "export"
    meta = export_bundle(intent_bundle, out)
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "export.json", "model.onnx", "vocab.intents.json",
                                                     "vocab.words.json"]
    assert json.loads((out / "export.json").read_text()) == json.loads(json.dumps(meta))
    assert meta["task"] == "intent" and meta["opset"] >= 17
    assert list(meta["graphs"]) == ["model"] and meta["graphs"]["model"]["file"] == "model.onnx"
    assert [(i["name"], i["dtype"], i["shape"]) for i in meta["graphs"]["model"]["inputs"]] == [
        ("tokens", "int64", ["batch", "time"]), ("lengths", "int64", ["batch"])]
    assert [(o["name"], o["shape"], o["dynamic_axes"]) for o in meta["graphs"]["model"]["outputs"]] == [
        ("logits", ["batch", 3], [0]), ("step_logits", ["batch", "time", 3], [0, 1])]
    checks = meta["verified"]["checks"]
    assert {c["batch"] for c in checks} >= {1, 3} and len({c["length"] for c in checks}) >= 2
    assert 0 <= meta["verified"]["max_relative_diff"] <= RELATIVE_TOLERANCE
    # the vocabularies are the bundle's, byte for byte
    assert (out / "vocab.words.json").read_bytes() == (intent_bundle / "vocab.words.json").read_bytes()

    # a user's sentences, encoded with the copied vocabulary: the same answers as the bundle's
    predictor = load(intent_bundle)
    texts = ["what time is it", "play some jazz now please", "zebra"]
    words = json.loads((out / "vocab.words.json").read_text())  # what a user reads to encode their text
    intents = json.loads((out / "vocab.intents.json").read_text())["tokens"]
    index = {w: i for i, w in enumerate(words["tokens"])}
    for batch in ([texts[0]], texts):  # batch sizes 1 and 3, ragged lengths
        ids = [[index.get(w, index[words["unk"]]) for w in t.split()] for t in batch]
        lengths = np.array([len(i) for i in ids], dtype=np.int64)
        tokens = np.full((len(ids), lengths.max()), index[words["pad"]], dtype=np.int64)
        for b, i in enumerate(ids):
            tokens[b, : len(i)] = i
        logits, step_logits = _onnx_outputs(out, {"tokens": tokens, "lengths": lengths})
        answers = [intents[k] for k in logits.argmax(-1)]
        assert answers == [p["answer"]["label"] for p in predictor.predict(batch)]
        with torch.no_grad():
            want, want_steps = predictor.model(torch.from_numpy(tokens), torch.from_numpy(lengths))
        np.testing.assert_allclose(logits, want.numpy(), atol=1e-5, rtol=0)
        np.testing.assert_allclose(step_logits, want_steps.numpy(), atol=1e-5, rtol=0)


EXPORTED = ["intent", "intent_slots", "api_calls", "log_anomaly", "forecast", "charlm", "wordlm", "spoken_word",
            "speech", "translate"]


def runs_from_export(task) -> bool:
    """Whether the task predicts from an export's graphs (Task.predict_graphs; rnnlab predict OUT --runtime onnx)."""
    from rnnlab.tasks.base import Task

    cls = task if isinstance(task, type) else type(task)
    return cls.predict_graphs is not Task.predict_graphs


def _parse(task, raw: str, folder: Path) -> list:
    """One of the contract tests' INPUTS as predict takes it: a text, a file's inputs, or a CSV's text as a file."""
    from rnnlab.tasks.base import FILE_KINDS

    if task.input_kind not in FILE_KINDS:
        return [task.parse_input(raw)]
    if "\n" not in raw and Path(raw).is_file():  # a CSV's text is no path (and too long a name to stat)
        return [x for _, x in task.inputs_from_file(raw)]
    return [x for _, x in task.parse_bytes(raw.encode(), str(folder / "input.csv"))]


@pytest.fixture(scope="module")
def toy_data():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tasks"))
    from test_contract import TOY_DATA  # the contract tests' toy data of every task

    return TOY_DATA


@pytest.fixture(scope="module")
def toy_inputs(toy_data):
    from test_contract import INPUTS  # inputs of every task's kind, unknown words included

    return INPUTS


def test_intent_runs_from_its_export():  # the others follow as their predict_graphs lands
    from rnnlab.tasks import get_task_class

    assert runs_from_export(get_task_class("intent"))


@pytest.mark.parametrize("name", EXPORTED)
def test_every_task_exports_and_round_trips_through_onnxruntime(name, toy_data, toy_inputs, tmp_path):
    bundle = _train([f"task={name}", *toy_data[name](tmp_path), f"run_dir={tmp_path / 'run'}", "train.epochs=1",
                     "train.batch_size=4"])
    out = tmp_path / "export"
    meta = export_bundle(bundle, out)
    assert meta["task"] == name and 0 <= meta["verified"]["max_relative_diff"] <= RELATIVE_TOLERANCE
    state = sorted(p.name for p in bundle.iterdir() if p.suffix == ".json" and p.stem not in ("config", "metrics"))
    graph_files = [g["file"] for g in meta["graphs"].values()]
    assert sorted(p.name for p in out.iterdir()) == sorted(["README.md", "export.json", *graph_files, *state]) and state
    assert meta["files"] == state
    # the written model, run from export.json alone, against a freshly loaded bundle: batch sizes 1 and 3,
    # two lengths, ragged where the model takes lengths
    predictor = load(bundle)
    task, model = predictor.task, predictor.model
    graphs = task.export_graph(model)
    graphs = {k: prepare(g) for k, g in (graphs.items() if isinstance(graphs, dict) else [("model", graphs)])}
    assert list(meta["graphs"]) == list(graphs)
    for (batch, length), (name, graph) in itertools.product(((1, 5), (3, 9)), graphs.items()):
        spec = meta["graphs"][name]
        example = task.export_example(model, batch, length, seed=batch)
        feed = {i["name"]: example[i["name"]].numpy() for i in spec["inputs"]}
        assert [str(v.dtype) for v in feed.values()] == [i["dtype"] for i in spec["inputs"]]
        got = _onnx_outputs(out, feed, name)
        with torch.no_grad():
            want = graph.module(*(example[i["name"]] for i in spec["inputs"]))
        want = want if isinstance(want, tuple) else (want,)
        for output, g, w in zip(spec["outputs"], got, want):
            assert str(g.dtype) == output["dtype"] and g.ndim == len(output["shape"])
            assert all(isinstance(d, str) or g.shape[i] == d for i, d in enumerate(output["shape"]))
            w = w.float()  # a mask's bools, lengths' ints compared as numbers
            scale = max(1.0, float(w.abs().max()))
            np.testing.assert_allclose(g.astype(np.float64), w.numpy(), atol=RELATIVE_TOLERANCE * scale, rtol=0,
                                       err_msg=output["name"])

    # `rnnlab predict OUT` (--runtime onnx): the export's graphs in onnxruntime give the bundle's answers
    inputs = [x for raw in toy_inputs[meta['task']] for x in _parse(task, raw, tmp_path)]
    served = load_predictor(out)
    assert served.runtime == "onnx" and served.task.name == meta["task"]
    if not runs_from_export(task):  # said in one line, not a traceback nor a wrong answer
        with pytest.raises(UserError, match="cannot predict from an export yet"):
            served.predict(inputs)
        return
    for batch in (inputs[:1], inputs):
        assert_same_predictions(served.predict(batch), predictor.predict(batch))
    # the same code on the PyTorch graphs (runtime.torch_graphs): the graphs, not the decoding, differ
    assert_same_predictions(task.predict_graphs(torch_graphs(task, model), inputs), predictor.predict(inputs))


# ---- the exporters' traps, for every cell and direction ---------------------------------------------------------

class _Stack(nn.Module):
    """Two Recurrent layers' worth of a model: a front end (a scale buffer) and a per-step output."""

    def __init__(self, cell: str, bidirectional: bool, engine: str):
        super().__init__()
        self.register_buffer("scale", torch.tensor([0.5, 2.0, 1.0, 3.0]))
        self.rnn = Recurrent(cell, 4, 6, num_layers=2, bidirectional=bidirectional, batch_first=True, engine=engine)

    def forward(self, x, lengths):
        out, state = self.rnn(x * self.scale, lengths=lengths)  # out (B, T, D*H)
        h = state[0] if isinstance(state, tuple) else state  # (L*D, B, H)
        return out, h.transpose(0, 1).reshape(x.shape[0], -1)  # (B, L*D*H)


def _stack_graph(cell: str, bidirectional: bool, engine: str = "fused") -> ExportGraph:
    torch.manual_seed(0)
    module = _Stack(cell, bidirectional, engine)
    with torch.no_grad():  # weights of a trained model's size, so that a wrong formula shows
        for p in module.rnn.parameters():
            p.uniform_(-0.8, 0.8)
    return ExportGraph(module, inputs=(ExportTensor("x", "float32", ("batch", "time", "features")),
                                       ExportTensor("lengths", "int64", ("batch",))),
                       outputs=(ExportTensor("out", "float32", ("batch", "time", "units")),
                                ExportTensor("final", "float32", ("batch", "state"))))


def _series(batch: int, length: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, length + 1, (batch,), generator=g)
    lengths[0] = length
    return {"x": torch.randn(batch, length, 4, generator=g), "lengths": lengths}


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_every_cell_and_direction_exports_with_free_axes_and_ragged_batches(cell, bidirectional):
    # the glass engine's Python loop would be unrolled to the example's length: prepare() switches to fused
    graph = prepare(_stack_graph(cell, bidirectional, engine="glass"))
    assert graph.module.rnn.engine == "fused"
    model = onnx.load_from_string(to_onnx(graph, _series(*TRACE_SIZE, seed=0)))
    ops = [n for n in model.graph.node if n.op_type in ("RNN", "LSTM", "GRU")]
    assert len(ops) == 2  # one per layer, both directions in one op
    for node in ops:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert attrs.get("direction", b"forward") == (b"bidirectional" if bidirectional else b"forward")
        if cell == "gru":  # torch's GRU: r * (W_hn h + b_hn), ONNX's linear_before_reset=1
            assert attrs["linear_before_reset"] == 1
        assert node.input[4], "the ragged batch reaches the op as sequence_lens"
    # the batch and time axes are free: symbolic dimensions, not the example's 2 and 7
    x_dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param != "" for d in x_dims] == [True, True, False]
    # and onnxruntime agrees with torch at other batch sizes and lengths, ragged
    checks = verify(model.SerializeToString(), graph,
                    {(b, t): _series(b, t, seed=i + 1) for i, (b, t) in enumerate(CHECK_SIZES)})
    assert [(c.batch, c.length) for c in checks] == list(CHECK_SIZES)
    assert all(d <= 1e-5 for c in checks for d in c.max_abs_diff.values())


def test_a_gru_written_with_linear_before_reset_0_is_caught():
    """The dynamo exporter's GRU trap, recreated by hand: the check must see it."""
    graph = prepare(_stack_graph("gru", bidirectional=True))
    model = onnx.load_from_string(to_onnx(graph, _series(*TRACE_SIZE, seed=0)))
    _set_gru_linear_before_reset(model, 0)
    with pytest.raises(ExportMismatch, match=r"differs from PyTorch's by .* at batch 1, length 4"):
        verify(model.SerializeToString(), graph, {(1, 4): _series(1, 4, seed=1)})


def test_a_time_axis_fixed_to_the_examples_length_is_caught():
    graph = prepare(_stack_graph("lstm", bidirectional=False, engine="glass"))
    graph.module.rnn.engine = "glass"  # unrolled by the tracer: the graph holds exactly 7 steps
    onnx_bytes = to_onnx(graph, _series(*TRACE_SIZE, seed=0))
    verify(onnx_bytes, graph, {(3, 7): _series(3, 7, seed=1)})  # at the traced length it looks right...
    with pytest.raises(ExportMismatch, match="could not run the export at batch 3, length 11"):  # ...not at others
        verify(onnx_bytes, graph, {(3, 11): _series(3, 11, seed=2)})


def _set_gru_linear_before_reset(model: onnx.ModelProto, value: int) -> None:
    for node in model.graph.node:
        if node.op_type == "GRU":
            for a in node.attribute:
                if a.name == "linear_before_reset":
                    a.i = value


# ---- refusing ---------------------------------------------------------------------------------------------------

def test_a_wrong_export_is_refused_and_nothing_is_written(intent_bundle, tmp_path, monkeypatch):
    import rnnlab.export as export

    right = export.to_onnx

    def wrong(graph, example, opset=export.OPSET):
        model = onnx.load_from_string(right(graph, example, opset))
        _set_gru_linear_before_reset(model, 0)
        return model.SerializeToString()

    monkeypatch.setattr(export, "to_onnx", wrong)
    out = tmp_path / "export"
    with pytest.raises(ExportMismatch, match="the export is wrong"):
        export_bundle(intent_bundle, out)
    assert not out.exists() and list(tmp_path.iterdir()) == []
    # an export already there survives a failed --force
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(ExportMismatch):
        export_bundle(intent_bundle, out, force=True)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]  # no temporary left beside it


def test_the_cli_refuses_to_overwrite_without_force(intent_bundle, tmp_path, capsys):
    out = tmp_path / "export"
    assert main(["export", str(intent_bundle), str(out)]) == 0
    assert "onnxruntime matches torch" in capsys.readouterr().out
    first = (out / "model.onnx").read_bytes()
    assert main(["export", str(intent_bundle), str(out)]) == 1
    assert capsys.readouterr().err.strip() == f"rnnlab export: error: {out} exists; give --force to replace it"
    assert main(["export", str(intent_bundle), str(out), "--force"]) == 0
    assert (out / "model.onnx").read_bytes() == first  # deterministic
    # never over the bundle it reads
    assert main(["export", str(intent_bundle), str(intent_bundle), "--force"]) == 1
    assert "is a bundle, not an export" in capsys.readouterr().err
    assert (intent_bundle / "config.json").exists()


def test_a_task_without_export_says_so_in_one_line():
    from rnnlab.tasks.base import Task

    with pytest.raises(UserError, match="cannot be exported yet"):
        Task(None, None).export_graph(nn.Linear(1, 1))


def test_a_greedy_search_loop_over_the_translate_graphs_gives_torchs_translation(toy_data, tmp_path):
    """The two graphs driven as a search loop drives them (state and feed passed back each step) pick the same
    pieces as torch's own greedy search over the bundle."""
    from rnnlab.decoding.seq2seq import generate

    bundle = _train(["task=translate", *toy_data["translate"](tmp_path), f"run_dir={tmp_path / 'run'}",
                     "train.epochs=2", "train.batch_size=4"])
    out = tmp_path / "export"
    meta = export_bundle(bundle, out)
    predictor = load(bundle)
    task, model = predictor.task, predictor.model
    sessions = {name: onnxruntime.InferenceSession(str(out / g["file"]), providers=["CPUExecutionProvider"])
                for name, g in meta["graphs"].items()}
    step_inputs = [i["name"] for i in meta["graphs"]["decoder_step"]["inputs"]]
    example = task.export_example(model, 3, 6, seed=5)  # three ragged sources
    source, lengths = example["source"].numpy(), example["source_lengths"].numpy()
    start = dict(zip([o["name"] for o in meta["graphs"]["encoder"]["outputs"]],
                     sessions["encoder"].run(None, {"source": source, "source_lengths": lengths})))
    carried = {k[:-2]: v for k, v in start.items() if k.endswith("_0")}  # h, (c), feed
    y = np.full(3, 2, dtype=np.int64)  # <s>
    picked = []
    for _ in range(8):
        feed = {"y_prev": y, **carried, **{k: start[k] for k in ("keys", "mask", "projected") if k in step_inputs}}
        outs = dict(zip([o["name"] for o in meta["graphs"]["decoder_step"]["outputs"]],
                        sessions["decoder_step"].run(None, {k: feed[k] for k in step_inputs})))
        if not picked:  # search's min_len 1: never </s> (id 3) first
            outs["log_probs"][:, 3] = -np.inf
        y = outs["log_probs"].argmax(-1)
        carried = {k[:-5]: v for k, v in outs.items() if k.endswith("_next")}
        picked.append(y)
    picked = np.stack(picked, 1)  # (B, 8)
    with torch.no_grad():
        want = generate(model, {"source": example["source"], "source_lengths": example["source_lengths"]},
                        bos=2, eos=3, max_len_a=0.0, max_len_b=8)
    assert [row[: len(hyp.tokens)].tolist() for row, hyp in zip(picked, want)] == [h.tokens for h in want]
    assert all(h.tokens for h in want)


def test_the_docs_onnxruntime_example_runs_as_written(intent_bundle, tmp_path, capsys):
    """docs/export.md's Python block, run on an export of the tiny intent bundle: the bundle's own answers."""
    import re

    doc = (Path(__file__).resolve().parents[2] / "docs" / "export.md").read_text()
    code = re.search(r"```python\n(.*?)```", doc, re.S).group(1)
    out = tmp_path / "export"
    export_bundle(intent_bundle, out)
    exec(compile(code, "docs/export.md", "exec"), {"EXPORT": str(out)})
    answers = [p["answer"]["label"] for p in load(intent_bundle).predict(["what time is it", "play some jazz"])]
    assert capsys.readouterr().out.strip() == str(answers)


VARIANTS = [  # the models' other branches: ensembles, CRF, chunks, attention kinds, heads, frame stacking
    ("intent_slots", ["model.members=2", "model.crf=true", "model.attention_pool=true", "model.cell=lstm",
                      "model.num_layers=2"]),
    ("api_calls", ["data.strategy=chunks", "data.chunk_size=4", "data.max_chunks=3", "model.chunk_pool=attention",
                   "model.run_feature=true", "data.max_run=1", "model.bag_size=20"]),
    ("forecast", ["model.arch=rnn", "model.head=gaussian", "model.norm=revin"]),
    ("translate", ["model.attention=additive", "model.cell=lstm", "model.num_layers=2"]),
    ("translate", ["model.attention=dot", "model.cell=rnn_relu"]),
    ("speech", ["model.subsample=2", "model.cell=gru"]),
    ("spoken_word", ["model.pool=attention", "model.cell=lstm"]),
    ("wordlm", ["model.cell=lstm", "model.num_layers=2"]),
    ("intent", ["model.cell=rnn_relu", "model.num_layers=2", "model.engine=glass"]),
]


@pytest.mark.parametrize("name,overrides", VARIANTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(VARIANTS)])
def test_other_model_variants_verify(name, overrides, toy_data, tmp_path):
    """Untrained but fitted models (weights as built) of each variant: every graph verifies in onnxruntime."""
    from rnnlab.training import prepare_task, seed_everything

    cfg = load_config(None, [f"task={name}", *toy_data[name](tmp_path), f"run_dir={tmp_path / 'run'}",
                             "train.progress=false", *overrides])
    seed_everything(0)
    task, _ = prepare_task(cfg)
    model = task.build_model().eval()
    graphs = task.export_graph(model)
    for graph in (graphs.values() if isinstance(graphs, dict) else [graphs]):
        prepare(graph)
        onnx_bytes = to_onnx(graph, task.export_example(model, *TRACE_SIZE, seed=0))
        checks = verify(onnx_bytes, graph, {(b, t): task.export_example(model, b, t, seed=i + 1)
                                            for i, (b, t) in enumerate(CHECK_SIZES)})
        assert len(checks) == len(CHECK_SIZES)
        assert all(d <= RELATIVE_TOLERANCE * c.scale[k] for c in checks for k, d in c.max_abs_diff.items())
