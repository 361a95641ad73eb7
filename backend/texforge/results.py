"""The result folder every pipeline writes: complete or absent, with the run's log carried over.

A command-line run logs into ``OUT/<log name>`` while it works (so a failed or cancelled run leaves
its log and nothing else); the result itself is written into a temporary sibling folder by
:func:`texforge.atomic.atomic_folder` and renamed to ``OUT`` at the end, taking the log with it.
``OUT`` must not exist, or be empty, or hold only that log, unless ``overwrite`` is set, and its parent
must accept new entries. A run can take an hour: finding out afterwards that its folder cannot be written
loses all of it, so every entry point (command line, Blender operator) calls :func:`check_out_dir`
before loading anything, and the writer checks again.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .atomic import atomic_folder
from .runtime.errors import InputError

LOG_NAME = "reconstruct.log"


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_out_dir(out_dir, overwrite: bool = False, log_name: str = LOG_NAME,
                  overwrite_hint: str = "pass --overwrite") -> Path:
    """``out_dir`` as a Path, or InputError saying why a result cannot be written there.

    The folder must not exist or be empty (a folder holding only the run's log counts as empty),
    unless ``overwrite``; and its parent must accept new entries, because results are written to a
    temporary folder beside it and renamed (the probe creates and removes one, which also catches
    read-only file systems and permissions that ``os.access`` misjudges for root)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"output folder {out} exists and is not a folder")
    if out.is_dir():
        extra = sorted(p.name for p in out.iterdir() if p.name != log_name)
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


@contextmanager
def result_folder(out_dir, overwrite: bool = False, log_name: str = LOG_NAME) -> Iterator[Path]:
    """``with result_folder(out) as tmp: write files into tmp`` -> ``out`` holds them (and the log)
    only when the block succeeds; on any error nothing but the log is left."""
    out = check_out_dir(out_dir, overwrite, log_name)
    log = out / log_name
    # check_out_dir refused anything but the log, so replacing a folder that holds only it loses nothing
    only_log = out.is_dir() and log.exists()
    with atomic_folder(out, overwrite=overwrite or only_log) as tmp:
        yield tmp
        if log.exists():  # copied last: it then holds every line logged while the files were written
            shutil.copy2(log, tmp / log_name)
