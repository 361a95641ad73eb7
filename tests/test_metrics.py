"""Image, geometry and feature-distribution metrics against known values."""

import math

import numpy as np
import pytest
import trimesh

from texforge.metrics.features import fid_from_features, kid
from texforge.metrics.geometry import chamfer_fscore, normal_consistency, sample_surface
from texforge.metrics.image import PSNR_MAX_DB, mask_iou_hard, psnr, ssim
from texforge.mesh.types import TexturedMesh


# ------------------------------------------------------------------------------------------------
# PSNR / SSIM / IoU
# ------------------------------------------------------------------------------------------------

def test_psnr_known_values():
    a = np.full((32, 32, 3), 0.5)
    b = a.copy()
    b[::2] += 0.1
    b[1::2] -= 0.1  # every pixel off by exactly 0.1 -> MSE 0.01 -> 20 dB
    assert psnr(a, b) == pytest.approx(20.0, abs=1e-9)
    rng = np.random.default_rng(0)
    noisy = a + rng.normal(0.0, 0.05, a.shape)  # sigma 0.05 -> 26.02 dB
    assert psnr(a, noisy) == pytest.approx(-20 * math.log10(0.05), abs=0.1)
    assert psnr(a, a) == PSNR_MAX_DB
    mask = np.zeros((32, 32))
    mask[::2] = 1  # only the +0.1 rows
    c = a.copy()
    c[::2] += 0.1
    c[1::2] = 0.0  # huge errors outside the mask are ignored
    assert psnr(a, c, mask=mask) == pytest.approx(20.0, abs=1e-9)
    with pytest.raises(ValueError):
        psnr(a, b[:16])


def test_supersampled_view_scores_composite_and_average_down_before_comparing():
    """A 4x4 render at 2x of a 2x2 photo: the object covers the left half. Averaged down, the left
    column is the object's colour and the right one the background; a half-covered pixel is 0.5."""
    import torch

    from texforge.metrics.image import supersampled_view_scores

    hard = torch.zeros(1, 4, 4)
    hard[:, :, :2] = 1.0
    rgb = torch.full((1, 4, 4, 3), 0.8)
    background = torch.tensor([0.2, 0.2, 0.2])
    photo = np.array([[[0.8] * 3, [0.2] * 3]] * 2, dtype=np.float32)[None]
    ious, psnrs = supersampled_view_scores(rgb, hard, background, photo, np.array([[[1.0, 0.0]] * 2]), 2)
    assert float(ious[0]) == 1.0 and psnrs[0] == PSNR_MAX_DB
    hard[:, :, 1] = 0.0                                            # a quarter of the render: half a pixel
    ious, psnrs = supersampled_view_scores(rgb, hard, background, photo, np.array([[[1.0, 0.0]] * 2]), 2)
    assert float(ious[0]) == 0.0                                   # 0.5 coverage is not above the threshold
    assert psnrs[0] == pytest.approx(psnr(np.array([[[0.5] * 3, [0.2] * 3]] * 2), photo[0]))


def test_ssim_single_window_matches_direct_formula():
    """On an 11x11 image the valid region is the centre pixel: SSIM is the textbook formula with an
    11x11 Gaussian window (sigma 1.5) over the whole image."""
    rng = np.random.default_rng(3)
    x, y = rng.random((11, 11)), rng.random((11, 11))
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5 ** 2))
    w = np.outer(g, g)
    w /= w.sum()
    mx, my = (w * x).sum(), (w * y).sum()
    vx, vy = (w * x * x).sum() - mx ** 2, (w * y * y).sum() - my ** 2
    cxy = (w * x * y).sum() - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    expected = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    assert ssim(x, y) == pytest.approx(expected, abs=1e-10)


def test_ssim_identity_constants_and_ordering():
    rng = np.random.default_rng(1)
    img = rng.random((48, 48, 3))
    assert ssim(img, img) == pytest.approx(1.0, abs=1e-12)
    # constant images: only the luminance term remains, (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)
    c1 = 0.01 ** 2
    assert ssim(np.full((20, 20), 0.2), np.full((20, 20), 0.6)) == pytest.approx(
        (2 * 0.2 * 0.6 + c1) / (0.04 + 0.36 + c1), abs=1e-9)
    smooth = np.clip(np.cumsum(rng.normal(0, 0.05, (48, 48)), axis=1) + 0.5, 0, 1)
    scores = [ssim(smooth, smooth + rng.normal(0, s, smooth.shape)) for s in (0.01, 0.05, 0.2)]
    assert 1.0 > scores[0] > scores[1] > scores[2]


