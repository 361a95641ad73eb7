"""Automatic object masks for photos with neither alpha nor mask files, on any background.

No learned model and no downloads: the rough cameras say where the object is, colour models say
what it looks like, and the views vote on its shape.

1. **Seed from the cameras.** The cameras look at the object, so the point closest to all their
   optical axes (least squares) is its centre; its radius is assumed to span ``fill`` of the
   narrowest half field of view at the median camera distance (a rough camera rig frames the
   object, and the colour models below correct the guess). That sphere, projected into each view,
   gives a spatial prior: likely object inside, likely background well outside.
2. **Colour models, GrabCut-style without graph cuts.** Pixels in CIE Lab with lightness
   down-weighted (shading and exposure change lightness far more than hue). One object Gaussian
   mixture shared by all views (the object looks the same from everywhere: this is what makes
   the views consistent) and one background mixture per view (backgrounds differ). A few rounds
   of: per-pixel log-likelihood ratio + spatial prior -> mean-field smoothing -> a guided filter
   (outlines snap to colour edges) -> refit both mixtures from the new masks.
3. **The views vote.** A coarse visual hull is carved from the (slightly widened) masks, tolerant
   of a minority of views disagreeing (rough cameras, a bad mask); parts of the space outside a
   view's frame are unknown to it, not background. Reprojected into each view, the hull replaces
   the sphere as the spatial prior for a last round in which backgrounds are learnt only outside
   it (a close-up with almost no background follows the hull alone), and a view's mask pixels that
   the hull does not support are dropped. A view whose mask covers little of the hull shows no
   object: it is named in a warning, its mask left empty, and the hull carved again without it.
4. **Clean-up:** the components touching the object's seed are kept, small enclosed holes filled
   (large holes stay: objects can have real holes).

It fails where colour does not separate object from background (a support of the object's
colour, strong shadows, specular highlights that mirror the room); a view whose mask disagrees
with the rest is named in a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage

from ..runtime.errors import Cancelled, InputError
from .images import resize_image, split_rgb_alpha
from .masks import fill_small_holes, has_useful_alpha

# The sphere the cameras look at spans this fraction of the narrowest half field of view: rigs
# frame their object with some margin, and the colour models correct the guess either way.
FILL = 0.7
# Spatial prior from a projected disc of radius rho: logit +PRIOR_GAIN at the centre, 0 at the
# rim, falling on outside. Colour log-likelihood ratios are clipped to +-LLR_CLIP so that one
# colour seen only in the background cannot outvote the geometry by itself.
PRIOR_GAIN = 3.0
LLR_CLIP = 6.0
LIGHTNESS_WEIGHT = 0.4
COMPONENTS = 5
ROUNDS = 3
HULL_ROUNDS = 1
# The first object model learns from the inner part of the seed disc only (prior logit above this):
# the disc is larger than most objects, and background learnt as object reinforces itself.
INIT_LOGIT = 1.5
# Masks are widened by this fraction of the short side before the hull vote: rough cameras
# (3 degrees is several pixels) otherwise carve the object away.
HULL_SLACK = 0.02
# Guided-filter regularisation (Lab / 100 units squared): the smoothed mask's outline follows colour
# edges stronger than about sqrt(eps) = 0.1.
GUIDED_EPS = 0.01
# Weight of the hull's prior against the colour models. Measured (bench_segment.py and the test
# scene): with calibrated cameras (the LLFF capture) 1.0 is best (IoU 0.952 vs 0.948 at 0.5), with
# 3-degree rough cameras 0.25 (0.881 vs 0.873 at 0.5, 0.84 at 1.0); 0.5 serves both.
HULL_PRIOR_SCALE = 0.5
# A view whose mask covers less than this fraction of the hull's silhouette shows no object there
# (the other views outvoted it). Good views cover 0.5 or more (the hull, widened for rough cameras,
# is larger than the object); a view of clutter alone covered 0.12 in the test scene.
MIN_COVERED = 0.3
SMOOTH_ITERS = 4
SMOOTH_WEIGHT = 4.0
HULL_GRID = 48
# A voxel stays in the hull when at least this fraction of the views that see it call it object:
# a minority of views with a poor mask or a rough camera cannot carve the object away.
HULL_AGREEMENT = 0.7
# Mask pixels this far (fraction of the short side) outside the hull's silhouette are still kept:
# rough cameras shrink the hull, and the vote is meant to drop blunders, not to trim outlines.
SUPPORT_MARGIN = 0.03
# Long side at which views are segmented (masks are resized to the caller's size afterwards):
# the colour models and the hull need no more, and the cost grows with the pixel count.
SEGMENT_SIZE = 256
_SAMPLES = 3000
# A view with less background than this fraction of it (a close-up) gets no background model: its
# mask follows the spatial prior alone.
MIN_BACKGROUND = 0.05
# Enclosed holes up to this fraction of the object are filled (dark pits and highlights inside it).
HOLE_FRACTION = 0.01


@dataclass
class Segmentation:
    """masks (N, H, W) float32 in {0, 1}; the seed sphere (centre (3,), radius); warnings naming views;
    the masks before the views voted (``colour_only``), the seed discs (``seed``) and the hull's
    silhouettes (``hull``), all (N, H, W)
    bool, for benchmarks."""

    masks: np.ndarray
    center: np.ndarray
    radius: float
    warnings: list[str] = field(default_factory=list)
    colour_only: np.ndarray | None = None
    seed: np.ndarray | None = None
    hull: np.ndarray | None = None


def camera_centres(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    return -np.einsum("nji,nj->ni", R, t)


def look_at_point(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The point closest (least squares) to the optical axes of OpenCV cameras R (N, 3, 3), t (N, 3)."""
    c = camera_centres(R, t)
    d = R[:, 2, :]  # optical axis (camera +z) in world coordinates
    proj = np.eye(3)[None] - d[:, :, None] * d[:, None, :]
    a, b = proj.sum(0), np.einsum("nij,nj->i", proj, c)
    if np.linalg.cond(a) > 1e8:
        raise InputError("the cameras' optical axes are parallel, so the object they look at cannot be located; "
                         "automatic segmentation needs photos taken from around the object")
    return np.linalg.solve(a, b)


