"""Forecasting building blocks (no task imports): windows over a series and the benchmark splits
(windows.py), z-scoring with training statistics (scaling.py), baselines and error sums (baselines.py),
and the models: RevIN, a SegRNN-style segment recurrence, a direct multi-horizon RNN, NLinear / DLinear,
with point, quantile or Gaussian heads (models.py), and the Diebold-Mariano test of one forecast against another
(comparison.py)."""
