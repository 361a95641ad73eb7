"""Renderer operations: agreement with the brute-force reference, conventions, texture sampling,
perspective-correct interpolation, culling, weak perspective, gradients, CPU/CUDA equality."""

import importlib
import math

import pytest
import torch

from texforge.render import (
    dibr_rasterization,
    dibr_soft_mask,
    mask_iou,
    rasterize,
    render_mesh,
    texture_mapping,
)
from texforge.render.camera import Cameras
from texforge.render.dibr import reference_dibr
from texforge.render.prepare import face_normals
from texforge.render.weak_perspective import WeakPerspectiveCameras, quaternion_to_matrix


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread for these small workloads: on a shared 2-core machine libgomp's spin-waiting
    second thread makes them many times slower whenever other processes load the cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def random_soup(B=2, F=40, seed=0, dtype=torch.float64, size=0.5):
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(B, F, 1, 2, generator=g, dtype=dtype) * 2.2 - 1.1
    fvi = centres + (torch.rand(B, F, 3, 2, generator=g, dtype=dtype) - 0.5) * size
    fz = -1.0 - torch.rand(B, F, 3, generator=g, dtype=dtype) * 2.0
    feats = torch.rand(B, F, 3, 4, generator=g, dtype=dtype)
    valid = torch.rand(B, F, generator=g) > 0.2
    return fvi, fz, feats, valid


def icosphere(subdiv=2):
    t = (1.0 + 5 ** 0.5) / 2.0
    v = torch.tensor([[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t], [0, -1, -t],
                      [0, 1, -t], [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]], dtype=torch.float64)
    f = [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4], [11, 10, 2],
         [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9], [4, 9, 5],
         [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]]
    verts = [list(x) for x in (v / v.norm(dim=1, keepdim=True)).tolist()]
    for _ in range(subdiv):
        cache, nf = {}, []

        def mid(a, b, cache=cache):
            key = (min(a, b), max(a, b))
            if key not in cache:
                p = [(verts[a][k] + verts[b][k]) / 2 for k in range(3)]
                n = sum(c * c for c in p) ** 0.5
                verts.append([c / n for c in p])
                cache[key] = len(verts) - 1
            return cache[key]
        for a, b, c in f:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            nf += [[a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca]]
        f = nf
    return torch.tensor(verts, dtype=torch.float64), torch.tensor(f)


def look_at_cameras(eyes, size=48, focal=1.2, dtype=torch.float64):
    """OpenCV cameras at ``eyes`` looking at the origin, z up."""
    Rs, ts = [], []
    for e in eyes:
        e = torch.tensor(e, dtype=dtype)
        fwd = -e / e.norm()
        up = torch.tensor([0.0, 0.0, 1.0], dtype=dtype)
        if abs(float(fwd @ up)) > 0.99:
            up = torch.tensor([0.0, 1.0, 0.0], dtype=dtype)
        right = torch.linalg.cross(fwd, up)
        right = right / right.norm()
        down = torch.linalg.cross(fwd, right)
        R = torch.stack([right, down, fwd])
        Rs.append(R)
        ts.append(-R @ e)
    K = torch.tensor([[focal * size, 0, size / 2], [0, focal * size, size / 2], [0, 0, 1]], dtype=dtype)
    return Cameras(K.repeat(len(eyes), 1, 1), torch.stack(Rs), torch.stack(ts), size, size)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_bruteforce_reference(dtype):
    fvi, fz, feats, valid = random_soup(dtype=dtype)
    H, W = 23, 29
    x1, x2 = fvi.clone().requires_grad_(), fvi.clone().requires_grad_()
    f1, f2 = feats.clone().requires_grad_(), feats.clone().requires_grad_()
    im1, idx1 = rasterize(H, W, fz, x1, f1, valid)
    soft1 = dibr_soft_mask(x1, idx1, 700, 0.1, 5)
    im2, soft2, idx2 = reference_dibr(H, W, fz, x2, f2, valid, 700, 0.1, 5, pixel_chunk=97)
    assert torch.equal(idx1, idx2)
    assert ((idx1 >= 0).sum() > 50) and ((idx1 < 0).sum() > 50)
    tol = {"atol": 1e-5, "rtol": 1e-4} if dtype == torch.float32 else {"atol": 1e-9, "rtol": 1e-7}
    torch.testing.assert_close(soft1, soft2, **tol)
    torch.testing.assert_close(im1, im2, **tol)
    wimg = torch.rand_like(im1)
    ((im1 * wimg).sum() + (soft1 * soft1).sum()).backward()
    ((im2 * wimg).sum() + (soft2 * soft2).sum()).backward()
    gtol = {"atol": 2e-2, "rtol": 1e-2} if dtype == torch.float32 else {"atol": 1e-6, "rtol": 1e-6}
    torch.testing.assert_close(x1.grad, x2.grad, **gtol)
    torch.testing.assert_close(f1.grad, f2.grad, **gtol)


