"""Where results go, checked before any work starts.

A reconstruction can run for an hour; finding out afterwards that its folder cannot be written
loses all of it. :func:`check_output_folder` is called by every entry point (command line, Blender
operator) before loading anything, and by the result writer itself.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import InputError

LOG_NAME = "reconstruct.log"


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_folder(path, overwrite: bool = False, overwrite_hint: str = "pass --overwrite") -> Path:
    """``path`` as a Path, or InputError saying why a result cannot be written there.

    The folder must not exist or be empty (a folder holding only the run's log counts as empty),
    unless ``overwrite``; and its parent must accept new entries, because results are written to a
    temporary folder beside it and renamed (the probe creates and removes one, which also catches
    read-only file systems and permissions that ``os.access`` misjudges for root)."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(f"output folder {out} exists and is not a folder")
    if out.is_dir():
        extra = sorted(p.name for p in out.iterdir() if p.name != LOG_NAME)
        if extra and not overwrite:
            raise InputError(f"output folder {out} already exists and is not empty ({', '.join(extra[:3])}"
                             f"{'...' if len(extra) > 3 else ''}); choose a new folder or {overwrite_hint}")
    parent = _nearest_existing(out.absolute().parent)
    if not parent.is_dir():
        raise InputError(f"cannot create output folder {out}: {parent} is not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(dir=parent, prefix=".texforge-write-test-"))
    except OSError as e:
        raise InputError(f"cannot write to output folder {out}: {parent} does not accept new files "
                         f"({e.strerror or e}); choose a writable folder") from e
    return out
