"""Forecasting building blocks (no task imports): windows over a series and the benchmark splits
(windows.py), z-scoring with training statistics and the transforms before it (scaling.py: the numpy Scaler the
task fits, and SeriesScaling, the same statistics as the model's front end), baselines and error sums
(baselines.py), and the models: RevIN, a SegRNN-style segment recurrence, a direct multi-horizon RNN,
NLinear / DLinear, with point, quantile or Gaussian heads, inside the Forecaster that reads raw rows
(models.py), charts (plots.py), and the Diebold-Mariano test of one forecast against another (comparison.py)."""
