"""Evidently drift and quality reports, the promotion gate and rollback."""
