"""The result folder every pipeline writes: complete or absent, with the run's log carried over.

A command-line run logs into ``OUT/<log name>`` while it works (so a failed or cancelled run leaves
its log and nothing else); the result itself is written into a temporary sibling folder by
:func:`texforge.atomic.atomic_folder` and renamed to ``OUT`` at the end, taking the log with it.
``OUT`` must not exist, or be empty, or hold only that log, unless ``overwrite`` is set.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .atomic import atomic_folder

LOG_NAME = "reconstruct.log"


def check_out_dir(out_dir, overwrite: bool = False, log_name: str = LOG_NAME) -> Path:
    """Refuse an existing non-empty folder (a folder holding only the run's log counts as empty)."""
    out = Path(out_dir)
    if out.exists():
        if not out.is_dir():
            raise FileExistsError(f"--out {out} exists and is not a folder")
        extra = [p.name for p in out.iterdir() if p.name != log_name]
        if extra and not overwrite:
            raise FileExistsError(f"--out {out} already exists and is not empty ({', '.join(sorted(extra)[:3])}"
                                  f"{'...' if len(extra) > 3 else ''}); choose a new folder or pass --overwrite")
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