def test_knum_keeps_first_faces_in_index_order():
    # 12 identical small faces around one point: with knum=3 only the first 3 count
    base = torch.tensor([[0.3, 0.3], [0.5, 0.3], [0.3, 0.5]], dtype=torch.float64)
    fvi = base.expand(1, 12, 3, 2).clone()
    fvi[0, :, :, 0] += torch.linspace(0, 0.05, 12, dtype=torch.float64).unsqueeze(1)
    fz = -torch.ones(1, 12, 3, dtype=torch.float64)
    idx = torch.full((1, 20, 20), -1)
    for knum in (3, 12):
        soft = dibr_soft_mask(fvi, idx, 300, 0.3, knum)
        _, ref, _ = reference_dibr(20, 20, fz, fvi, torch.zeros(1, 12, 3, 1, dtype=torch.float64),
                                   torch.zeros(1, 12, dtype=torch.bool), 300, 0.3, knum)
        torch.testing.assert_close(soft, ref)
    assert not torch.allclose(dibr_soft_mask(fvi, idx, 300, 0.3, 3), dibr_soft_mask(fvi, idx, 300, 0.3, 12))


def test_chunked_enumeration_matches(monkeypatch):
    fvi, fz, feats, valid = random_soup(F=60, seed=3)
    im1, idx1 = rasterize(31, 17, fz, fvi, feats, valid)
    s1 = dibr_soft_mask(fvi, idx1, 7000, 0.05, 30)
    monkeypatch.setattr(importlib.import_module("texforge.render.rasterize"), "MAX_PAIRS", 50)
    im2, idx2 = rasterize(31, 17, fz, fvi, feats, valid)
    s2 = dibr_soft_mask(fvi, idx2, 7000, 0.05, 30)
    assert torch.equal(idx1, idx2) and torch.equal(im1, im2)
    torch.testing.assert_close(s1, s2)


def test_pixel_centre_and_row_convention():
    # a triangle in the upper-left quadrant covers only top rows and left columns (row 0 on top)
    fvi = torch.tensor([[[[-1.0, 0.0], [0.0, 1.0], [-1.0, 1.0]]]])
    fz = -torch.ones(1, 1, 3)
    _, idx = rasterize(8, 8, fz, fvi, torch.zeros(1, 1, 3, 1))
    cov = idx[0] >= 0
    assert cov[:4, :4].sum() == 10 and cov[4:].sum() == 0 and cov[:, 4:].sum() == 0
    assert cov[0, 0] and cov[0, 3] and cov[3, 0] and not cov[3, 3]
    # the half-open box: an edge exactly on a pixel centre column x=0 belongs to the right-hand face
    fvi2 = torch.tensor([[[[-0.5, -0.5], [0.0, -0.5], [0.0, 0.5]], [[0.0, -0.5], [0.5, -0.5], [0.0, 0.5]]]])
    _, idx2 = rasterize(4, 5, -torch.ones(1, 2, 3), fvi2, torch.zeros(1, 2, 3, 1))
    assert (idx2[0, 1:3, 2] == 1).all()


def test_depth_test_and_ties():
    quad = torch.tensor([[-0.9, -0.9], [0.9, -0.9], [0.0, 0.9]])
    fvi = quad.expand(1, 3, 3, 2).clone()
    fz = torch.tensor([[[-3.0] * 3, [-2.0] * 3, [-2.0] * 3]])
    _, idx = rasterize(9, 9, fz, fvi, torch.zeros(1, 3, 3, 1))
    vals = idx[idx >= 0].unique()
    assert vals.tolist() == [1]  # the closer faces win, the tie goes to the lower index


