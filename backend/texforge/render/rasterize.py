"""Hard rasterization with kaolin's DIB-R semantics, written in plain PyTorch (CPU and CUDA).

Conventions (kaolin's, written down once):

* ``face_vertices_image`` (B, F, 3, 2) are NDC coordinates, x right, y up, the image spans [-1, 1].
  Pixel ``(i, j)`` (row ``i`` from the top) has its centre at ``x = (2j + 1 - W) / W``,
  ``y = (H - 2i - 1) / H``.
* ``face_vertices_z`` (B, F, 3) is a depth where the largest value is the closest (kaolin uses camera
  z of a camera looking down -z, so visible points are negative).
* A face covers a pixel when the pixel centre is inside its half-open bounding box
  (``xmin <= x < xmax``, ``ymin <= y < ymax``) and all three barycentric weights are ``>= 0``
  (both windings are rasterized; culling is the caller's ``valid_faces``).
* Depth and features are interpolated linearly in screen space. The largest interpolated depth wins;
  ties go to the lowest face index.
* Gradients flow to ``face_vertices_image`` and ``face_features`` only, through barycentric weights
  recomputed at the fixed pixel centre; depth gets none.

Like kaolin's CUDA kernel, coverage tests run on coordinates scaled by ``multiplier`` and on pixel
centres computed in float32 (``multiplier / W * (2j + 1 - W)``), so boundary cases resolve exactly as
kaolin resolves them. Deviation: faces of exactly zero screen area cover nothing (kaolin would give the
pixels on the degenerate line a depth of 0).

Implementation: face-centric. Each face's bounding-box rows are enumerated, each row is trimmed to
the triangle's span (widened by 1/64 px), the remaining (face, pixel) candidate pairs get kaolin's exact
inside test, and the z-buffer is resolved with two scatter reductions (max depth, then lowest face
index among each pixel's maxima). Candidates are processed in chunks of faces (``MAX_PAIRS``) so
memory stays bounded. Differentiable values (barycentrics, interpolated features) are computed only
for the covered pixels, with plain autograd.
"""

from __future__ import annotations

import torch

# Maximum number of (face, pixel) candidate pairs materialised at once.
MAX_PAIRS = 1 << 22


def pixel_centres(height: int, width: int, multiplier: float, dtype: torch.dtype, device):
    """Scaled pixel centres as kaolin computes them: xs (W,) increasing, ys (H,) decreasing.

    kaolin evaluates ``multiplier / width * (2j + 1 - width)`` in float32 whatever the tensor dtype."""
    m = torch.tensor(float(multiplier), dtype=torch.float32, device=device)
    jj = torch.arange(width, device=device, dtype=torch.float32)
    ii = torch.arange(height, device=device, dtype=torch.float32)
    xs = (m / width) * (2 * jj + 1 - width)
    ys = (m / height) * (height - 2 * ii - 1)
    return xs.to(dtype), ys.to(dtype)


def _centre_scales(height: int, width: int, multiplier: float, device):
    """float32 ``multiplier / width`` and ``multiplier / height`` (kaolin's pixel-centre factors)."""
    m = torch.tensor(float(multiplier), dtype=torch.float32, device=device)
    return m / width, m / height


def ndc_pixel_centres(height: int, width: int, dtype: torch.dtype, device):
    """Unscaled pixel centres in NDC, xs (W,), ys (H,)."""
    jj = torch.arange(width, device=device, dtype=dtype)
    ii = torch.arange(height, device=device, dtype=dtype)
    return (2 * jj + 1 - width) / width, (height - 2 * ii - 1) / height


def _first_at_least(values: torch.Tensor, centres: torch.Tensor, scale: float) -> torch.Tensor:
    """Index of the first increasing pixel centre ``centres[k] >= value`` (len(centres) if none), for
    centres ``~ scale * (2k + 1 - n)``: an arithmetic guess, then one exact correction step each way
    against the actual centres (same result as ``searchsorted(side='left')``, several times faster)."""
    n = centres.shape[0]
    guess = torch.ceil((values.double() / scale + (n - 1)) * 0.5).clamp(0, n).long()
    inf = torch.full((1,), float("inf"), dtype=centres.dtype, device=centres.device)
    padded = torch.cat([-inf, centres, inf])  # padded[k + 1] = centres[k]
    guess = guess - (padded.index_select(0, guess) >= values).long()  # centres[guess - 1] >= v: step down
    guess = guess + (padded.index_select(0, guess + 1) < values).long()  # centres[guess] < v: step up
    return guess