def test_mask_iou_identities():
    a = np.zeros((10, 10))
    a[:5] = 1
    b = np.zeros((10, 10))
    b[:, :5] = 1
    assert mask_iou_hard(a, a) == 1.0
    assert mask_iou_hard(a, 1 - a) == 0.0
    assert mask_iou_hard(a, b) == pytest.approx(25 / 75)
    assert mask_iou_hard(a, b) == mask_iou_hard(b, a)
    assert mask_iou_hard(np.zeros((4, 4)), np.zeros((4, 4))) == 1.0  # two empty masks agree
    assert mask_iou_hard(np.zeros((4, 4)), np.ones((4, 4))) == 0.0
    assert mask_iou_hard(a * 0.6, a) == 1.0 and mask_iou_hard(a * 0.4, a) == 0.0  # thresholded at 0.5


def test_hard_iou_is_per_view_and_agrees_with_the_scalar_form():
    """One hard IoU serves fits (batched torch, per view) and reports (one mask pair, float)."""
    import torch

    from texforge.metrics.image import hard_iou
    a = np.zeros((10, 10))
    a[:5] = 1
    b = np.zeros((10, 10))
    b[:, :5] = 1
    pred = torch.tensor(np.stack([a, a, np.zeros((10, 10)), 0.6 * a]), dtype=torch.float32)
    target = torch.tensor(np.stack([a, b, np.zeros((10, 10)), a]), dtype=torch.float32)
    iou = hard_iou(pred, target)
    assert iou.shape == (4,) and iou.dtype == torch.float32
    assert iou.tolist() == pytest.approx([1.0, 25 / 75, 1.0, 1.0])
    assert [mask_iou_hard(p, t) for p, t in zip(pred, target)] == pytest.approx(iou.tolist())
    assert hard_iou(pred.numpy()[:, None], target.numpy()[:, None]).shape == (4, 1)  # numpy, any leading dims
    with pytest.raises(ValueError, match="shapes differ"):
        hard_iou(pred, target[:, :5])


# ------------------------------------------------------------------------------------------------
# Chamfer / F-score / normals
# ------------------------------------------------------------------------------------------------

def sphere(radius=1.0, subdivisions=4):
    s = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return TexturedMesh(s.vertices, s.faces)


def test_centred_iou_sees_shapes_not_where_they_sit():
    import torch

    from texforge.metrics.image import centred_iou, hard_iou

    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    disc = lambda cx, cy, r: (((xs - cx) ** 2 + (ys - cy) ** 2) < r * r).float()  # noqa: E731
    target = torch.stack([disc(16, 16, 6)] * 3 + [torch.zeros(32, 32)])
    square = ((xs - 16).abs() < 5.3) & ((ys - 16).abs() < 5.3)   # the disc's area, another shape
    pred = torch.stack([disc(21, 12, 6), square.float(), disc(16, 16, 6), torch.zeros(32, 32)])
    plain, centred = hard_iou(pred, target), centred_iou(pred, target)
    assert plain[0] < 0.5 < 0.97 < centred[0]               # a shifted disc: the same shape
    assert centred[1] < 0.95 and abs(float(centred[1] - plain[1])) < 0.02   # a square stays a square
    assert float(centred[2]) == 1.0 and float(centred[3]) == 1.0           # in place; two empty masks


def test_sample_surface_is_area_weighted_and_on_the_surface():
    # two unit squares, one 3x larger in area: 3/4 of the samples land on it
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0],
                  [5, 0, 0], [5 + math.sqrt(3), 0, 0], [5 + math.sqrt(3), math.sqrt(3), 0], [5, math.sqrt(3), 0]])
    f = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    pts, nrm = sample_surface((v, f), 20000, seed=0)
    assert abs(np.mean(pts[:, 0] > 2) - 0.75) < 0.02
    assert np.allclose(pts[:, 2], 0) and np.allclose(np.abs(nrm[:, 2]), 1)
    big = pts[pts[:, 0] > 2]
    assert abs(big[:, 0].mean() - (5 + math.sqrt(3) / 2)) < 0.02  # uniform inside the square
    p2, _ = sample_surface((v, f), 100, seed=0)
    p3, _ = sample_surface((v, f), 100, seed=0)
    assert np.array_equal(p2, p3)  # deterministic


def test_chamfer_of_offset_spheres_matches_the_offset():
    gt, pred = sphere(1.0), sphere(1.05)
    r = chamfer_fscore(pred, gt, n=20000)
    assert r["chamfer_l1"] == pytest.approx(0.05, rel=0.08)
    assert r["chamfer_l2"] == pytest.approx(0.05 ** 2, rel=0.2)
    assert r["chamfer_l1_rel"] == pytest.approx(r["chamfer_l1"] / r["bbox_diagonal"])
    assert r["bbox_diagonal"] == pytest.approx(2 * math.sqrt(3), rel=0.01)
    # offset 0.05 is 1.4% of the diagonal: F@0.5% ~ 0, F@2% ~ 1
    assert r["fscore@0.5%"] < 0.05 and r["fscore@2%"] > 0.95
    assert r["normal_consistency"] > 0.99


