"""benchmarks/syscalls.py on toy traces the tests write in the ADFA-LD layout: the reader, the seeded split, the
thresholds (set on held-out normal scores only, applied unchanged to the test), the measured test FPR, per-type
recall, and a whole run whose attacks are trivially separable (ROC AUC 1.0 for every baseline)."""
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
TYPES = ("Adduser", "Hydra_FTP", "Hydra_SSH", "Java_Meterpreter", "Meterpreter", "Web_Shell")


@pytest.fixture(scope="module")
def bench(benchmark_module):
    return benchmark_module("syscalls")


def normal_trace(rng) -> list[int]:
    # normal use: a loop over one cycle of calls, entered at a random place, of varying length
    cycle = [3, 4, 5, 6, 5, 4, 3, 192, 91]
    start, n = int(rng.integers(len(cycle))), int(rng.integers(20, 80))
    return [cycle[(start + i) % len(cycle)] for i in range(n)]


def attack_trace(rng, kind: int) -> list[int]:
    # an attack: a few normal calls, then a long run of calls normal use never makes (102 + type, 300), in an order
    # it never has: new windows for STIDE, most of the frequency vector in calls normal traces lack
    return normal_trace(rng)[:5] + [102 + kind, 11, 102 + kind, 300] * int(rng.integers(10, 20))