def bbox_pixel_ranges(bmin: torch.Tensor, bmax: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor):
    """Pixel index ranges of half-open boxes, exactly as the test ``min <= centre < max``.

    bmin, bmax (M, 2) scaled coordinates; xs (W,) increasing and ys (H,) decreasing pixel centres
    (from :func:`pixel_centres`). Returns j0, j1, i0, i1 (M,) int64 with columns ``j0 <= j < j1`` and
    rows ``i0 <= i < i1``."""
    H, W = ys.shape[0], xs.shape[0]
    sx = float(xs[-1] - xs[0]) / max(2 * (W - 1), 1) if W > 1 else max(abs(float(xs[0])), 1.0)
    sy = float(ys[0] - ys[-1]) / max(2 * (H - 1), 1) if H > 1 else max(abs(float(ys[0])), 1.0)
    ys_up = ys.flip(0)  # increasing
    j0 = _first_at_least(bmin[:, 0], xs, sx)
    j1 = _first_at_least(bmax[:, 0], xs, sx)
    r0 = _first_at_least(bmin[:, 1], ys_up, sy)
    r1 = _first_at_least(bmax[:, 1], ys_up, sy)
    return j0, j1, H - r1, H - r0


def chunk_bounds(counts: torch.Tensor, max_pairs: int):
    """Split a sequence of per-item pair counts (M,) into consecutive [start, end) item ranges whose
    total stays under ``max_pairs`` (a single larger item gets its own range)."""
    M = counts.shape[0]
    if M == 0:
        return []
    total = int(counts.sum())
    if total <= max_pairs:
        return [(0, M)]
    csum = torch.cumsum(counts, 0).cpu()
    bounds, start, base = [], 0, 0
    while start < M:
        end = int(torch.searchsorted(csum, torch.tensor(base + max_pairs), side="right"))
        end = max(end, start + 1)
        bounds.append((start, end))
        base = int(csum[end - 1])
        start = end
    return bounds


def enumerate_pairs(j0, j1, i0, i1, max_pairs: int | None = None):
    """Yield (item index (n,) int64, row (n,), column (n,)) of every pixel in every item's box, in
    chunks, ordered by item then row-major pixel. Rows and columns are float32 (float64 for huge
    chunks) holding exact integers: float division is much faster than int64 division on CPU."""
    nw = (j1 - j0).clamp_min(0)
    nh = (i1 - i0).clamp_min(0)
    counts = nw * nh
    for start, end in chunk_bounds(counts, MAX_PAIRS if max_pairs is None else max_pairs):
        c = counts[start:end]
        total = int(c.sum())
        if total == 0:
            continue
        ftype = torch.float32 if total < (1 << 24) else torch.float64
        item = torch.repeat_interleave(torch.arange(start, end, device=c.device), c, output_size=total)
        first = torch.cumsum(c, 0) - c
        tab = torch.stack([first, nw[start:end], i0[start:end], j0[start:end]]).to(ftype)
        t = tab.index_select(1, item - start)
        off = torch.arange(total, device=c.device, dtype=ftype) - t[0]
        r = torch.floor((off + 0.5) / t[1])
        yield item, t[2] + r, t[3] + off - r * t[1]


def corner_min_max(v: torch.Tensor):
    """(M, 3, 2) triangles -> bounding boxes (min (M, 2), max (M, 2))."""
    a, b, c = v[:, 0], v[:, 1], v[:, 2]
    return torch.minimum(torch.minimum(a, b), c), torch.maximum(torch.maximum(a, b), c)


def finite_faces(face_vertices_image: torch.Tensor) -> torch.Tensor:
    """(B, F, 3, 2) -> (B, F) bool, all six coordinates finite (a sum is NaN/inf otherwise)."""
    return torch.isfinite(face_vertices_image.detach().sum((-1, -2)))