def test_interpolation_is_linear_in_screen_space():
    fvi = torch.tensor([[[[-1.0, -1.0], [3.0, -1.0], [-1.0, 3.0]]]], dtype=torch.float64)
    feats = fvi.clone()  # feature = NDC position: interpolation must reproduce the pixel centres
    im, idx = rasterize(6, 10, -torch.ones(1, 1, 3, dtype=torch.float64), fvi, feats)
    xs = (2 * torch.arange(10, dtype=torch.float64) + 1 - 10) / 10
    ys = (6 - 2 * torch.arange(6, dtype=torch.float64) - 1) / 6
    assert (idx >= 0).all()
    torch.testing.assert_close(im[0, :, :, 0], xs.expand(6, 10))
    torch.testing.assert_close(im[0, :, :, 1], ys.unsqueeze(1).expand(6, 10))


def test_soft_mask_gradcheck():
    fvi, fz, _, _ = random_soup(B=1, F=4, seed=5, size=0.8)
    idx = rasterize(9, 11, fz, fvi, torch.zeros(1, 4, 3, 1, dtype=torch.float64))[1]
    fn = lambda x: dibr_soft_mask(x, idx, 70, 0.3, 30)
    assert torch.autograd.gradcheck(fn, (fvi.clone().requires_grad_(),), eps=1e-6, atol=1e-4, rtol=1e-3, fast_mode=True)


def test_rasterize_gradcheck_features_and_positions():
    fvi, fz, feats, _ = random_soup(B=1, F=3, seed=7, size=1.2)
    fn = lambda x, f: rasterize(6, 7, fz, x, f)[0]
    assert torch.autograd.gradcheck(fn, (fvi.clone().requires_grad_(), feats.clone().requires_grad_()),
                                    eps=1e-7, atol=1e-4, rtol=1e-3, fast_mode=True)


