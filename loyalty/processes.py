"""Stopping a server started as a subprocess, with everything it started.

BentoML puts each service worker in a process group of its own, so signalling the server's
group leaves the workers running. The tree is taken before any signal (a dying parent orphans
its children), asked to stop, and what outlives the grace period is killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

import psutil


def stop_tree(proc: subprocess.Popen, grace_s: float = 30.0) -> None:
    """SIGTERM to the process group and every descendant, then SIGKILL to the survivors."""
    if proc.poll() is not None:
        return
    try:
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.Error:
        tree = []
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    for p in tree[1:]:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(tree, timeout=grace_s)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=10)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
