"""DIB-R soft silhouette with kaolin's semantics (``dibr_soft_mask``), plain PyTorch.

Semantics (kaolin's CUDA kernel):

* A pixel covered by the hard rasterization (``selected_face_idx >= 0``) has soft mask exactly 1 and no
  gradient.
* Any other pixel takes ``1 - prod_k (1 - exp(-sigmainv * d_k^2))`` over the first ``knum`` faces in
  face-index order whose bounding box, grown by ``boxlen`` (NDC) on every side, contains the pixel
  centre (half-open test). Every face counts, culled or not.
* ``d_k^2`` is the squared NDC distance from the pixel centre to face k's boundary: the smallest of the
  three perpendicular distances to the edge lines (only where the foot of the perpendicular falls on
  the segment, otherwise the edge counts as distance 2) and the three vertex distances; the first
  minimum in the order edge 0, 1, 2, vertex 0, 1, 2 wins (this decides which vertices get gradient).
* Computations run on coordinates scaled by ``multiplier``; the backward of the product uses kaolin's
  ``(1 - soft) / (1 - p + 1e-7)``, which stays finite when a face's probability reaches 1.

Implementation: candidates (face, pixel) are enumerated from the grown boxes, candidates on covered
pixels are dropped, and when some pixel has more than ``knum`` candidates a stable sort by pixel ranks
them in face order. Distances are plain differentiable torch ops on the kept candidates.
"""

from __future__ import annotations

import math

import torch

from .rasterize import (
    bbox_pixel_ranges,
    corner_min_max,
    enumerate_pairs,
    finite_faces,
    pixel_centres,
)

KAOLIN_EPS = 1e-7


class _ProbUnion(torch.autograd.Function):
    """soft[p] = 1 - prod_{k in p} (1 - prob_k) over candidates grouped by pixel, kaolin's backward."""

    @staticmethod
    def forward(ctx, prob, pix, num_pixels):
        keep = prob.new_ones(num_pixels)
        keep.scatter_reduce_(0, pix, 1.0 - prob, reduce="prod")
        soft = 1.0 - keep
        ctx.save_for_backward(prob, pix, soft)
        return soft

    @staticmethod
    def backward(ctx, grad_soft):
        prob, pix, soft = ctx.saved_tensors
        grad_prob = grad_soft[pix] * (1.0 - soft[pix]) / (1.0 - prob + KAOLIN_EPS)
        return grad_prob, None, None


def band_to_sigmainv(band_px: float, resolution: int) -> tuple[float, float]:
    """Soft-mask half-width in pixels (where a single edge's soft mask is 0.5) -> (sigmainv, boxlen).

    ``exp(-sigmainv d^2) = 0.5`` at ``d = band_px`` pixels = ``2 band_px / resolution`` NDC; faces are
    considered up to 2 half-widths away (beyond that the soft mask is below 1/16; a wider box
    would also let kaolin's ``knum`` nearest-by-index faces crowd out the nearby ones)."""
    d = 2.0 * band_px / resolution
    return math.log(2.0) / (d * d), max(0.02, 2.0 * d)


def boundary_distance_sq(v: torch.Tensor, x0: torch.Tensor, y0: torch.Tensor, multiplier: float):
    """Squared distance (scaled units) of points (x0, y0) (N,) to triangles v (N, 3, 2), kaolin's rule.

    Returns (dist_sq (N,), dist_type (N,) int64 in 1..6: edges 1-3, vertices 4-6)."""
    pts = v.unbind(1)  # three (N, 2) corners; unbind keeps the backward to one stack
    xs_ = [p_.unbind(1)[0] for p_ in pts]
    ys_ = [p_.unbind(1)[1] for p_ in pts]
    pd = []
    for e in range(3):
        x1, y1 = xs_[e], ys_[e]
        x2, y2 = xs_[(e + 1) % 3], ys_[(e + 1) % 3]
        A = y2 - y1
        B = x1 - x2
        C = x2 * y1 - x1 * y2
        up = A * x0 + B * y0 + C
        down = A * A + B * B
        with torch.no_grad():
            # foot of the perpendicular; outside the segment -> the edge does not count
            x3 = (B * B * x0 - A * B * y0 - A * C) / (down + KAOLIN_EPS)
            y3 = (A * A * y0 - A * B * x0 - B * C) / (down + KAOLIN_EPS)
            bad = ((x3 - x1) * (x3 - x2) + (y3 - y1) * (y3 - y2)) > 0
        perp = up * up / (down + KAOLIN_EPS)
        pd.append(torch.where(bad, torch.full_like(perp, 4.0 * multiplier * multiplier), perp))
    for k in range(3):
        dx = x0 - xs_[k]
        dy = y0 - ys_[k]
        pd.append(dx * dx + dy * dy)
    dist = pd[0]
    dtype_ = torch.ones_like(x0, dtype=torch.long)
    for k in range(1, 6):
        better = dist > pd[k]
        dist = torch.where(better, pd[k], dist)
        dtype_ = torch.where(better, torch.full_like(dtype_, k + 1), dtype_)
    return dist, dtype_


