"""Command line and settings of the loyalty decisioning service."""
