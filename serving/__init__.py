"""The BentoML decision service and batch scoring: composition only, no business rules."""