@torch.no_grad()
def soft_mask_candidates(face_vertices_image: torch.Tensor, selected_face_idx: torch.Tensor,
                         boxlen: float, knum: int, multiplier: float, valid_faces=None):
    """The (pixel, face) records kaolin's forward keeps: for each uncovered pixel, the first ``knum``
    faces in index order whose grown box contains it.

    Returns (pix (N,) flat index into B*H*W, gface (N,) flat index into B*F)."""
    B, F = face_vertices_image.shape[:2]
    H, W = selected_face_idx.shape[1:]
    device, dtype = face_vertices_image.device, face_vertices_image.dtype
    empty = torch.zeros(0, dtype=torch.long, device=device)
    if B == 0 or F == 0:
        return empty, empty
    ok = finite_faces(face_vertices_image)
    if valid_faces is not None:
        ok &= valid_faces.to(torch.bool)
    gid = torch.nonzero(ok.reshape(-1)).squeeze(1)
    if gid.numel() == 0:
        return empty, empty
    v = face_vertices_image.detach().reshape(B * F, 3, 2).index_select(0, gid) * multiplier
    bmin, bmax = corner_min_max(v)
    bmin, bmax = bmin - boxlen * multiplier, bmax + boxlen * multiplier
    xs, ys = pixel_centres(H, W, multiplier, dtype, device)
    j0, j1, i0, i1 = bbox_pixel_ranges(bmin, bmax, xs, ys)
    # Only uncovered pixels get records. Enumerate (face, row) pairs first and trim each row of a
    # grown box to the span between its first and last uncovered pixel (per-row next/previous
    # uncovered lookups), so faces and rows inside the silhouette cost (almost) nothing.
    b = torch.div(gid, F, rounding_mode="floor")
    unc = selected_face_idx < 0  # (B, H, W)
    cols = torch.arange(W, device=device)
    nxt = torch.where(unc, cols, W).flip(-1).cummin(-1).values.flip(-1)  # first uncovered >= j, else W
    nxt = torch.cat([nxt, nxt.new_full((B, H, 1), W)], dim=-1).reshape(-1)  # (B * H * (W + 1))
    prv = torch.where(unc, cols, -1).cummax(-1).values  # last uncovered <= j, else -1
    prv = torch.cat([prv.new_full((B, H, 1), -1), prv], dim=-1).reshape(-1)  # shifted: prv[j + 1]
    # faces whose whole grown box is covered are dropped first (integral image of uncovered pixels)
    integral = torch.nn.functional.pad(unc.to(torch.int32).cumsum(1).cumsum(2), (1, 0, 1, 0)).reshape(-1)
    base = b * ((H + 1) * (W + 1))
    r0, r1 = i0 * (W + 1), i1 * (W + 1)
    n_unc = integral.index_select(0, base + r1 + j1) - integral.index_select(0, base + r0 + j1) \
        - integral.index_select(0, base + r1 + j0) + integral.index_select(0, base + r0 + j0)
    keep = (j1 > j0) & (i1 > i0) & (n_unc > 0)
    sel = torch.nonzero(keep).squeeze(1)
    gid, b, j0, j1, i0, i1 = gid[sel], b[sel], j0[sel], j1[sel], i0[sel], i1[sel]
    ones = torch.ones_like(j0)
    rows_item, rows_row = [], []
    for item, row, _ in enumerate_pairs(ones * 0, ones, i0, i1):
        rows_item.append(item)
        rows_row.append(row.long())
    if not rows_item:
        return empty, empty
    ritem, rrow = torch.cat(rows_item), torch.cat(rows_row)
    rbase = (b.index_select(0, ritem) * H + rrow) * (W + 1)
    c0 = nxt.index_select(0, rbase + j0.index_select(0, ritem))
    c1 = prv.index_select(0, rbase + j1.index_select(0, ritem)) + 1  # last uncovered <= j1 - 1, plus 1
    live = torch.nonzero(c1 > c0).squeeze(1)
    ritem, rrow, c0, c1 = ritem[live], rrow[live], c0[live], c1[live]
    covered = ~unc.reshape(-1)
    pix_all, face_all = [], []
    for item, _, col in enumerate_pairs(c0, c1, rrow, rrow + 1):
        f_item = ritem.index_select(0, item)
        pix = (b.index_select(0, f_item) * H + rrow.index_select(0, item)) * W + col.long()
        keep = ~covered.index_select(0, pix)
        pix_all.append(pix[keep])
        face_all.append(gid.index_select(0, f_item)[keep])
    if not pix_all:
        return empty, empty
    pix, gface = torch.cat(pix_all), torch.cat(face_all)
    if pix.numel() == 0:
        return pix, gface
    counts = torch.bincount(pix, minlength=B * H * W)
    if int(counts.max()) > knum:
        # Rank by (pixel, face): candidates come face-ordered, so a stable sort by pixel keeps face order.
        pix, order = torch.sort(pix, stable=True)
        gface = gface[order]
        first = torch.cumsum(counts, 0) - counts
        rank = torch.arange(pix.numel(), device=device) - first[pix]
        keep = rank < knum
        pix, gface = pix[keep], gface[keep]
    return pix, gface