def test_fscore_of_identical_meshes_is_one():
    m = sphere(0.7, 3)
    r = chamfer_fscore(m, m, n=5000)
    for key in ("fscore@0.5%", "fscore@1%", "fscore@2%"):
        assert r[key] == 1.0
    assert r["chamfer_l1"] < 1e-6 and r["normal_consistency"] == pytest.approx(1.0, abs=1e-3)


def test_normal_consistency_orders_shapes():
    s = sphere(1.0, 3)
    flipped = TexturedMesh(s.vertices, s.faces[:, ::-1])
    assert normal_consistency(flipped, s, n=5000) == pytest.approx(1.0)  # orientation-agnostic
    box = trimesh.creation.box(extents=(1.6, 1.6, 1.6))
    assert normal_consistency(TexturedMesh(box.vertices, box.faces), s, n=5000) < 0.95


# ------------------------------------------------------------------------------------------------
# KID / FID
# ------------------------------------------------------------------------------------------------

def test_kid_hand_computed_value():
    x = np.array([[0.0], [1.0]])
    y = np.array([[1.0], [2.0]])
    # kxx off-diagonal mean 1, kyy 27, kxy mean 37/4 -> 1 + 27 - 2 * 9.25 = 9.5
    assert kid(x, y) == pytest.approx(9.5)


def test_kid_identical_and_shifted_sets():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 32))
    b = rng.normal(size=(300, 32))
    same = kid(a, a)
    indep = kid(a, b)
    shifted = kid(a, b + 0.5)
    # the unbiased estimate drops the kernel diagonal, so one set against itself gives -O(1/m), not 0
    assert abs(same) < 0.06 and abs(indep) < 0.01
    assert shifted > 0.1 and shifted > 20 * abs(indep)
    mean, std = kid(a, b + 0.5, subset_size=100, num_subsets=20, return_std=True)
    assert mean == pytest.approx(shifted, rel=0.3) and std > 0
    assert kid(a, b + 0.5, subset_size=100, num_subsets=20) == mean  # deterministic (seeded)


def test_fid_exact_cases():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 8)) @ rng.normal(size=(8, 8))
    assert fid_from_features(a, a) == pytest.approx(0.0, abs=1e-6)
    c = np.arange(8) * 0.1
    assert fid_from_features(a, a + c) == pytest.approx(float(c @ c), abs=1e-6)  # same covariance
    a0 = a - a.mean(0)
    cov = np.cov(a0, rowvar=False)
    assert fid_from_features(a0, 2 * a0) == pytest.approx(np.trace(cov), rel=1e-6)  # S, 4S -> tr(S)
    few = rng.normal(size=(5, 16))  # fewer samples than dimensions: still finite
    assert np.isfinite(fid_from_features(few, few + 1.0))


def test_point_to_surface_distance_matches_brute_force():
    """The metrics' point-to-surface distance (candidate triangles + trimesh's closest point) on a
    one-triangle surface: exact, never above the distance to a dense grid on the triangle."""
    from texforge.metrics.geometry import _Surface

    rng = np.random.default_rng(5)
    a, b, c = rng.normal(size=(3, 3))
    # dense barycentric grid over the triangle (edges and vertices included)
    s = np.linspace(0, 1, 101)
    u, v = np.meshgrid(s, s)
    keep = u + v <= 1
    grid = a + u[keep, None] * (b - a) + v[keep, None] * (c - a)
    queries = rng.normal(scale=2.0, size=(200, 3))
    exact, _ = _Surface((np.stack([a, b, c]), np.array([[0, 1, 2]])), 50, seed=0).distance(queries)
    brute = np.min(np.linalg.norm(queries[:, None] - grid[None], axis=-1), axis=1)
    assert np.all(exact <= brute + 1e-12) and np.max(brute - exact) < 0.05  # grid spacing bound


def test_resampled_surface_is_not_limited_by_sample_spacing():
    """The same sphere triangulated twice (icosphere vs UV sphere) at ~1e-2 faceting: point-to-surface
    distances stay near the true faceting error, far below the 5000-sample spacing (~0.05)."""
    ico = sphere(1.0, 4)
    uv = trimesh.creation.uv_sphere(radius=1.0, count=[64, 64])
    r = chamfer_fscore(TexturedMesh(uv.vertices, uv.faces), ico, n=5000)
    assert r["chamfer_l1"] < 0.004 and r["fscore@0.5%"] > 0.99


def test_fid_in_the_feature_span_equals_the_full_computation():
    from texforge.metrics.features import fid_from_features
    rng = np.random.default_rng(3)
    a, b = rng.random((9, 120)) ** 3, rng.random((14, 120)) ** 2 + 0.1
    full = fid_from_features(a, b, in_span=False)
    assert fid_from_features(a, b) == pytest.approx(full, rel=1e-6) and full > 1.0
    assert fid_from_features(a, a) == pytest.approx(0.0, abs=1e-6)