def write(path: Path, trace: list[int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(" ".join(map(str, trace)) + " \n")


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("adfa")
    rng = np.random.default_rng(0)
    for i in range(40):
        write(root / "Training_Data_Master" / f"UTD-{i:04d}.txt", normal_trace(rng))
    for i in range(60):
        write(root / "Validation_Data_Master" / f"UVD-{i:04d}.txt", normal_trace(rng))
    for k, kind in enumerate(TYPES):
        for run in (1, 2):
            for j in range(2 + k % 2):
                write(root / "Attack_Data_Master" / f"{kind}_{run}" / f"UAD-{kind}-{run}-{j}.txt", attack_trace(rng, k))
    return root


def test_reader_reads_the_adfa_layout(bench, toy):
    data = bench.read_adfa(toy)
    assert len(data["train"]) == 40 and len(data["validation"]) == 60
    assert len(data["attack"]) == len(data["attack_types"]) == sum(2 * (2 + k % 2) for k in range(6))
    assert set(data["attack_types"]) == set(TYPES)  # Hydra_FTP_2 -> Hydra_FTP: the run number is cut, not the type
    assert all(isinstance(c, int) for t in data["train"] for c in t)
    assert data["names"]["train"] == sorted(data["names"]["train"])
    assert bench.attack_type("Java_Meterpreter_10") == "Java_Meterpreter"
    with pytest.raises(ValueError):
        bench.attack_type("Adduser")


def test_split_is_seeded_disjoint_and_holds_out_a_fifth(bench):
    fit, held = bench.split_training(833)
    assert len(held) == round(0.2 * 833) and len(fit) + len(held) == 833
    assert not set(fit) & set(held)
    again = bench.split_training(833)
    assert np.array_equal(fit, again[0]) and np.array_equal(held, again[1])
    assert not np.array_equal(held, bench.split_training(833, seed=1)[1])


def test_stide_scores_the_share_of_unseen_windows(bench):
    stide = bench.Stide(3).fit([[1, 2, 3, 4, 5]])
    # windows of [1 2 3 9 5]: (1 2 3) seen, (2 3 9) and (3 9 5) not
    assert stide.score([[1, 2, 3, 4, 5], [1, 2, 3, 9, 5], [1, 2]]).tolist() == pytest.approx([0.0, 2 / 3, 1.0])


def test_unseen_calls_add_to_the_frequency_vector(bench):
    f = bench.Frequencies("freq").fit([[1, 2, 2], [1, 3]])
    v = f.transform([[1, 2, 99, 99]])
    assert v.shape == (1, 4) and v.sum() == pytest.approx(1.0) and v[0, -1] == pytest.approx(0.5)
    t = bench.Frequencies("tfidf").fit([[1, 2, 2], [1, 3]]).transform([[1, 2, 99, 99]])
    assert t[0, -1] > 0 and np.linalg.norm(t) == pytest.approx(1.0)


def test_thresholds_come_from_heldout_normal_only(bench):
    rng = np.random.default_rng(0)
    heldout = np.arange(100, dtype=float)  # 0 .. 99
    normal = rng.uniform(0, 120, size=400)
    attack = np.r_[np.full(5, 98.5), np.full(5, 200.0)]
    kinds = ["a"] * 5 + ["b"] * 5
    row = bench.detector_row(heldout, normal, attack, kinds)
    at1, at5 = row["at_heldout_fpr_0.01"], row["at_heldout_fpr_0.05"]
    # 1 % of 100 held-out scores: flag > the 2nd highest (98), so 1 of them (99) is above; 5 %: > 94
    assert at1["threshold"] == 98.0 and at1["heldout_fp"] == 1 and at5["threshold"] == 94.0
    # the test FPR is measured on the test normal scores, whatever it comes to
    assert at1["test_fpr"] == pytest.approx((normal > 98.0).mean(), abs=1e-4) and at1["test_fp"] == (normal > 98).sum()
    assert at1["recall"] == 1.0 and at1["per_attack_type"]["a"] == {"recall": 1.0, "tp": 5, "traces": 5}
    # test scores move: the thresholds do not
    shifted = bench.detector_row(heldout, normal + 50, attack - 150, kinds)
    assert shifted["at_heldout_fpr_0.01"]["threshold"] == 98.0 and shifted["at_heldout_fpr_0.05"]["threshold"] == 94.0
    assert shifted["at_heldout_fpr_0.01"]["recall"] == 0.0
    assert shifted["at_heldout_fpr_0.01"]["per_attack_type"]["b"]["recall"] == 0.0
    # held-out scores move: so do the thresholds
    assert bench.detector_row(heldout + 1, normal, attack, kinds)["at_heldout_fpr_0.01"]["threshold"] == 99.0
    assert row["roc_auc"] == pytest.approx(__import__("sklearn.metrics").metrics.roc_auc_score(
        np.r_[np.zeros(400), np.ones(10)], np.r_[normal, attack]), abs=1e-4)


def test_choice_prefers_recall_then_auc_then_grid_order(bench):
    table = [{"synthetic_recall_at_1pct": 0.5, "synthetic_roc_auc": 0.9},
             {"synthetic_recall_at_1pct": 0.7, "synthetic_roc_auc": 0.8},
             {"synthetic_recall_at_1pct": 0.7, "synthetic_roc_auc": 0.8}]
    assert bench.choose(table) == 1
    table[2]["synthetic_roc_auc"] = 0.85
    assert bench.choose(table) == 2


def test_synthetic_anomalies_keep_length_and_known_calls(bench):
    fit = [[1, 2, 3, 4]] * 3
    traces = [[1, 2, 3, 4] * 10, [1, 2, 3]]
    synth = bench.synthetic_anomalies(traces, fit, fraction=0.1, copies=2, seed=0)
    assert len(synth) == 4 and [len(t) for t in synth] == [40, 3, 40, 3]
    assert {c for t in synth for c in t} <= {1, 2, 3, 4}
    assert synth == bench.synthetic_anomalies(traces, fit, fraction=0.1, copies=2, seed=0)


def test_toy_run_writes_its_json_and_separates_the_attacks(bench, toy, tmp_path):
    out = tmp_path / "adfa.json"
    assert bench.main(["--data", str(toy), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert (tmp_path / "adfa_roc.png").stat().st_size > 0
    assert result["network"] is None and "network_absent" in result and result["targets"] == []
    assert list(result["anchors"].values())[0]["roc_auc"] == 0.928
    assert {"cpu", "cpu_capability", "native_bf16", "threads"} <= set(result["machine"])
    split = result["split"]
    assert split["fit_traces"] == 32 and split["heldout_normal_traces"] == 8
    assert result["data"]["attack_traces_per_type"] == {k: 2 * (2 + i % 2) for i, k in enumerate(TYPES)}
    assert set(result["detectors"]) == {"stide", "ocsvm", "iforest", "knn"}
    for name, row in result["detectors"].items():
        # the toy attacks are trivially separable; an isolation forest of 32 fit traces may isolate one odd normal
        # trace as fast as the attacks
        assert row["roc_auc"] >= (0.95 if name == "iforest" else 1.0), name
        assert row["counts"] == {"heldout_normal": 8, "test_normal": 60, "test_attack": 30}
        assert row["setting"] in [{k: v for k, v in s.items() if not k.startswith("synthetic")}
                                  for s in row["selection"]]
        for fpr in ("0.01", "0.05"):
            at = row[f"at_heldout_fpr_{fpr}"]
            assert set(at["per_attack_type"]) == set(TYPES)
            assert sum(v["traces"] for v in at["per_attack_type"].values()) == 30
            assert at["test_fpr"] == pytest.approx(at["test_fp"] / 60, abs=1e-4)
            # 8 held-out traces: at 1 % and at 5 % no held-out trace may be above the threshold
            assert at["heldout_fp"] == 0
    # stide: the toy's normal traces are one cycle, so every held-out window was seen and every attack has new ones
    stide = result["detectors"]["stide"]["at_heldout_fpr_0.01"]
    assert stide["threshold"] == 0.0 and stide["recall"] == 1.0 and stide["test_fpr"] == 0.0
    assert len(result["verdicts"]) == 5  # one line per detector and the best baseline
    for row in result["detectors"].values():  # test is scored once, for the chosen setting only
        assert "oracle" not in row


def test_network_row_on_toy_traces(bench, toy, tmp_path):
    """--network trains configs/adfa.toml (tiny overrides) on the fit part, validates on the held-out part, and its
    row and targets come out as the baselines' do."""
    if not bench.CONFIG.exists():
        pytest.skip("configs/adfa.toml is not there")
    out = tmp_path / "adfa.json"
    assert bench.main(["--data", str(toy), "--out", str(out), "--network", "--runs", str(tmp_path / "runs"),
                       "--threads", "1", "train.epochs=1", "train.max_minutes=0", "model.hidden_size=8",
                       "model.embed_size=8", "model.num_layers=1", "model.min_count=1"]) == 0
    result = json.loads(out.read_text())
    assert list(result["detectors"])[0] == "network" and "network_absent" not in result
    net = result["detectors"]["network"]
    assert net["counts"] == {"heldout_normal": 8, "test_normal": 60, "test_attack": 30} and 0 <= net["roc_auc"] <= 1
    assert result["network"]["config"] == "configs/adfa.toml" and result["network"]["epochs_run"] == 1
    targets = {t["name"]: t for t in result["targets"]}
    assert list(targets) == ["network_roc_auc", "network_roc_auc_vs_best_baseline"]
    assert targets["network_roc_auc"]["value"] == net["roc_auc"] and targets["network_roc_auc"]["target"] == 0.93
    best = max((r["roc_auc"] for n, r in result["detectors"].items() if n != "network"))
    assert targets["network_roc_auc_vs_best_baseline"]["target"] == best
    # the network trained on the fit part, checked on the held-out part: links to those Training traces only
    split = result["split"]
    linked = sorted(p.name for p in (tmp_path / "runs" / "adfa-split" / "heldout").iterdir())
    assert linked == sorted(split["heldout_names"])
    assert len(list((tmp_path / "runs" / "adfa-split" / "fit").iterdir())) == split["fit_traces"]


def test_network_row_links_the_split_and_needs_its_recipe(bench, toy, tmp_path, monkeypatch):
    names = bench.read_adfa(toy)["names"]["train"]
    linked = bench.link_traces(tmp_path / "fit", toy, names[:3])
    files = sorted(linked.iterdir())
    assert [f.name for f in files] == names[:3] and all(f.is_symlink() for f in files)  # links, not copies
    assert bench.link_traces(tmp_path / "fit", toy, names[3:4]).joinpath(names[3]).exists()
    assert [f.name for f in linked.iterdir()] == [names[3]]  # relinking leaves no stale trace
    monkeypatch.setattr(bench, "CONFIG", tmp_path / "no-such.toml")
    with pytest.raises(SystemExit, match="does not exist"):
        bench.main(["--data", str(toy), "--out", str(tmp_path / "adfa.json"), "--network", "--runs",
                    str(tmp_path / "runs")])


def test_ensemble_row_beside_the_single_run(bench, toy, tmp_path):
    """--seeds 2: a second seed is trained, the two are standardised on held-out normal traces and averaged into a
    network_ensemble row; the targets still judge the single run, against the baselines only."""
    if not bench.CONFIG.exists():
        pytest.skip("configs/adfa.toml is not there")
    out = tmp_path / "adfa.json"
    assert bench.main(["--data", str(toy), "--out", str(out), "--network", "--seeds", "2", "--runs",
                       str(tmp_path / "runs"), "--threads", "1", "train.epochs=1", "train.max_minutes=0",
                       "model.hidden_size=8", "model.embed_size=8", "model.num_layers=1", "model.min_count=1"]) == 0
    result = json.loads(out.read_text())
    assert list(result["detectors"])[:2] == ["network", "network_ensemble"]
    members = result["detectors"]["network_ensemble"]["facts"]["members"]
    assert [m["seed"] for m in members] == [0, 1]
    assert (tmp_path / "runs" / "bench-adfa-seed1" / "bundle").is_dir()
    targets = {t["name"]: t for t in result["targets"]}
    assert targets["network_roc_auc"]["value"] == result["detectors"]["network"]["roc_auc"]
    best = max(r["roc_auc"] for n, r in result["detectors"].items() if not n.startswith("network"))
    assert targets["network_roc_auc_vs_best_baseline"]["target"] == best


def test_variants_and_the_weighted_ensemble_of_every_detector(bench, toy, tmp_path):
    """--variant trains the recipe again with other overrides (a row of its own); network_models joins the recipe and
    its variants; ensemble_all joins every network and baseline, weighted by held-out vs synthetic ROC AUC - 0.5."""
    if not bench.CONFIG.exists():
        pytest.skip("configs/adfa.toml is not there")
    out = tmp_path / "adfa.json"
    tiny = ["train.epochs=1", "train.max_minutes=0", "model.hidden_size=8", "model.embed_size=8",
            "model.num_layers=1", "model.min_count=1"]
    assert bench.main(["--data", str(toy), "--out", str(out), "--network", "--variant", "model.cell=gru",
                       "--runs", str(tmp_path / "runs"), "--threads", "1", *tiny]) == 0
    result = json.loads(out.read_text())
    rows = result["detectors"]
    assert list(rows)[:4] == ["network", "network[model.cell=gru]", "network_models", "ensemble_all"]
    assert rows["network[model.cell=gru]"]["facts"]["cell"] == "gru" and rows["network"]["facts"]["cell"] == "lstm"
    assert (tmp_path / "runs" / "bench-adfa-v1" / "bundle").is_dir()
    assert rows["network_models"]["facts"]["members"] == ["network", "network[model.cell=gru]"]
    weights = rows["ensemble_all"]["facts"]["weights"]
    assert set(weights) == {"network", "network[model.cell=gru]", "stide", "ocsvm", "iforest", "knn"}
    assert all(0.0 <= w <= 0.5 for w in weights.values()) and sum(weights.values()) > 0
    # the targets judge the recipe's single run against the four baselines only, never an ensemble
    targets = {t["name"]: t for t in result["targets"]}
    assert targets["network_roc_auc"]["value"] == rows["network"]["roc_auc"]
    assert targets["network_roc_auc_vs_best_baseline"]["target"] == max(rows[n]["roc_auc"] for n in bench.BASELINES)


def test_synthetic_weights_give_chance_level_members_nothing(bench):
    good = {"heldout": np.array([0.0, 1.0, 2.0]), "synthetic": np.array([5.0, 6.0])}  # AUC 1 -> 0.5
    chance = {"heldout": np.array([0.0, 1.0]), "synthetic": np.array([0.0, 1.0])}  # AUC 0.5 -> 0
    worse = {"heldout": np.array([5.0, 6.0]), "synthetic": np.array([0.0, 1.0])}  # AUC 0 -> 0, never negative
    assert bench.synthetic_weights({"g": good, "c": chance, "w": worse}) == {"g": 0.5, "c": 0.0, "w": 0.0}
    a = {"heldout": np.array([0.0, 2.0]), "test_normal": np.array([1.0]), "test_attack": np.array([5.0])}
    b = {"heldout": np.array([0.0, 2.0]), "test_normal": np.array([3.0]), "test_attack": np.array([-1.0])}
    out = bench.ensemble_scores([a, b], [3.0, 1.0])  # standardised: a (0, 4), b (2, -2); weighted 3 : 1
    assert np.allclose(out["test_normal"], [0.5]) and np.allclose(out["test_attack"], [2.5])
    with pytest.raises(ValueError, match="weights"):
        bench.ensemble_scores([a, b], [0.0, 0.0])


def test_ensemble_scores_standardise_each_member_on_heldout_normal(bench):
    a = {"heldout": np.array([0.0, 2.0]), "test_normal": np.array([1.0]), "test_attack": np.array([5.0])}
    b = {k: 10 * v + 3 for k, v in a.items()}  # the same member on another scale: the same standardised scores
    out = bench.ensemble_scores([a, b])
    assert np.allclose(out["heldout"], [-1.0, 1.0]) and np.allclose(out["test_normal"], [0.0])
    assert np.allclose(out["test_attack"], [4.0])
