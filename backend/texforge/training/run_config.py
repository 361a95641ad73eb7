"""What every training configuration shares: plain-dict round trips for checkpoint headers, and the check
that a checkpoint was made by a run it can resume (same networks, same randomness)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .checkpoint import CheckpointError


class DictConfig:
    """Mixin for config dataclasses: ``to_dict()`` for checkpoint headers, ``from_dict()`` back (unknown
    keys ignored, JSON lists turned back into tuples)."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict):
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in known})


def _norm(v):
    return list(v) if isinstance(v, (list, tuple)) else v


def check_resumable(path: Path, saved: dict | None, config, fields, what: str = "training") -> None:
    """CheckpointError naming ``path`` when its saved config (a dict) differs from ``config`` in any of
    ``fields`` (what must agree for a resumed run to continue the same run), or holds none."""
    if not saved:
        raise CheckpointError(f"checkpoint {path} holds no {what} configuration")
    mine = config.to_dict()
    diff = [f"{k}: checkpoint {saved.get(k)!r}, this run {mine[k]!r}" for k in fields if _norm(saved.get(k)) != _norm(mine[k])]
    if diff:
        raise CheckpointError(f"checkpoint {path} was trained with another configuration ({'; '.join(diff[:3])}); "
                              f"resume with the same preset and options, or start a new run")
