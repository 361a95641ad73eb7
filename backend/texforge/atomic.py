"""Outputs that appear complete or not at all.

Every file and result folder the project writes goes through these context managers, so Ctrl-C,
a crash or a cancelled job never leaves a half-written file or folder under its final name. Temporary
names start with a dot and sit next to the destination (same file system, so the final rename is
atomic). The results get the permissions of an ordinary new file / folder (tempfile's private 0600 /
0700 would surprise users and other tools).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _umask() -> int:
    """The process umask. Linux reports it in /proc; elsewhere it can only be read by setting it, which
    briefly changes it for every thread (a reconstruction writes from a worker thread), so that is the
    fallback only."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def ordinary_file_mode() -> int:
    """What open() would give a new file under the current umask (0644 under the usual 022)."""
    return 0o666 & ~_umask()


@contextmanager
def atomic_path(path, overwrite: bool = True, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for a writer that wants a file name (an exporter, a
    renderer); when the block succeeds the file there becomes ``path`` with ordinary permissions.
    ``suffix`` ends the temporary name, for writers that choose the format by extension.

    With ``overwrite=False`` an existing ``path`` is never replaced, even one that appeared while the
    block ran: FileExistsError, and the temporary file is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        if not overwrite and path.exists():
            raise FileExistsError(f"'{path}' already exists")
        yield tmp
        os.chmod(tmp, ordinary_file_mode())
        if overwrite:
            os.replace(tmp, path)
        else:
            _rename_no_clobber(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _rename_no_clobber(tmp: Path, path: Path) -> None:
    """Rename that fails (FileExistsError) instead of replacing: a hard link is created only if the name
    is free, in one step; file systems without hard links get a check-then-rename."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"'{path}' already exists") from None
    except OSError:
        if path.exists():
            raise FileExistsError(f"'{path}' already exists") from None
        os.replace(tmp, path)
    # the temporary name is removed by atomic_path's cleanup


@contextmanager
def atomic_file(path, mode: str = "wb", encoding: str | None = None) -> Iterator:
    """``with atomic_file(p, "w") as f: f.write(...)`` -> p is replaced only when the block succeeds."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=encoding) as f:
            yield f


def write_bytes(path, data: bytes) -> Path:
    with atomic_file(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path, text: str) -> Path:
    with atomic_file(path, "w", encoding="utf-8") as f:
        f.write(text)
    return Path(path)


@contextmanager
def atomic_folder(path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it is renamed to ``path``.

    ``path`` must not exist or be an empty folder, unless ``overwrite`` (then the old folder is
    removed only after the new one is complete). On any error the temporary folder is deleted.
    What the block writes inside gets ordinary permissions by itself (plain open / mkdir, or
    atomic_file); only the folder that mkdtemp made private is opened up here."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise FileExistsError(f"{path} is not empty; choose a new folder (or allow overwriting)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix="." + path.name + ".", suffix=".partial"))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            old = path.with_name("." + path.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
