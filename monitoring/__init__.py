"""Monitoring and the promotion gate: Evidently drift and quality reports, gate checks, rollback.

Pure logic (gate rules, behavioural tests, replay comparison, summaries) takes plain data in and
gives plain data out; Evidently, MLflow and files are reached only from the modules that say so.
Thresholds live in ``default_config.yaml`` (override with ``--config FILE``), never in code.
"""
