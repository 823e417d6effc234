"""A worker that cannot serve stops the whole server, with one line that says why.

BentoML restarts a worker whose start-up fails, without end: with no champion in the registry
that was a crash loop (a traceback every few seconds, the port held, ``/readyz`` hanging) that
buried the one line that mattered. A ``CannotServeError`` is not cured by a restart, so the
worker logs it once, leaves it where ``loyalty serve`` reads it (the file named by
``LOYALTY_SERVE_REFUSAL``), asks the server process (BentoML's arbiter, its parent) to stop,
which frees the port, and exits. Outside a BentoML worker (tests, an embedding application)
the error is simply raised.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from typing import NoReturn

REFUSAL_ENV = "LOYALTY_SERVE_REFUSAL"
WORKER_MODULE = "_bentoml_impl.worker.service"  # what BentoML runs each worker as (python -m)
EXIT_CODE = 2
log = logging.getLogger("loyalty.serving")


def in_bentoml_worker() -> bool:
    """True in a process that BentoML started as a service worker."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", None) == WORKER_MODULE


def refuse(exc: Exception) -> NoReturn:
    """Stop the server because of ``exc`` (in a BentoML worker), else raise it."""
    if not in_bentoml_worker():
        raise exc
    message = str(exc)
    log.error("cannot start: %s", message)
    note = os.environ.get(REFUSAL_ENV)
    if note:
        try:
            Path(note).write_text(message + "\n")
        except OSError as err:
            log.warning("cannot record the refusal in %s: %s", note, err)
    os.kill(os.getppid(), signal.SIGTERM)  # the arbiter stops every worker and frees the port
    logging.shutdown()
    os._exit(EXIT_CODE)  # no traceback, no restart: the arbiter is stopping
