"""The monitoring index pages (plain HTML, no scripts) and the trend plots (PNG, matplotlib)."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

STYLE = (
    "body{font-family:sans-serif;margin:24px;color:#222}"
    "table{border-collapse:collapse;margin:8px 0 20px}"
    "td,th{border:1px solid #ccd;padding:4px 10px;text-align:right}"
    "td:first-child,th:first-child{text-align:left}"
    ".drift{color:#b00020;font-weight:bold}.ok{color:#1b7f3b}"
    "img{max-width:520px;margin:6px;border:1px solid #eee}"
)


def trend_plots(runs: list[dict], figures: dict[str, str], folder: Path) -> list[Path]:
    """One PNG per headline figure: its value per model kind across the monitor runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = pd.DataFrame(
        [
            {"at": pd.Timestamp(run["created_at"]), "kind": m["kind"], **m["headline"]}
            for run in runs
            for m in run["models"]
            if m.get("status") == "ok"
        ]
    )
    out = []
    for key, title in figures.items():
        fig, ax = plt.subplots(figsize=(6.4, 3.4))
        if len(points) and key in points:
            for kind, rows in points.groupby("kind"):
                ax.plot(rows["at"], rows[key].astype(float), marker="o", label=str(kind))
            ax.legend(loc="best", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("monitor run (UTC)", fontsize=8)
        ax.tick_params(labelsize=7)
        fig.autofmt_xdate()
        fig.tight_layout()
        path = folder / f"trend_{key}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        out.append(path)
    return out


def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else html.escape(str(value))


def _models_table(run: dict, prefix: str) -> str:
    head = "<tr><th>model</th><th>version</th><th>window</th><th>ROC AUC</th><th>ECE</th>"
    head += "<th>drifted share</th><th>prediction PSI</th><th>drift</th><th>reports</th></tr>"
    rows = []
    for m in run["models"]:
        if m.get("status") != "ok":
            rows.append(
                f"<tr><td>{m['kind']}</td><td colspan=8>{html.escape(m['status'])}</td></tr>"
            )
            continue
        h = m["headline"]
        links = " ".join(
            f'<a href="{html.escape(prefix + f)}">{html.escape(Path(f).name)}</a>'
            for f in m["files"]
        )
        verdict = (
            '<span class="drift">found</span>' if m["drift_found"] else '<span class="ok">no</span>'
        )
        rows.append(
            f"<tr><td>{m['kind']}</td><td>{m['model']['version']}</td><td>{m['window'][:10]}</td>"
            f"<td>{_fmt(h['roc_auc'])}</td><td>{_fmt(h['ece'])}</td>"
            f"<td>{_fmt(h['drifted_share'])}</td><td>{_fmt(h['prediction_drift'])}</td>"
            f"<td>{verdict}</td><td>{links}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _images(plots: list[Path], prefix: str, figures: dict[str, str]) -> str:
    return "".join(
        f'<img src="{html.escape(prefix + p.name)}" alt="{html.escape(title)}">'
        for p, title in zip(plots, figures.values(), strict=True)
    )


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>\n"
    )


def run_page(run: dict, plots: list[Path], figures: dict[str, str]) -> str:
    """One monitor run: its models, links to every report, and the trends up to it."""
    body = (
        f"<p>Run at {html.escape(run['created_at'])} on dataset "
        f"<code>{html.escape(run['dataset'])}</code>. <a href='../index.html'>All runs</a></p>"
        + _models_table(run, "")
        + "<h2>Trends across monitor runs</h2>"
        + _images(plots, "", figures)
    )
    return _page(f"Monitoring run {run['folder']}", body)


def top_page(runs: list[dict], latest: str, plots: list[Path], figures: dict[str, str]) -> str:
    """Every monitor run, newest first, and the trend plots of the latest run."""
    sections = [
        f"<h2><a href='{html.escape(r['folder'])}/index.html'>{html.escape(r['created_at'])}</a>"
        f"</h2><p>dataset <code>{html.escape(r['dataset'])}</code></p>"
        + _models_table(r, f"{r['folder']}/")
        for r in reversed(runs)
    ]
    body = (
        "<h2>Trends across monitor runs</h2>"
        + _images(plots, f"{latest}/", figures)
        + "".join(sections)
    )
    return _page("Monitoring reports", body)