def seed_sphere(K: np.ndarray, R: np.ndarray, t: np.ndarray, sizes, fill: float = FILL) -> tuple[np.ndarray, float]:
    """(centre (3,), radius) of the object the cameras look at (module docstring, step 1)."""
    center = look_at_point(R, t)
    cam = np.einsum("nij,j->ni", R, center) + t
    if np.median(cam[:, 2]) <= 0:
        raise InputError("the point the cameras' axes meet lies behind most of them; check that the cameras "
                         "face the object (OpenCV: +z forward)")
    dist = np.linalg.norm(cam, axis=1)
    half = [min(np.arctan2(w / 2, k[0, 0]), np.arctan2(h / 2, k[1, 1])) for k, (w, h) in zip(K, sizes)]
    return center, float(np.median(dist) * np.sin(fill * np.median(half)))


def project(K, R, t, points):
    """points (P, 3) -> pixel coordinates (N, P, 2) and depth (N, P)."""
    cam = np.einsum("nij,pj->npi", R, points) + t[:, None, :]
    z = cam[..., 2]
    uv = np.einsum("nij,npj->npi", K, cam)[..., :2] / np.where(np.abs(z) < 1e-9, 1e-9, z)[..., None]
    return uv, z


def disc_prior(K, R, t, center, radius, h, w) -> np.ndarray:
    """Prior logits (N, H, W) of the projected sphere: +PRIOR_GAIN at its centre, 0 at its rim."""
    uv, z = project(K, R, t, center[None])
    rho = K[:, 0, 0] * radius / np.sqrt(np.maximum(z[:, 0] ** 2 - radius ** 2, 1e-12))
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    d = np.hypot(xx[None] - uv[:, 0, 0, None, None], yy[None] - uv[:, 0, 1, None, None]) / rho[:, None, None]
    return (PRIOR_GAIN * (1.0 - d)).astype(np.float32)


