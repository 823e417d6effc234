"""Run a command as a subprocess and sample the resident memory of its whole process tree."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import psutil


def uv() -> str:
    """The uv that built this environment: on PATH, else where the Makefile installs it (a fresh
    machine's ``make`` bootstraps uv into ~/.local/bin, which need not be on PATH)."""
    found = os.environ.get("UV") or shutil.which("uv")
    fallback = Path("~/.local/bin/uv").expanduser()
    if found:
        return found
    if fallback.exists():
        return str(fallback)
    raise SystemExit("uv not found: run `make install` (it installs uv) or put uv on PATH")


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        family = [proc, *proc.children(recursive=True)]
    except psutil.Error:  # the process has just ended
        return 0
    for p in family:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def run_sampled(cmd: list[str], env: dict | None = None, cwd=None) -> tuple[float, float]:
    """(wall seconds, peak GiB of the process tree); a non-zero exit stops the benchmark."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    ps = psutil.Process(proc.pid)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss(ps))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    elapsed = time.perf_counter() - start
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed ({proc.returncode}): {err.decode()[-3000:]}")
    return elapsed, peak / 2**30
