"""Write a whole output folder or nothing: fill a hidden sibling, then rename it into place."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class FolderNotEmptyError(FileExistsError):
    """The output folder holds something and replacing it was not asked for."""


@contextmanager
def atomic_folder(out: Path, force: bool = False) -> Iterator[Path]:
    """Yield an empty hidden sibling of ``out``; it replaces ``out`` only if the block completes."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise FolderNotEmptyError(f"{out} exists and is not empty; pass --force to replace it")
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
