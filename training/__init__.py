"""Training sets from snapshots, time-based splits, fit, evaluation and MLflow registration."""