def _span_pairs(table, j0, j1, i0, i1, sx: float, sy: float, height: int, width: int, dtype):
    """Candidate (face, pixel) pairs of the hard raster, trimmed per row: like
    ``enumerate_pairs(j0, j1, i0, i1)`` but each (face, row) keeps only the columns between the
    triangle's left and right edges at that row's centre, widened by 1/64 pixel so rounding never drops
    a covered pixel (the exact inside test runs afterwards). About halves the candidates.

    table (9, M) scaled corners (ax ay bx by cx cy ...); j0, j1, i0, i1 (M,) bounding-box ranges."""
    ones = torch.ones_like(j0)
    for ritem, rrow, _ in enumerate_pairs(ones * 0, ones, i0, i1):
        y0 = (torch.tensor(sy, dtype=torch.float32) * ((height - 1) - 2 * rrow.float())).to(dtype)
        c = [table[k].index_select(0, ritem) for k in range(6)]
        tol = 2.0 * sy / 64.0
        left = torch.full_like(y0, float("inf"))
        right = torch.full_like(y0, float("-inf"))
        for e in range(3):
            px, py = c[2 * e], c[2 * e + 1]
            qx, qy = c[(2 * e + 2) % 6], c[(2 * e + 3) % 6]
            dy = qy - py
            t = torch.where(dy == 0, torch.zeros_like(dy), (y0 - py) / dy).clamp(0.0, 1.0)
            x = px + t * (qx - px)
            cross = (y0 >= torch.minimum(py, qy) - tol) & (y0 <= torch.maximum(py, qy) + tol)
            left = torch.where(cross, torch.minimum(left, x), left)
            right = torch.where(cross, torch.maximum(right, x), right)
        # columns whose centre sx * (2j + 1 - W) lies in [left - tol', right + tol']
        tolx = 2.0 * sx / 64.0
        lo = torch.ceil(((left.double() - tolx) / sx + (width - 1)) * 0.5)
        hi = torch.floor(((right.double() + tolx) / sx + (width - 1)) * 0.5) + 1
        jb0 = j0.index_select(0, ritem)
        jb1 = j1.index_select(0, ritem)
        c0 = torch.maximum(lo.clamp(-1, width + 1).long(), jb0)
        c1 = torch.minimum(hi.clamp(-1, width + 1).long(), jb1)
        live = torch.nonzero(c1 > c0).squeeze(1)
        if live.numel() == 0:
            continue
        ritem, rrow = ritem.index_select(0, live), rrow.index_select(0, live).long()
        for k, row, col in enumerate_pairs(c0.index_select(0, live), c1.index_select(0, live), rrow, rrow + 1):
            yield ritem.index_select(0, k), row, col


def _valid_face_mask(face_vertices_image: torch.Tensor, face_vertices_z: torch.Tensor, valid_faces):
    """(B, F) faces that may be rasterized: caller's mask and finite coordinates."""
    ok = finite_faces(face_vertices_image) & torch.isfinite(face_vertices_z.detach().sum(-1))
    if valid_faces is not None:
        ok = ok & valid_faces.to(torch.bool)
    return ok