def test_texture_mapping_conventions():
    tex = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]]).unsqueeze(0)  # (1, 1, 2, 2): row 0 on top
    uv = torch.tensor([[[[0.25, 0.75], [0.75, 0.75]], [[0.25, 0.25], [0.75, 0.25]]]])  # (1, 2, 2, 2)
    for mode in ("nearest", "bilinear"):
        out = texture_mapping(uv, tex, mode=mode)
        assert out.shape == (1, 2, 2, 1)
        torch.testing.assert_close(out[0, :, :, 0], torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    # bilinear halfway between texel centres; outside [0, 1] clamps to the border texel
    mid = texture_mapping(torch.tensor([[[0.5, 0.75], [1.7, -0.3]]]), tex, mode="bilinear")
    torch.testing.assert_close(mid[0, :, 0], torch.tensor([1.5, 4.0]))
    # one texture shared by a batch; sparse (B, P, 2) coordinates
    out = texture_mapping(torch.rand(3, 5, 2), tex.expand(1, 3, 2, 2), mode="bilinear")
    assert out.shape == (3, 5, 3)
    with pytest.raises(ValueError):
        texture_mapping(uv, tex, mode="bicubic")


def test_render_mesh_backface_culling_and_depth():
    v, f = icosphere(2)
    cams = look_at_cameras([(3.0, 0.0, 0.0), (0.0, -3.0, 1.0)])
    out = render_mesh(v, f, cams)
    assert out.hard_mask.dtype == torch.bool and torch.equal(out.hard_mask, out.face_idx >= 0)
    d = out.depth[out.hard_mask]
    cam_dist = torch.tensor([3.0, 10 ** 0.5])
    # CCW-from-outside faces: the visible surface is the near side of the unit sphere
    for k in range(2):
        dk = out.depth[k][out.hard_mask[k]]
        assert dk.min() > cam_dist[k] - 1.0 - 1e-3 and dk.max() < cam_dist[k] + 1e-6
    assert (out.depth[~out.hard_mask] == 0).all() and (d > 0).all()
    # same silhouette without culling (closed mesh), and the far side with reversed winding
    assert torch.equal(render_mesh(v, f, cams, cull_backfaces=False).face_idx, out.face_idx)
    flipped = render_mesh(v, f[:, [0, 2, 1]], cams)
    assert torch.equal(flipped.hard_mask, out.hard_mask)
    assert flipped.depth[flipped.hard_mask].mean() > out.depth[out.hard_mask].mean() + 0.5
    # kaolin's normal-z rule with prepare_vertices-style camera coordinates agrees for the sphere
    camv = cams.world_to_camera(v) * torch.tensor([1.0, -1.0, -1.0], dtype=v.dtype)  # OpenCV -> GL axes
    fvc = camv[:, f]
    _, _, idx = dibr_rasterization(48, 48, fvc[..., 2], out_ndc(cams, v)[:, f], fvc, face_normals(fvc, True)[..., 2])
    assert (idx != out.face_idx).float().mean() < 0.01


def out_ndc(cams, v):
    return cams.project_ndc(v)[0]


def test_perspective_correct_uv_on_tilted_plane():
    # plane x + z = 2 seen from the origin; uv = affine function of the 3D point
    P = torch.tensor([[-1.0, -1.0, 3.0], [1.5, -1.0, 0.5], [1.5, 1.0, 0.5], [-1.0, 1.0, 3.0]], dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    uvs = torch.stack([(P[:, 0] + 1) / 2.5, (P[:, 1] + 1) / 2], dim=1)
    size = 32
    K = torch.tensor([[[16.0, 0, 16], [0, 16.0, 16], [0, 0, 1]]], dtype=torch.float64)
    cams = Cameras(K, torch.eye(3, dtype=torch.float64)[None], torch.zeros(1, 3, dtype=torch.float64), size, size)
    # faces are CCW seen from the camera in NDC? (y flips between OpenCV and NDC) -> render both sides
    out = render_mesh(P, faces, cams, uvs=uvs, cull_backfaces=False, soft_mask=False)
    lin = render_mesh(P, faces, cams, uvs=uvs, cull_backfaces=False, soft_mask=False, perspective_correct=False)
    m = out.hard_mask[0]
    assert m.sum() > 100
    # analytic: ray through pixel centre hits the plane x + z = 2
    jj, ii = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="xy")
    u = (jj + 0.5 - 16) / 16
    w = (ii + 0.5 - 16) / 16
    tpar = 2.0 / (u + 1.0)
    X, Y = u * tpar, w * tpar
    Z = tpar
    exp_uv = torch.stack([(X + 1) / 2.5, (Y + 1) / 2], -1).to(torch.float64)
    torch.testing.assert_close(out.uv[0][m], exp_uv[m], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(out.depth[0][m], Z[m].to(torch.float64), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(lin.depth[0][m], Z[m].to(torch.float64), atol=1e-6, rtol=1e-6)
    assert (lin.uv[0][m] - exp_uv[m]).abs().max() > 0.02  # screen-space interpolation is visibly off


def test_render_mesh_texture_vertex_colors_background():
    v, f = icosphere(1)
    cams = look_at_cameras([(0.0, 0.0, 3.0), (3.0, 0.0, 0.0)], size=32)
    uvs = torch.rand(v.shape[0], 2, dtype=torch.float64)
    tex = torch.rand(1, 3, 8, 16, dtype=torch.float64)
    out = render_mesh(v, f, cams, uvs=uvs, texture=tex, background=torch.tensor([0.1, 0.2, 0.3]))
    ref = texture_mapping(out.uv, tex, mode="bilinear")
    m = out.hard_mask
    torch.testing.assert_close(out.rgb[m], ref[m])
    torch.testing.assert_close(out.rgb[~m], torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64).expand(int((~m).sum()), 3))
    per_view = render_mesh(v, f, cams, uvs=uvs, texture=tex.expand(2, -1, -1, -1).clone())
    torch.testing.assert_close(per_view.rgb[m], out.rgb[m])
    torch.testing.assert_close(out.bary.sum(-1)[m], torch.ones(int(m.sum()), dtype=torch.float64))
    vc = render_mesh(v, f, cams, vertex_colors=v.abs())
    assert vc.rgb.shape == (2, 32, 32, 3) and (vc.rgb[~m] == 0).all()
    assert render_mesh(v, f, cams).rgb is None
    # per-view vertices (N, V, 3)
    both = render_mesh(torch.stack([v, v * 0.5]), f, cams)
    assert both.hard_mask[1].sum() < both.hard_mask[0].sum()


def test_weak_perspective_camera():
    q = torch.tensor([[1.0, 0.0, 0.0, 0.0], [math.cos(math.pi / 4), 0.0, math.sin(math.pi / 4), 0.0]])
    R = quaternion_to_matrix(q)
    torch.testing.assert_close(R[0], torch.eye(3))
    torch.testing.assert_close(R[1] @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, -1.0]), atol=1e-6, rtol=0)
    cams = WeakPerspectiveCameras(torch.tensor([0.5, 0.5]), q, torch.tensor([[0.1, -0.2], [0.0, 0.0]]), 40, 40)
    pts = torch.tensor([[1.0, 2.0, 3.0]])
    xy, _ = cams.project_ndc(pts)
    torch.testing.assert_close(xy[0, 0], torch.tensor([0.6, 0.8]))
    v, f = icosphere(2)
    out = render_mesh(v.float(), f, cams)
    # the unit sphere at scale 0.5 covers a disc of radius 0.5 NDC = 10 px: area ~ pi * 100
    area = out.hard_mask.float().sum((1, 2))
    assert ((area - math.pi * 100).abs() < 25).all()
    assert (out.depth[out.hard_mask] < 10.0).all()  # near side (camera z = 10 - p_z)


