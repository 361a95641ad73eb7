"""Frame pruning (seed 000, 4.1.1): views whose camera disagrees with its neighbours in an ordered
sequence, whose silhouette a coarse fit cannot explain, or whose colours disagree with what the other
views see, are removed before the refit and the texture.

Each test returns ``{index: reason}`` for the views it flags; the caller merges them and caps the
number of pruned views (:func:`cap_pruned`).
"""

from __future__ import annotations

import math

import torch

from ...render.camera import Cameras


def _robust_low(values: torch.Tensor, active: list[int], k: float) -> float:
    """Threshold ``median - k * MAD`` over the active views."""
    v = values[active]
    med = v.median()
    mad = (v - med).abs().median()
    return float(med - k * max(float(mad), 1e-3))


def iou_outliers(ious: torch.Tensor, active: list[int], ratio: float, mad_k: float,
                 names: list[str], what: str = "silhouette IoU") -> dict[int, str]:
    """Views whose hard-mask IoU stays low after a fit: below ``ratio`` x the median AND below
    ``median - mad_k x MAD`` (both relative, because camera noise lowers every view's IoU early on).
    ious (N,)."""
    if len(active) < 4:
        return {}
    med = float(ious[active].median())
    thr = min(ratio * med, _robust_low(ious, active, mad_k))
    return {i: f"{what} {float(ious[i]):.3f} after the fit is below {thr:.3f} "
               f"(median {med:.3f})" for i in active if float(ious[i]) < thr}


def viewing_directions(cameras: Cameras, centre: torch.Tensor) -> torch.Tensor:
    """Unit directions from the object centre to each camera (N, 3)."""
    return torch.nn.functional.normalize(cameras.centers - centre, dim=-1)


def _angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.rad2deg(torch.acos((a * b).sum(-1).clamp(-1, 1)))


def _prediction_errors(d: torch.Tensor, med: float, closed: bool) -> list[float | None]:
    """Angle (degrees) between each direction and the normalised mean of its two neighbours; None
    where untestable (open ends, or neighbours that disagree with each other)."""
    n = len(d)
    out: list[float | None] = []
    for k in range(n):
        if not closed and k in (0, n - 1):
            out.append(None)
            continue
        prev, nxt = d[k - 1], d[(k + 1) % n]
        if float(_angle(prev, nxt)) > 3.0 * med:
            out.append(None)
            continue
        out.append(float(_angle(d[k], torch.nn.functional.normalize(prev + nxt, dim=-1))))
    return out


def neighbour_outliers(cameras: Cameras, centre: torch.Tensor, active: list[int], factor: float,
                       min_error_deg: float = 60.0) -> dict[int, str]:
    """In an ordered sequence (consecutive views close together: a turntable, an orbit, rings of
    them), views whose viewing direction is far from the one their two neighbours predict (the
    normalised mean of the neighbours' directions).

    The sequence counts as ordered when the median step between consecutive active views is below
    60 degrees (random directions on a sphere are about 90 degrees apart). The worst view is removed
    first and the test repeated, so a bad view does not make its good neighbours look bad. The
    first / last view are tested only when the sequence closes on itself."""
    if len(active) < 5:
        return {}
    d_all = viewing_directions(cameras, centre)
    steps = _angle(d_all[active][:-1], d_all[active][1:])
    med = float(steps.median())
    if not med < 60.0:
        return {}
    limit = max(min_error_deg, factor * med)
    remaining = list(active)
    out = {}
    while len(remaining) >= 5 and len(out) < len(active) // 3:
        d = d_all[remaining]
        closed = float(_angle(d[-1], d[0])) < 2.0 * med
        errs = _prediction_errors(d, med, closed)
        worst = max((e, k) for k, e in enumerate(errs) if e is not None) if any(e is not None for e in errs) \
            else (0.0, -1)
        if worst[0] <= limit:
            break
        view = remaining.pop(worst[1])
        out[view] = (f"camera disagrees with its neighbours in the ordered sequence: its viewing direction "
                     f"is {worst[0]:.0f} degrees from the one its neighbours predict (median step {med:.0f} "
                     f"degrees)")
    return out


def photo_outliers(errors: torch.Tensor, active: list[int], factor: float, names: list[str]) -> dict[int, str]:
    """Views whose colours disagree with the texture the other views project (errors (N,), e.g. mean
    L1 inside the silhouette of a leave-one-out render) by more than ``factor`` x the median."""
    if len(active) < 4:
        return {}
    med = float(errors[active].median())
    thr = factor * max(med, 1e-3)
    return {i: f"colours disagree with the other views: error {float(errors[i]):.3f} > {thr:.3f} "
               f"({factor:g} x median)" for i in active if float(errors[i]) > thr}


def cap_pruned(flags: dict[int, str], scores: dict[int, float], n_views: int, max_fraction: float) -> dict[int, str]:
    """Keep at most ``floor(max_fraction * n_views)`` flagged views (and leave at least two views),
    the worst first (lowest score)."""
    limit = min(int(math.floor(max_fraction * n_views)), n_views - 2)
    if len(flags) <= limit:
        return flags
    order = sorted(flags, key=lambda i: scores.get(i, 0.0))
    return {i: flags[i] for i in order[:max(limit, 0)]}