def lab_features(rgb: np.ndarray) -> np.ndarray:
    """sRGB (..., 3) in [0, 1] -> CIE Lab / 100 with lightness scaled by LIGHTNESS_WEIGHT (..., 3)."""
    c = np.clip(rgb, 0.0, 1.0).astype(np.float32)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]], np.float32)
    xyz = lin @ m.T / np.array([0.9505, 1.0, 1.089], np.float32)
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    lab = np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)
    return (lab / 100.0 * np.array([LIGHTNESS_WEIGHT, 1.0, 1.0], np.float32)).astype(np.float32)


class Gmm:
    """A Gaussian mixture with full covariances, fitted by a few EM steps (deterministic given rng)."""

    def __init__(self, x: np.ndarray, rng: np.random.Generator, k: int = COMPONENTS, iters: int = 8):
        x = x.astype(np.float64)
        k = max(1, min(k, len(x) // 10))
        self.mu = x[rng.choice(len(x), k, replace=False)]
        self.cov = np.repeat(np.cov(x.T)[None] + 1e-4 * np.eye(3), k, 0)
        self.w = np.full(k, 1.0 / k)
        for _ in range(iters):
            r = self._resp(x)
            n = r.sum(0) + 1e-9
            self.w = n / n.sum()
            self.mu = (r.T @ x) / n[:, None]
            dx = x[:, None, :] - self.mu[None]
            self.cov = np.einsum("pk,pki,pkj->kij", r, dx, dx) / n[:, None, None] + 1e-4 * np.eye(3)

    def _component_logs(self, x):
        inv = np.linalg.inv(self.cov)
        dx = x[:, None, :] - self.mu[None]
        maha = np.einsum("pki,kij,pkj->pk", dx, inv, dx)
        return np.log(self.w) - 0.5 * (maha + np.linalg.slogdet(self.cov)[1] + 3 * np.log(2 * np.pi))

    def _resp(self, x):
        lg = self._component_logs(x)
        lg -= lg.max(1, keepdims=True)
        r = np.exp(lg)
        return r / r.sum(1, keepdims=True)

    def log_likelihood(self, x: np.ndarray) -> np.ndarray:
        lg = self._component_logs(x.reshape(-1, 3).astype(np.float64))
        top = lg.max(1)
        return (top + np.log(np.exp(lg - top[:, None]).sum(1))).reshape(x.shape[:-1])


def _sample(x: np.ndarray, where: np.ndarray, n: int, rng) -> np.ndarray:
    idx = np.flatnonzero(where.ravel())
    if len(idx) > n:
        idx = rng.choice(idx, n, replace=False)
    return x.reshape(-1, 3)[idx]


def _smooth(unary: np.ndarray, sigma: float) -> np.ndarray:
    """Mean-field smoothing of per-pixel logits (H, W) -> probabilities: neighbours vote."""
    q = 1.0 / (1.0 + np.exp(-unary))
    for _ in range(SMOOTH_ITERS):
        q = 1.0 / (1.0 + np.exp(-(unary + SMOOTH_WEIGHT * (2.0 * ndimage.gaussian_filter(q, sigma) - 1.0))))
    return q


def guided_filter(guide: np.ndarray, p: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter: ``p`` (H, W) smoothed so that its edges follow those of the colour
    ``guide`` (H, W, 3): a mask's outline snaps to the object's colour edges."""
    size = 2 * radius + 1

    def box(x):
        return ndimage.uniform_filter(x, size=(size, size) + (1,) * (x.ndim - 2), mode="reflect")

    mi, mp = box(guide), box(p)
    cov = box(guide * p[..., None]) - mi * mp[..., None]
    var = box(guide[..., :, None] * guide[..., None, :]) - mi[..., :, None] * mi[..., None, :]
    a = np.linalg.solve(var + eps * np.eye(3), cov[..., None])[..., 0]
    b = mp - (a * mi).sum(-1)
    return (box(a) * guide).sum(-1) + box(b)


def _colour_round(feats, prior, masks, rng, sigma, background=None) -> np.ndarray:
    """One shared object model (from ``masks``), one background model per view (from
    ``background``, default: outside ``masks``), a smoothed posterior per view."""
    background = ~masks if background is None else background
    n = len(feats)
    per_view = max(200, 4 * _SAMPLES // n)
    fg = np.concatenate([_sample(f, m, per_view, rng) for f, m in zip(feats, masks)])
    if len(fg) < 50:
        return np.zeros_like(prior)
    fg_model = Gmm(fg, rng)
    out = np.empty_like(prior)
    for i in range(n):
        bg = _sample(feats[i], background[i], _SAMPLES, rng)
        if background[i].mean() < MIN_BACKGROUND:  # the object fills the view: nothing to contrast it with
            out[i] = _smooth(prior[i], sigma)
            continue
        llr = fg_model.log_likelihood(feats[i]) - Gmm(bg, rng).log_likelihood(feats[i])
        out[i] = _smooth(np.clip(llr, -LLR_CLIP, LLR_CLIP) + prior[i], sigma)
        if GUIDED_EPS > 0:
            out[i] = guided_filter(feats[i], out[i], max(1, int(round(sigma))), GUIDED_EPS)
    return out


def _clean(prob: np.ndarray, seed: np.ndarray, width: int) -> np.ndarray:
    """Open away strands up to ``width`` px (edges of a support or a box that share the object's
    colour), keep the components that touch the seed (else the largest), fill specks of holes (only
    specks: the object's own openings show background through them)."""
    fg = prob > 0.5
    if width >= 1:
        opened = ndimage.binary_opening(fg, np.ones((2 * width + 1,) * 2, bool))
        fg = opened if opened.any() else fg
    labels, n = ndimage.label(fg, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return fg
    keep = np.unique(labels[seed & fg])
    keep = keep[keep > 0]
    if not len(keep):
        keep = [np.argmax(np.bincount(labels.ravel())[1:]) + 1]
    return fill_small_holes(np.isin(labels, keep), HOLE_FRACTION)


def visual_hull(K, R, t, masks, center, radius, grid: int = HULL_GRID) -> tuple[np.ndarray, float]:
    """Voxel centres (P, 3) kept by the vote of ``masks`` (N, H, W bool), and the voxel size."""
    n, h, w = masks.shape
    half = 1.5 * radius
    ax = np.linspace(-half, half, grid)
    pts = np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), -1).reshape(-1, 3) + center
    votes, seen = np.zeros(len(pts)), np.zeros(len(pts))
    for i in range(n):  # one view at a time: memory stays at one view's worth of points
        uv, z = project(K[i:i + 1], R[i:i + 1], t[i:i + 1], pts)
        u, v = np.floor(uv[0, :, 0]).astype(int), np.floor(uv[0, :, 1]).astype(int)
        inside = (z[0] > 0) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
        seen += inside
        votes[inside] += masks[i][v[inside], u[inside]]
    keep = (seen >= 2) & (votes >= HULL_AGREEMENT * np.maximum(seen, 1))
    return pts[keep], float(ax[1] - ax[0])


def hull_masks(K, R, t, pts, voxel, h, w) -> np.ndarray:
    """The hull's silhouette in each view (N, H, W bool): each voxel splatted as its 27 sub-voxel
    points, holes of a pixel closed."""
    out = np.zeros((len(K), h, w), dtype=bool)
    if not len(pts):
        return out
    offsets = np.stack(np.meshgrid(*[np.array([-1 / 3, 0.0, 1 / 3]) * voxel] * 3, indexing="ij"), -1).reshape(-1, 3)
    for i in range(len(K)):
        foot = K[i, 0, 0] * voxel / max(float(np.median((pts @ R[i].T + t[i])[:, 2])), 1e-9)
        dense = (pts[:, None, :] + offsets[None]).reshape(-1, 3) if foot > 1.5 else pts
        uv, z = project(K[i:i + 1], R[i:i + 1], t[i:i + 1], dense)
        u, v = np.floor(uv[0, :, 0]).astype(int), np.floor(uv[0, :, 1]).astype(int)
        ok = (z[0] > 0) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
        out[i][v[ok], u[ok]] = True
        out[i] = ndimage.binary_closing(out[i], np.ones((3, 3), bool), border_value=0) | out[i]
    return out


def _hull_prior(hull: np.ndarray) -> np.ndarray:
    """Prior logits (N, H, W) from the hull's silhouettes: 0 on their outline, PRIOR_GAIN per tenth
    of the short side into them, twice that (at most) out of them."""
    step = 1.0 / (0.1 * min(hull.shape[1:]))
    out = np.empty(hull.shape, np.float32)
    for i, m in enumerate(hull):
        d = np.where(m, ndimage.distance_transform_edt(m, sampling=step),
                     -ndimage.distance_transform_edt(~m, sampling=step))
        out[i] = np.clip(d * PRIOR_GAIN, -2 * PRIOR_GAIN, PRIOR_GAIN)
    return out


def segment_views(images: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray, names: list[str] | None = None,
                  fill: float = FILL, seed: int = 0, progress=None, should_stop=None,
                  hull_weight: float = HULL_PRIOR_SCALE) -> Segmentation:
    """Object masks for views images (N, H, W, 3) in [0, 1] with OpenCV cameras K, R, t for that size.

    See the module docstring. ``hull_weight``: the hull prior's weight against the colour models
    (higher for calibrated cameras, lower for rough ones: see HULL_PRIOR_SCALE).
    ``progress(fraction, message)`` is called between stages;
    ``should_stop()`` is checked there too and raises Cancelled (nothing has been written)."""
    images = np.asarray(images, dtype=np.float32)
    n, h, w = images.shape[:3]
    K, R, t = (np.asarray(a, dtype=np.float64) for a in (K, R, t))
    names = names or [str(i) for i in range(n)]
    if n < 2:
        raise InputError("automatic segmentation needs at least 2 views (the views vote on the object's shape)")
    rng = np.random.default_rng(seed)
    def report(fraction: float, message: str) -> None:
        if should_stop is not None and should_stop():
            raise Cancelled("segmentation cancelled")
        if progress is not None:
            progress(fraction, message)

    center, radius = seed_sphere(K, R, t, [(w, h)] * n, fill)
    prior = disc_prior(K, R, t, center, radius, h, w)
    core = prior > 0.5 * PRIOR_GAIN  # the inner half of the projected sphere
    feats = np.stack([lab_features(im) for im in images])
    sigma = max(1.0, 0.006 * (h + w))
    strand = max(1, int(0.004 * (h + w)))
    masks = prior > INIT_LOGIT
    for r in range(ROUNDS):
        report(0.9 * r / (ROUNDS + HULL_ROUNDS + 1), f"segmentation: colour models, round {r + 1}")
        prob = _colour_round(feats, prior, masks, rng, sigma)
        masks = np.stack([_clean(p, c, strand) for p, c in zip(prob, core)])
    colour_only = masks
    stages = ROUNDS + HULL_ROUNDS + 1
    valid = np.ones(n, dtype=bool)  # views whose masks vote and teach the object model
    r = 0
    while True:
        # the hull's silhouette replaces the sphere as the spatial prior
        report(0.9 * (ROUNDS + r) / stages, f"segmentation: visual hull, round {r + 1}")
        slack = int(HULL_SLACK * min(h, w))
        voted = masks[valid]
        if slack:
            voted = np.stack([ndimage.binary_dilation(m, iterations=slack) for m in voted])
        pts, voxel = visual_hull(K[valid], R[valid], t[valid], voted, center, radius)
        hull = hull_masks(K, R, t, pts, voxel, h, w)
        support = np.stack([ndimage.binary_dilation(m, iterations=max(2, int(SUPPORT_MARGIN * min(h, w))))
                            for m in hull])
        # background learnt only where no view puts the object: a close-up whose colour mask went
        # wrong would otherwise teach its background model the object's colours
        prob = _colour_round(feats, hull_weight * _hull_prior(hull), masks & valid[:, None, None], rng, sigma,
                             ~support)
        ungated = np.stack([_clean(p, c & m, strand) for p, c, m in zip(prob, core, hull)])
        masks = ungated & support
        covered = (masks & hull).sum((1, 2)) / np.maximum(hull.sum((1, 2)), 1)
        empty = ~(masks & core).any((1, 2)) | (covered < MIN_COVERED)
        r += 1
        # a view that shows no object (the others outvoted it) is dropped from the vote and from the
        # object model, and the hull is carved again without it: its clutter must not shape the rest
        if r >= HULL_ROUNDS and (not (empty & valid).any() or r > HULL_ROUNDS or (valid & ~empty).sum() < 2):
            break
        valid &= ~empty
    warnings = []
    out = np.zeros((n, h, w), np.float32)
    for i in range(n):
        inside = (ungated[i] & support[i]).sum() / max(ungated[i].sum(), 1)
        if empty[i]:
            warnings.append(f"frame {names[i]}: automatic segmentation found no object where the cameras look "
                            f"(its mask covers {covered[i]:.0%} of the object's outline seen from the other "
                            f"views); its mask is left empty: check its camera, or give it a mask file")
            continue
        out[i] = masks[i]
        if inside < 0.5:
            warnings.append(f"frame {names[i]}: its automatic mask agrees poorly with the other views "
                            f"(only {inside:.0%} of it lies where the other views put the object); "
                            f"check its camera, or give it a mask file")
    if progress is not None:
        progress(1.0, "segmentation done")
    return Segmentation(out, center, radius, warnings, colour_only, prior > 0, hull)


def segment_frames(frames: list, size: int = SEGMENT_SIZE, progress=None, should_stop=None):
    """Frames (texforge.data.gather.Frame) -> (frames, warnings): every frame with neither a mask file
    nor a useful alpha channel gets a ``read_mask`` holding its automatic mask (at the frame's own
    size, resized from a long side of ``size``); the others are returned unchanged."""
    todo, images, Ks = [], [], []
    for i, f in enumerate(frames):
        if f.read_mask is not None:
            continue
        rgb, alpha = split_rgb_alpha(f.read_pixels())
        if has_useful_alpha(alpha):
            continue
        fh, fw = rgb.shape[:2]
        scale = min(1.0, size / max(fh, fw))
        sw, sh = max(1, round(fw * scale)), max(1, round(fh * scale))
        if images and (sw, sh) != images[0].shape[1::-1]:
            sw, sh = images[0].shape[1::-1]  # photos of another aspect: one working grid for the vote
        images.append(resize_image(rgb, sw, sh) if (sw, sh) != (fw, fh) else rgb)
        Ks.append(np.diag([sw / f.size[0], sh / f.size[1], 1.0]) @ np.asarray(f.K, dtype=np.float64))
        todo.append(i)
    if not todo:
        return list(frames), []
    if len(todo) < 2:
        raise InputError(f"{frames[todo[0]].label}: automatic segmentation needs at least 2 photos without "
                         f"masks (the views vote on the object's shape); give it a mask file")
    seg = segment_views(np.stack(images), np.stack(Ks), np.stack([frames[i].R for i in todo]),
                        np.stack([frames[i].t for i in todo]), [frames[i].name for i in todo], progress=progress,
                        should_stop=should_stop)
    out = list(frames)
    for j, i in enumerate(todo):
        out[i] = replace(frames[i], read_mask=(lambda m=seg.masks[j]: m))
    return out, seg.warnings