def test_mask_iou_loss():
    a = torch.zeros(2, 4, 4)
    a[:, :2] = 1
    assert float(mask_iou(a, a)) == 0.0
    assert abs(float(mask_iou(a, 1 - a)) - 1.0) < 1e-6
    with pytest.raises(ValueError):
        mask_iou(a, a[:, :2])


@pytest.mark.gpu
def test_cuda_matches_cpu():
    fvi, fz, feats, valid = random_soup(B=3, F=200, seed=11, dtype=torch.float32)
    res = []
    for dev in ("cpu", "cuda"):
        x = fvi.to(dev).requires_grad_()
        ft = feats.to(dev).requires_grad_()
        im, idx = rasterize(64, 48, fz.to(dev), x, ft, valid.to(dev))
        soft = dibr_soft_mask(x, idx, 7000, 0.05, 30)
        (im.sum() + soft.square().sum()).backward()
        res.append([t.detach().cpu() for t in (im, idx, soft, x.grad, ft.grad)])
    assert torch.equal(res[0][1], res[1][1])
    for a, b in zip(res[0], res[1]):
        torch.testing.assert_close(a.double(), b.double(), atol=1e-4, rtol=1e-4)
    v, f = icosphere(2)
    cams = look_at_cameras([(3.0, 0.0, 0.0), (0.0, -3.0, 1.0)], dtype=torch.float32)
    o_cpu = render_mesh(v.float(), f, cams)
    o_gpu = render_mesh(v.float().cuda(), f.cuda(), cams.to("cuda"))
    assert torch.equal(o_cpu.face_idx, o_gpu.face_idx.cpu())
    torch.testing.assert_close(o_cpu.soft_mask, o_gpu.soft_mask.cpu(), atol=1e-5, rtol=1e-5)


def test_mask_iou_per_view_is_the_unreduced_kaolin_loss():
    from texforge.render import mask_iou

    gen = torch.Generator().manual_seed(0)
    a, b = torch.rand(3, 9, 7, generator=gen), (torch.rand(3, 9, 7, generator=gen) > 0.5).float()
    per_view = mask_iou(a, b, reduction="none")
    assert per_view.shape == (3,) and torch.allclose(per_view.mean(), mask_iou(a, b))
    assert torch.allclose(mask_iou(b, b, reduction="none"), torch.zeros(3))
    with pytest.raises(ValueError, match="reduction"):
        mask_iou(a, b, reduction="sum")


