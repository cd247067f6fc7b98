"""Predictions from an export's graphs (rnnlab.runtime, onnxruntime) compared with the bundle's, as every
runtime test compares them."""
from __future__ import annotations


def assert_same_predictions(got: list, want: list, tolerance: float = 1e-3, where: str = "") -> None:
    """onnxruntime's predictions against PyTorch's: the same keys (less what only PyTorch gives: `influence`), the
    same labels and texts, numbers within `tolerance` (probabilities and scores after a softmax, a search or a
    threshold: the graphs' own 1e-4 grows a little through them)."""
    if isinstance(want, dict):
        assert isinstance(got, dict), where
        assert set(got) == set(want) - {"influence"}, (where, sorted(set(got) ^ set(want)))
        for k in got:
            assert_same_predictions(got[k], want[k], tolerance, f"{where}.{k}")
    elif isinstance(want, (list, tuple)):
        assert isinstance(got, (list, tuple)) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same_predictions(g, w, tolerance, f"{where}[{i}]")
    elif isinstance(want, float) and not isinstance(want, bool):
        assert isinstance(got, (int, float)) and abs(got - want) <= tolerance * max(1.0, abs(want)), (where, got, want)
    else:
        assert got == want, (where, got, want)