def soft_mask_from_candidates(face_vertices_image: torch.Tensor, selected_face_idx: torch.Tensor,
                              pix: torch.Tensor, gface: torch.Tensor, sigmainv: float, multiplier: float):
    """Differentiable soft mask (B, H, W) from the kept candidate records."""
    B, F = face_vertices_image.shape[:2]
    H, W = selected_face_idx.shape[1:]
    dtype = face_vertices_image.dtype
    xs, ys = pixel_centres(H, W, multiplier, dtype, face_vertices_image.device)
    rem = pix % (H * W)
    i = torch.div(rem, W, rounding_mode="floor")
    j = rem - i * W
    v = face_vertices_image.reshape(B * F, 6).index_select(0, gface).reshape(-1, 3, 2) * multiplier
    dist, _ = boundary_distance_sq(v, xs.index_select(0, j), ys.index_select(0, i), multiplier)
    prob = torch.exp(-(sigmainv * dist / multiplier / multiplier))
    soft = _ProbUnion.apply(prob, pix, B * H * W)
    covered = selected_face_idx.reshape(-1) >= 0
    soft = torch.where(covered, torch.ones_like(soft), soft)
    return soft.reshape(B, H, W)


def dibr_soft_mask(face_vertices_image: torch.Tensor, selected_face_idx: torch.Tensor,
                   sigmainv: float = 7000, boxlen: float = 0.02, knum: int = 30,
                   multiplier: float = 1000., valid_faces: torch.Tensor | None = None) -> torch.Tensor:
    """kaolin's ``dibr_soft_mask``.

    Args:
        face_vertices_image: (B, F, 3, 2) NDC xy of the face corners.
        selected_face_idx: (B, H, W) int64 hard face index (-1 background), from :func:`rasterize`.
        sigmainv: sharpness of the silhouette band (NDC^-2); the band narrows in pixels as the
            resolution grows, so set it per resolution.
        boxlen: NDC margin around each face's box beyond which a face does not influence a pixel.
        knum: at most this many faces (the first in index order) influence one pixel.
        multiplier: internal coordinate scale (kaolin's numerical trick).
        valid_faces: (B, F) bool, extension beyond kaolin: faces to ignore entirely (e.g. behind the
            camera). Default: all faces with finite coordinates.
    Returns:
        soft mask (B, H, W) in the dtype of ``face_vertices_image``.
    """
    pix, gface = soft_mask_candidates(face_vertices_image, selected_face_idx, boxlen, knum, multiplier,
                                      valid_faces)
    return soft_mask_from_candidates(face_vertices_image, selected_face_idx, pix, gface, sigmainv,
                                     multiplier)
