"""Reading the JSON header that names a TexForge folder's format and version (collection.json,
model.json): one set of checks and messages for every such folder."""

from __future__ import annotations

import json
from pathlib import Path

from ..runtime.errors import InputError


def read_format_header(root, file_name: str, fmt: str, version: int, what: str, hint: str,
                       title: str | None = None) -> tuple[Path, dict]:
    """(header file, its dict) of ``root/file_name``. InputError naming the folder or file when the folder
    is missing, the file is missing (``hint``: how to make one), unreadable, of another ``fmt`` or of
    another ``version``. ``what`` names the kind of folder in messages ("collection"), ``title`` the kind
    of thing in "not a TexForge ..." (default: ``what``)."""
    title = title or what
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such {what} folder")
    file = root / file_name
    if not file.is_file():
        raise InputError(f"{root}: not a TexForge {title} (no {file_name}); {hint}")
    try:
        header = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{file}: unreadable {what} header ({err})") from err
    if not isinstance(header, dict) or header.get("format") != fmt:
        raise InputError(f"{file}: not a TexForge {title} (format must be {fmt!r})")
    if header.get("version") != version:
        raise InputError(f"{file}: {what} version {header.get('version')!r}; this TexForge reads version {version}")
    return file, header
