"""The steps after the joint fit that measure the surface against the masks and photos: the
inflation search (the surface moved along its normals to the best hard-silhouette IoU) and the
per-view IoU / PSNR figures.

Both render at the fit's finest resolution (:func:`eval_resolution`), 2x supersampled, one chunk of
views at a time (``_Run.view_chunks``), so their cost and memory stay a small fraction of the fit's
whatever the photos' size and number (docs/BENCHMARKS.md, "Multi-view speed and memory").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .fit import render


def eval_resolution(cfg) -> int:
    """Longest image side of the steps after the fit: the config's ``eval_max_size``, or by default
    the fit's finest resolution (never above the input: the working images are not upsampled)."""
    return int(cfg.eval_max_size or max(s.resolution for s in cfg.stages))


@torch.no_grad()
def inflate(run, supersample: int = 2) -> float:
    """Move the surface of ``run`` (a multi-view ``_Run``) along its vertex normals by the offset that
    maximises the mean hard-mask IoU of the active views (at the evaluation size, 2x supersampled as
    the figures are); returns it in pixels of that size.

    The DIB-R soft mask reaches 0.5 one band half-width *outside* the hard edge, so fitting soft
    silhouettes leaves the hard silhouette about that much too small (plus the Laplacian's
    shrinkage); measured on spot24: ~200 of ~3,400 foreground pixels missing, almost none extra.
    The fit's silhouette targets are grown by ``cfg.silhouette_grow_px`` for that reason, so the
    search here only takes up what is left (a few hundredths of a pixel on the benchmark scenes).
    The band is set in pixels of the fit's resolution, so the offset is searched in those pixels
    too (in input pixels a 1024 px photo fitted at 128 px would need 8x the range), by a
    golden-section search: ``steps`` evaluations instead of a grid of ``steps``."""
    lo, hi, steps = run.cfg.inflate_search_px
    if steps <= 0:
        return 0.0
    from ...metrics.image import hard_iou
    from ...render.renderer import render_mesh

    _, masks, (w, h) = run.level(eval_resolution(run.cfg))
    act = torch.as_tensor(run.active, device=run.device)
    cams = run.rig(None, (w * supersample, h * supersample))
    v0, nrm = run.mesh.vertices(), run.mesh.normals()
    # world length of one evaluation pixel at the object's distance
    px = run.rig.distance * supersample / float(cams.K[act, 0, 0].mean())

    def mean_iou(d: float) -> float:
        run.check()
        verts, ious = v0 + d * px * nrm, []
        for idx in run.view_chunks(act):
            hard = render_mesh(verts, run.mesh.faces, cams[idx], soft_mask=False).hard_mask.float()
            cover = F.avg_pool2d(hard.unsqueeze(1), supersample).squeeze(1)
            ious.append(hard_iou(cover, masks[idx]))
        return float(torch.cat(ious).mean())

    best = golden_section_max(mean_iou, float(lo), float(hi), int(steps))
    run.mesh.offsets.add_(best * px * nrm)
    return best


@torch.no_grad()
def per_view_figures(run, texture: torch.Tensor, supersample: int = 2):
    """Hard IoU and whole-image PSNR (over the dataset background) of every view of ``run`` with
    ``texture`` (H, W, 3), at the evaluation size (:func:`eval_resolution`)."""
    from ...metrics.image import supersampled_view_scores

    images, masks, (w, h) = run.level(eval_resolution(run.cfg))
    cams = run.rig(None, (w * supersample, h * supersample))
    verts = run.mesh.vertices()
    tex = texture.permute(2, 0, 1).unsqueeze(0)
    ious, psnr = [], []
    for idx in run.view_chunks():
        run.check()
        out = render(run.mesh, verts, cams[idx], tex, 0.5, soft_mask=False)
        chunk_ious, chunk_psnr = supersampled_view_scores(out.rgb, out.hard_mask, run.background, images[idx],
                                                          masks[idx], supersample)
        ious.append(chunk_ious)
        psnr.extend(chunk_psnr)
    return torch.cat(ious), torch.tensor(psnr)


def golden_section_max(f, lo: float, hi: float, evaluations: int) -> float:
    """The argument in [lo, hi] of the largest value of ``f`` found with ``evaluations`` calls of a
    golden-section search (``f`` unimodal: the bracket shrinks by 0.618 per call after the first
    two). One evaluation tests the middle; ties keep the first point found."""
    if evaluations <= 1:
        return 0.5 * (lo + hi)
    g = (5 ** 0.5 - 1) / 2
    a, b = lo, hi
    x1, x2 = b - g * (b - a), a + g * (b - a)
    f1, f2 = f(x1), f(x2)
    seen = [(f1, -0, x1), (f2, -1, x2)]
    for k in range(evaluations - 2):
        if f1 >= f2:           # the maximum lies in [a, x2]
            b, x2, f2 = x2, x1, f1
            x1 = b - g * (b - a)
            f1 = f(x1)
            seen.append((f1, -(k + 2), x1))
        else:                  # ... in [x1, b]
            a, x1, f1 = x1, x2, f2
            x2 = a + g * (b - a)
            f2 = f(x2)
            seen.append((f2, -(k + 2), x2))
    return max(seen)[2]
