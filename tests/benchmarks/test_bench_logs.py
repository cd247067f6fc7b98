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
    names = {"network", "new_event", "length", "2gram", "count_nn"}
    hdfs, openstack = result["hdfs"], result["openstack"]
    assert set(hdfs["detectors"]) == names == set(openstack["detectors"])
    assert hdfs["split"]["held_out_normal_sessions"] == 120 and hdfs["split"]["abnormal_sessions"] == 1500
    for d in hdfs["detectors"].values():
        assert d["fpr_at_fpr_0.01"] <= 0.01 and 0 <= d["recall_at_fpr_0.01"] <= 1 and 0 <= d["roc_auc"] <= 1
    for name, d in openstack["detectors"].items():
        assert {"precision", "recall", "f1", "oracle_best_f1"} <= set(d)
        if name != "network":  # a baseline's rule (score > 0) is one of the thresholds the oracle tries
            assert d["oracle_best_f1"]["f1"] >= d["f1"]
    assert openstack["flag_everything"]["recall"] == 1.0
    assert [t["name"] for t in result["targets"]] == ["hdfs_network_recall_at_1pct_fpr",
                                                      "openstack_network_f1_vs_best_baseline"]
    assert result["targets"][0]["value"] == hdfs["detectors"]["network"]["recall_at_fpr_0.01"]
    assert len(result["verdicts"]) >= 3 and all(("wins" in v) or ("flagging" in v) or ("rule" in v)
                                                 for v in result["verdicts"])