@torch.no_grad()
def rasterize_face_index(height: int, width: int, face_vertices_z: torch.Tensor,
                         face_vertices_image: torch.Tensor, valid_faces: torch.Tensor | None = None,
                         multiplier: float = 1000, eps: float = 1e-8) -> torch.Tensor:
    """The visible face of each pixel, (B, H, W) int64, -1 where no face covers the pixel.

    face_vertices_z (B, F, 3), face_vertices_image (B, F, 3, 2), valid_faces (B, F) bool or None."""
    B, F = face_vertices_z.shape[:2]
    device, dtype = face_vertices_image.device, face_vertices_image.dtype
    face_idx = torch.full((B * height * width,), -1, dtype=torch.long, device=device)
    if B == 0 or F == 0:
        return face_idx.view(B, height, width)
    ok = _valid_face_mask(face_vertices_image, face_vertices_z, valid_faces).reshape(-1)
    gid = torch.nonzero(ok).squeeze(1)  # global face ids b * F + f, increasing
    if gid.numel() == 0:
        return face_idx.view(B, height, width)
    v = face_vertices_image.detach().reshape(B * F, 3, 2).index_select(0, gid) * multiplier  # (M, 3, 2)
    zf = face_vertices_z.detach().reshape(B * F, 3).index_select(0, gid)
    xs, ys = pixel_centres(height, width, multiplier, dtype, device)
    j0, j1, i0, i1 = bbox_pixel_ranges(*corner_min_max(v), xs, ys)
    table = torch.cat([v.reshape(-1, 6), zf], dim=1).t().contiguous()  # (9, M): ax ay bx by cx cy az bz cz
    sx, sy = _centre_scales(height, width, multiplier, device)

    pix_all, face_all, z_all = [], [], []
    for item, row, col in _span_pairs(table, j0, j1, i0, i1, float(sx), float(sy), height, width, dtype):
        # pixel centres exactly as kaolin computes them (float32), then in the working dtype
        x0 = (sx * (2 * col.float() + (1 - width))).to(dtype)
        y0 = (sy * ((height - 1) - 2 * row.float())).to(dtype)
        ax, ay, bx, by, cx, cy = (table[k].index_select(0, item) - c
                                  for k, c in zip(range(6), (x0, y0, x0, y0, x0, y0)))
        w0 = bx * cy - by * cx
        w1 = cx * ay - cy * ax
        w2 = ax * by - ay * bx
        norm = w0 + w1 + w2
        # kaolin tests w_k / (norm + copysign(eps, norm)) >= 0: the same as w_k * sign >= 0. Faces of
        # zero area (|norm| <= eps) cover nothing.
        sgn = torch.copysign(torch.ones_like(norm), norm)
        inside = (w0 * sgn >= 0) & (w1 * sgn >= 0) & (w2 * sgn >= 0) & (norm.abs() > eps)
        sel = torch.nonzero(inside).squeeze(1)
        if sel.numel() == 0:
            continue
        norm = norm.index_select(0, sel)
        norm = norm + torch.copysign(torch.full_like(norm, eps), norm)
        it = item.index_select(0, sel)
        z = (w0.index_select(0, sel) / norm) * table[6].index_select(0, it) \
            + (w1.index_select(0, sel) / norm) * table[7].index_select(0, it) \
            + (w2.index_select(0, sel) / norm) * table[8].index_select(0, it)
        ok = torch.nonzero(z > float("-inf")).squeeze(1)  # -inf/NaN depths never win in kaolin either
        sel, it, z = sel.index_select(0, ok), it.index_select(0, ok), z.index_select(0, ok)
        g = gid.index_select(0, it)
        b = torch.div(g, F, rounding_mode="floor")
        pix_all.append((b * height + row.index_select(0, sel).long()) * width + col.index_select(0, sel).long())
        face_all.append(g - b * F)
        z_all.append(z)
    if not pix_all:
        return face_idx.view(B, height, width)
    pix, face, z = torch.cat(pix_all), torch.cat(face_all), torch.cat(z_all)
    zbuf = torch.full((B * height * width,), float("-inf"), dtype=z.dtype, device=device)
    zbuf.scatter_reduce_(0, pix, z, reduce="amax")
    win = z == zbuf[pix]
    big = torch.iinfo(torch.long).max
    fbuf = torch.full((B * height * width,), big, dtype=torch.long, device=device)
    fbuf.scatter_reduce_(0, pix[win], face[win], reduce="amin")
    face_idx = torch.where(fbuf == big, face_idx, fbuf)
    return face_idx.view(B, height, width)