@pytest.fixture
def fake_kaolin(monkeypatch):
    """kaolin is never installed here: a stand-in module, in sys.modules only for this test, whose
    soft mask is the project's without the per-face validity (kaolin's own signature) and records calls."""
    import sys
    import types

    from texforge.render import kaolin_switch

    calls = []

    def soft_mask(face_vertices_image, selected_face_idx, sigmainv=7000, boxlen=0.02, knum=30, multiplier=1000.):
        calls.append(face_vertices_image.detach().clone())
        return dibr_soft_mask(face_vertices_image, selected_face_idx, sigmainv, boxlen, knum, multiplier)

    mesh = types.SimpleNamespace(dibr_soft_mask=soft_mask)
    kaolin = types.ModuleType("kaolin")
    kaolin.render = types.SimpleNamespace(mesh=mesh)
    monkeypatch.setitem(sys.modules, "kaolin", kaolin)
    monkeypatch.setitem(sys.modules, "kaolin.render", kaolin.render)
    monkeypatch.setitem(sys.modules, "kaolin.render.mesh", mesh)
    kaolin_switch.kaolin_available.cache_clear()
    yield calls
    kaolin_switch.kaolin_available.cache_clear()


def test_kaolin_switch_decides_by_import_and_device(fake_kaolin, monkeypatch):
    import sys

    from texforge.render import kaolin_switch as ks

    fake = sys.modules["kaolin"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert ks.use_kaolin("cuda") and ks.use_kaolin(torch.device("cuda", 0))
    assert not ks.use_kaolin("cpu")  # kaolin's kernels are CUDA-only: the CPU path stays ours
    ks.kaolin_available.cache_clear()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not ks.use_kaolin("cuda")
    ks.kaolin_available.cache_clear()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setitem(sys.modules, "kaolin", None)  # `import kaolin` fails
    assert not ks.use_kaolin("cuda")
    ks.kaolin_available.cache_clear()
    monkeypatch.setitem(sys.modules, "kaolin", fake)
    monkeypatch.setattr(ks, "ENABLED", False)  # what the benchmark's "ours" column sets
    assert ks.kaolin_available() and not ks.use_kaolin("cuda")


def test_render_mesh_takes_kaolins_soft_mask_when_switched(fake_kaolin, monkeypatch):
    """With the switch on, render_mesh's soft mask comes from kaolin's function, and a face behind the
    camera (which kaolin cannot be told to ignore) still counts for nothing: same mask, same gradient."""
    from texforge.render import kaolin_switch

    K = torch.tensor([[[40.0, 0, 24], [0, 40.0, 24], [0, 0, 1]]], dtype=torch.float64)
    cams = Cameras(K, torch.eye(3, dtype=torch.float64)[None], torch.zeros(1, 3, dtype=torch.float64), 48, 48)
    v0 = torch.tensor([[-0.6, -0.3, 2.0], [-0.1, -0.3, 2.0], [-0.35, 0.3, 2.0],    # in front, left
                       [-0.1, -0.3, -2.0], [-0.6, -0.3, -2.0], [-0.35, 0.3, -2.0]],  # behind, projects right
                      dtype=torch.float64)
    f = torch.tensor([[0, 2, 1], [3, 5, 4]])

    def soft_and_grad():
        v = v0.clone().requires_grad_(True)
        soft = render_mesh(v, f, cams, sigmainv=3000.0, boxlen=0.2).soft_mask
        soft.sum().backward()
        return soft.detach(), v.grad

    ours, ours_grad = soft_and_grad()
    assert not fake_kaolin
    monkeypatch.setattr(kaolin_switch, "use_kaolin", lambda device: True)
    switched, switched_grad = soft_and_grad()
    assert len(fake_kaolin) == 1 and fake_kaolin[0].shape == (1, 2, 3, 2)
    torch.testing.assert_close(switched, ours, atol=1e-12, rtol=0)
    torch.testing.assert_close(switched_grad, ours_grad, atol=1e-12, rtol=0)
    assert ours[0, :, 24:].max() < 1e-6 < ours[0, :, :24].max()  # the behind face added nothing
    # Without moving the behind face away, kaolin's mask would show it (what the test guards against).
    assert (fake_kaolin[0][0, 1].abs() > 1.5).all()  # the behind face was handed over outside the image
    raw = cams.project_ndc(v0)[0][:, f]
    unmasked = dibr_soft_mask(raw, torch.full((1, 48, 48), -1), 3000.0, 0.2, 30)
    assert unmasked[0, :, 24:].max() > 0.1
