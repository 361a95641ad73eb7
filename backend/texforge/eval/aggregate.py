"""Batch aggregate: per-scene metric table and means over the scenes that are done."""

from __future__ import annotations

import math

from .report import METRICS


def aggregate_reports(scenes: list[dict], pending: list[str] | None = None) -> dict:
    """``scenes``: [{"name", "metrics": {key: value}, "report_html": relative path or None, ...}].

    Returns {"version": 1, "scenes": [...sorted by name], "mean": {key: mean over scenes with a finite
    value}, "count": {key: how many scenes entered the mean}, "pending": [...]}."""
    scenes = sorted(scenes, key=lambda s: s["name"])
    mean, count = {}, {}
    for key in METRICS:
        vals = [s["metrics"].get(key) for s in scenes]
        vals = [float(v) for v in vals if isinstance(v, (int, float)) and math.isfinite(v)]
        count[key] = len(vals)
        mean[key] = sum(vals) / len(vals) if vals else None
    return {"version": 1, "scenes": scenes, "mean": mean, "count": count, "pending": sorted(pending or [])}