def barycentric_at_pixels(face_vertices_image: torch.Tensor, face_idx: torch.Tensor, eps: float = 1e-8):
    """Differentiable barycentric weights of the covered pixels, kaolin's backward formula.

    face_vertices_image (B, F, 3, 2) NDC; face_idx (B, H, W) from :func:`rasterize_face_index`.
    Returns (pix (P,) flat pixel index into B*H*W, gface (P,) flat face index into B*F,
    weights (P, 3)); the weights are ``w1 = k1 / k3``, ``w2 = k2 / k3``, ``w0 = 1 - w1 - w2`` with
    ``k3 + copysign(eps, k3)`` at the fixed pixel centre, so gradients reach the image coordinates."""
    B, H, W = face_idx.shape
    F = face_vertices_image.shape[1]
    flat = face_idx.reshape(-1)
    pix = torch.nonzero(flat >= 0).squeeze(1)
    b = torch.div(pix, H * W, rounding_mode="floor")
    rem = pix - b * H * W
    i = torch.div(rem, W, rounding_mode="floor")
    j = rem - i * W
    gface = b * F + flat[pix]
    xs, ys = ndc_pixel_centres(H, W, face_vertices_image.dtype, face_vertices_image.device)
    # differentiable gather; unbind (not indexing) so the backward is one stack, not six zero-fills
    ax, ay, bx, by, cx, cy = face_vertices_image.reshape(B * F, 6).index_select(0, gface).unbind(1)
    m, p = bx - ax, by - ay
    n, q = cx - ax, cy - ay
    s, t = xs.index_select(0, j) - ax, ys.index_select(0, i) - ay
    k1 = s * q - n * t
    k2 = m * t - s * p
    k3 = m * q - n * p
    k3 = k3 + torch.copysign(torch.full_like(k3, eps), k3.detach())
    w1 = k1 / k3
    w2 = k2 / k3
    w0 = 1.0 - w1 - w2
    return pix, gface, torch.stack([w0, w1, w2], dim=-1)


def interpolate(face_features: torch.Tensor, pix: torch.Tensor, gface: torch.Tensor, weights: torch.Tensor,
                num_pixels: int) -> torch.Tensor:
    """Scatter barycentric interpolation of per-corner features into a flat image.

    face_features (B, F, 3, D); pix, gface (P,); weights (P, 3). Returns (num_pixels, D), zero where
    no face covers the pixel."""
    D = face_features.shape[-1]
    vals = interpolate_corners(face_features.reshape(-1, 3, D), gface, weights)
    return vals.new_zeros((num_pixels, D)).index_copy(0, pix, vals)


def interpolate_corners(corners: torch.Tensor, gface: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """corners (B*F, 3, D) per-corner values, gface (P,), weights (P, 3) -> (P, D)."""
    D = corners.shape[-1]
    f0, f1, f2 = corners.reshape(-1, 3 * D).index_select(0, gface).reshape(-1, 3, D).unbind(1)
    w0, w1, w2 = weights.unsqueeze(-1).unbind(1)
    return w0 * f0 + w1 * f1 + w2 * f2


def rasterize(height: int, width: int, face_vertices_z: torch.Tensor, face_vertices_image: torch.Tensor,
              face_features, valid_faces: torch.Tensor | None = None, multiplier: float = 1000,
              eps: float = 1e-8):
    """kaolin's ``rasterize`` (DIB-R hard rasterization with differentiable interpolation).

    Args:
        height, width: image size.
        face_vertices_z: (B, F, 3) depth, the largest is the closest.
        face_vertices_image: (B, F, 3, 2) NDC xy (x right, y up).
        face_features: (B, F, 3, D) per-corner features, or a list/tuple of such tensors.
        valid_faces: (B, F) bool, faces to rasterize (default all).
        multiplier: coordinate scale of the coverage test (kaolin's numerical trick).
        eps: added (with the sign of the area) to the barycentric normaliser.
    Returns:
        (interpolated features (B, H, W, D) or a tuple of them, face_idx (B, H, W) int64, -1 background).
    """
    multiplier = 1000 if multiplier is None else multiplier
    eps = 1e-8 if eps is None else eps
    feats = torch.cat(list(face_features), dim=-1) if isinstance(face_features, (list, tuple)) \
        else face_features
    B = face_vertices_z.shape[0]
    face_idx = rasterize_face_index(height, width, face_vertices_z, face_vertices_image, valid_faces,
                                    multiplier, eps)
    pix, gface, w = barycentric_at_pixels(face_vertices_image, face_idx, eps)
    image = interpolate(feats, pix, gface, w, B * height * width).reshape(B, height, width, -1)
    if isinstance(face_features, (list, tuple)):
        out, start = [], 0
        for f in face_features:
            out.append(image[..., start:start + f.shape[-1]])
            start += f.shape[-1]
        image = tuple(out)
    return image, face_idx
