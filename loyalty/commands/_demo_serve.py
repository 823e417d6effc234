"""The demo's serving steps: tokens made at run time, ``loyalty serve`` as a subprocess on a
free 127.0.0.1 port, the orchestrator replay against it, and the service stopped at the end."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from features.errors import LoyaltyError
from loyalty.commands._common import console, print_verbatim
from loyalty.commands.replay import ConsoleProgress, print_report
from loyalty.processes import stop_tree
from serving.replay_run import ReplayOptions, run_replay

READY_TIMEOUT_S = 240.0


@dataclass(frozen=True)
class Tokens:
    path: Path
    orchestrator: str
    operator: str


def write_tokens(folder: Path) -> Tokens:
    """Fresh orchestrator, operator and reviewer tokens in a 0600 file (rewritten every run)."""
    orch, oper, rev = (secrets.token_urlsafe(24) for _ in range(3))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tokens"
    text = f"{orch}=orchestrator\n{oper}=operator\n{rev}=reviewer\n"
    path.unlink(missing_ok=True)  # a new file, so no earlier (wider) mode survives
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return Tokens(path, orch, oper)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_service(settings, tokens: Tokens, log: Path) -> Iterator[str]:
    """``loyalty serve`` on a free port until the block ends; yields its URL once ready."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "LOYALTY_TOKENS"}
    env.update(
        LOYALTY_HOME=str(settings.home.resolve()),
        LOYALTY_TOKENS_FILE=str(tokens.path.resolve()),
        LOYALTY_ALLOW_TEST_CLOCK="1",  # the simulated log ends in the past: the service's
        # clock reads the log's end, so the replayed decisions fall in its current period
    )
    cmd = [sys.executable, "-m", "loyalty.cli", "serve", "--port", str(port)]
    cmd += ["--clock-at", "log-end"]
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            cmd, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait_ready(proc, url, tokens, log)
            yield url
        finally:
            _stop(proc)


def _wait_ready(proc: subprocess.Popen, url: str, tokens: Tokens, log: Path) -> None:
    """Until ``POST /ready`` (operator) lists three models; else an error with the log's tail."""
    import httpx

    deadline = time.monotonic() + READY_TIMEOUT_S
    headers = {"Authorization": f"Bearer {tokens.operator}"}
    with console.status(f"starting the service at {url} (log: {log})"):
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise LoyaltyError(f"the service exited during start-up:\n{_tail(log)}")
            try:
                r = httpx.post(f"{url}/ready", json={}, headers=headers, timeout=5)
                if r.status_code == 200 and len(r.json().get("models") or {}) == 3:
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(1.0)
    raise LoyaltyError(f"the service was not ready in {READY_TIMEOUT_S:.0f} s:\n{_tail(log)}")


def _stop(proc: subprocess.Popen) -> None:
    stop_tree(proc)


def _tail(log: Path) -> str:
    """The end of the service's log, without MLflow's download bars."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(line for line in text.splitlines() if "Downloading" not in line)[-4000:]


def serve_and_replay(settings, events: Path, cfg, step) -> dict:
    """Start the service, replay the last stretch of the log, stop it; the replay report."""
    folder = settings.demo_dir
    tokens = write_tokens(folder)
    step(f"starting `loyalty serve` with demo tokens from {tokens.path} (0600)")
    with running_service(settings, tokens, folder / "serve.log") as url:
        print_verbatim(f"    ready at {url}")
        step(
            f"replaying the last {cfg.replay_limit} decision points of the log as the orchestrator"
        )
        opts = ReplayOptions(concurrency=cfg.concurrency, last="14d", limit=cfg.replay_limit)
        report = run_replay(events, url, tokens.orchestrator, opts, progress=ConsoleProgress())
    console.print("    service stopped")
    print_report(report)
    path = settings.home / "reports" / "demo" / "replay.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    report["report_path"] = str(path)
    return report
