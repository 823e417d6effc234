"""``loyalty serve``: the BentoML decision service over the data home's models and stores."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from loyalty.commands._common import handle_errors
from loyalty.errors import InputError, LoyaltyError


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


@handle_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 3000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (one model set each).")] = 1,
    clock_at: Annotated[
        str | None,
        typer.Option(
            "--clock-at",
            metavar="TIME|log-end",
            help="Pin the service's clock (an ISO time, or the feature snapshot's time) for a "
            "replay of a simulated log; needs LOYALTY_ALLOW_TEST_CLOCK=1.",
        ),
    ] = None,
    ssl_certfile: Annotated[
        Path | None,
        typer.Option(help="Serve HTTPS with this certificate chain (PEM); needs --ssl-keyfile."),
    ] = None,
    ssl_keyfile: Annotated[
        Path | None, typer.Option(help="The certificate's private key (PEM, unencrypted).")
    ] = None,
) -> None:
    """Serve /score, /explain, /decide, /events, /decisions/{id}, /reviews (bearer tokens from
    LOYALTY_TOKENS or LOYALTY_TOKENS_FILE), with /healthz, /readyz, /metrics and /docs.json.

    Exit 2 at once, with the reason, when there is nothing to serve: a kind without a champion,
    or a registry that cannot answer and no last known good models (the service then never
    starts, rather than restarting its workers without end).
    """
    from loyalty.settings import load_settings
    from serving.clock import LOG_END, TestClockRefusedError, check_allowed, pinned_start
    from serving.model_set import KINDS, missing_champions, no_champion
    from serving.startup import REFUSAL_ENV

    s = load_settings()
    clock_at = clock_at or s.clock_at
    try:
        check_allowed(clock_at, s.allow_test_clock)
        if clock_at and clock_at != LOG_END:
            pinned_start(clock_at, None)  # a bad time is refused here, not by every worker
    except TestClockRefusedError as exc:
        raise InputError(str(exc)) from exc
    if not s.tokens and not s.tokens_file:
        raise InputError(
            "no service tokens configured: set LOYALTY_TOKENS='TOKEN=orchestrator;...' or "
            "LOYALTY_TOKENS_FILE (see docs/service.md)"
        )
    tls = tls_arguments(ssl_certfile or s.ssl_certfile, ssl_keyfile or s.ssl_keyfile)
    missing = missing_champions(s.tracking_uri, [s.model_name(k) for k in KINDS])
    if missing:  # the embedded registry, read in milliseconds; others: the worker says so
        raise LoyaltyError(str(no_champion(missing)))
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "BENTOML_DO_NOT_TRACK": "True",
        "DO_NOT_TRACK": "true",
        "LOYALTY_HOME": str(s.home.resolve()),
        "BENTOML_CONFIG_OPTIONS": f"services.DecisionService.workers={workers}",
    }
    if clock_at:  # every worker's clock reads the same time at the same real moment
        env.update(LOYALTY_CLOCK_AT=clock_at, LOYALTY_CLOCK_ANCHOR=repr(time.time()))
    # BentoML keeps Prometheus' multiprocess files in $BENTOML_HOME/prometheus_multiproc_dir and
    # empties it when a server starts: two servers on one machine (tests, the demo, a benchmark)
    # would wipe each other's metrics. Each server gets its own, unless BENTOML_HOME is set.
    scratch = Path(tempfile.mkdtemp(prefix="loyalty-serve-"))
    if "BENTOML_HOME" not in os.environ:
        env["BENTOML_HOME"] = str(scratch)
    refusal = scratch / "refusal.txt"  # a worker that cannot serve writes why, then stops
    env[REFUSAL_ENV] = str(refusal)
    cmd = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        "serving.service:DecisionService",
        "--host",
        host,
        "--port",
        str(port),
        *tls,
    ]
    proc = subprocess.Popen(cmd, env=env)
    # SIGTERM (a supervisor, a test) reaches BentoML, and this process waits for it to stop
    # so that the scratch folder is removed
    signal.signal(signal.SIGTERM, lambda signum, _frame: proc.send_signal(signum))
    try:
        code = proc.wait()
        reason = refusal.read_text().strip() if refusal.exists() else None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if reason:
        raise LoyaltyError(reason)
    raise typer.Exit(code)


def tls_arguments(certfile: Path | None, keyfile: Path | None) -> list[str]:
    """BentoML's TLS options for a certificate and key that load together; a missing half, an
    unreadable file or a key that does not match is an error naming the file, before start-up."""
    if certfile is None and keyfile is None:
        return []
    if certfile is None or keyfile is None:
        raise InputError("TLS needs both --ssl-certfile and --ssl-keyfile (or neither)")
    for name, path in (("--ssl-certfile", certfile), ("--ssl-keyfile", keyfile)):
        if not path.is_file():
            raise InputError(f"{name} {path}: no such file")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (ssl.SSLError, OSError) as exc:
        raise InputError(
            f"--ssl-certfile {certfile} with --ssl-keyfile {keyfile} cannot serve TLS: {exc}"
        ) from exc
    return ["--ssl-certfile", str(certfile.resolve()), "--ssl-keyfile", str(keyfile.resolve())]
