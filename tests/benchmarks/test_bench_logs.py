"""benchmarks/logs.py --quick writes the JSON the full run writes (structure, not accuracy: one epoch on a slice)."""
import importlib.util
import json
import os
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "logs.py"


@pytest.mark.skipif(not os.environ.get("RNNLAB_DATA"), reason="RNNLAB_DATA is not set: the benchmark reads real logs")
def test_quick_benchmark_writes_its_json(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_logs", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "logs.json"
    threads = torch.get_num_threads()
    try:
        assert bench.main(["--quick", "--threads", "1", "--runs", str(tmp_path / "runs"), "--out", str(out),
                           "train.epochs=1", "model.hidden_size=16"]) == 0
    finally:
        torch.set_num_threads(threads)  # the benchmark sets it for the whole process
    result = json.loads(out.read_text())
    assert result["quick"] and out.with_suffix(".png").stat().st_size > 0
    # the network by its largest surprise (DeepLog) and by the length-robust scores (issue 32), then the baselines
    names = {"network", "network_mean", "network_q95", "new_event", "length", "2gram", "count_nn"}
    hdfs, openstack = result["hdfs"], result["openstack"]
    assert set(hdfs["detectors"]) == names == set(openstack["detectors"])
    split = hdfs["split"]
    assert split["held_out_normal_sessions"] == 120 and split["abnormal_sessions"] == 1500
    assert sum(split["halves"]) == 120 and abs(split["halves"][0] - split["halves"][1]) <= 1
    assert split["held_out_copies_of_training_sessions"] + split["held_out_novel_sessions"] == 120
    mix = split["real_test_mix"]
    assert (mix["normal"], mix["abnormal"]) == (553_366, 16_838)
    for d in hdfs["detectors"].values():
        at = d["at_fpr_0.01"]
        assert len(at["folds"]) == 2 and at["normal"] == 120 and at["fp"] == sum(f["fp"] for f in at["folds"])
        for fold, other in zip(at["folds"], reversed(at["folds"])):
            # each threshold is set on one half and measured on the other, never on its own half
            assert fold["fit_on"] == other["measured_on"] and fold["fit_on"] + fold["measured_on"] == 120
            assert fold["fpr"] == pytest.approx(fold["fp"] / fold["measured_on"], abs=1e-4)
            # precision at DeepLog's mix from the fold's exact counts (its rates are rounded)
            recall, fpr = fold["tp"] / split["abnormal_sessions"], fold["fp"] / fold["measured_on"]
            tp, fp = recall * mix["abnormal"], fpr * mix["normal"]
            assert fold["precision_at_mix"] == pytest.approx(tp / (tp + fp) if tp + fp else 0.0, abs=2e-4)
        assert at["recall"] == pytest.approx(sum(f["recall"] for f in at["folds"]) / 2, abs=1e-4)
        assert at["fpr"] == pytest.approx(sum(f["fpr"] for f in at["folds"]) / 2, abs=1e-4)
        assert at["fpr_upper_95"] > at["fp"] / at["normal"] and 0 <= d["roc_auc"] <= 1
        novel = at["deduplicated"]["at_cross_fit_thresholds"]
        assert novel["normal"] == split["held_out_novel_sessions"] and novel["recall"] == at["recall"]
    for name, d in openstack["detectors"].items():
        assert {"precision", "recall", "f1", "oracle_best_f1"} <= set(d)
        # a baseline's rule (score > 0), and a robust score's (above its largest on training), is one of the
        # thresholds the oracle tries; the top-g rule is not a threshold on the session score
        if name != "network":
            assert d["oracle_best_f1"]["f1"] >= d["f1"]
    assert openstack["flag_everything"]["recall"] == 1.0
    network = hdfs["detectors"]["network"]["at_fpr_0.01"]
    targets = {t["name"]: t for t in result["targets"]}
    assert list(targets) == ["hdfs_network_recall_at_1pct_fpr", "hdfs_network_fpr_on_unseen_normals",
                             "openstack_network_f1_vs_best_baseline"]
    assert targets["hdfs_network_recall_at_1pct_fpr"]["value"] == network["recall"]
    assert targets["hdfs_network_fpr_on_unseen_normals"]["value"] == network["fpr"]
    assert targets["hdfs_network_fpr_on_unseen_normals"]["direction"] == "<="
    verdicts = result["verdicts"]
    assert len(verdicts) >= 5 and any("test mix" in v for v in verdicts) and any("copies" in v for v in verdicts)
    assert all(any(word in v for word in ("wins", "flagging", "rule", "mix", "copies", "robust")) for v in verdicts)
