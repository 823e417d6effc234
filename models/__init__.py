"""Model specs (churn, propensity, risk) and the packaged model served from the registry."""
