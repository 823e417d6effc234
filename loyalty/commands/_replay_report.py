"""The replay report as rich tables: outcomes, budget per contract, latency, retries, actions."""

from __future__ import annotations

from rich import box
from rich.table import Table

BUDGET_COLUMNS = (
    ("decisions", "decisions"),
    ("approved", "approved"),
    ("points_reserved", "reserved"),
    ("points_committed", "committed"),
    ("points_released", "released"),
    ("points_held", "in review"),
)


def render(report: dict) -> list[Table]:
    return [outcomes(report), budget(report), figures(report)]


def outcomes(report: dict) -> Table:
    table = Table(title=f"Decisions by outcome ({report['decisions']:,})", box=box.SIMPLE_HEAD)
    for column in ("status", "reason", "count"):
        table.add_column(column, justify="right" if column == "count" else "left")
    for row in report["outcomes"]:
        table.add_row(row["status"], row["reason"], f"{row['count']:,}")
    return table


def budget(report: dict) -> Table:
    title = "Per contract: decisions and points (reserved = committed + released + in review)"
    table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1))
    table.add_column("contract")
    for _, title in BUDGET_COLUMNS:
        table.add_column(title, justify="right")
    for contract, figures in report["budget"].items():
        table.add_row(contract, *(f"{figures.get(k, 0):,}" for k, _ in BUDGET_COLUMNS))
    return table


def figures(report: dict) -> Table:
    lat = report["latency_ms"]
    table = Table(title="Client side", box=box.SIMPLE_HEAD, show_header=False)
    table.add_column("figure")
    table.add_column("value")

    def ms(v) -> str:
        return "-" if v is None else f"{v:.1f} ms"

    table.add_row(
        "/decide latency p50 / p95 / p99", " / ".join(ms(lat[q]) for q in ("p50", "p95", "p99"))
    )
    table.add_row("retries", _pairs(report["retries"]) or "none")
    table.add_row("settled", _pairs(report["actions"]) or "-")
    table.add_row("events forwarded", _pairs(report["events"]) or "none")
    replayed = sum(f.get("replayed", 0) for f in report["budget"].values())
    if replayed:
        table.add_row("replayed (recorded earlier)", f"{replayed:,}")
    if "wall_s" in report:
        table.add_row(
            "wall time", f"{report['wall_s']:.1f} s at concurrency {report['concurrency']}"
        )
    return table


def _pairs(counts: dict) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
