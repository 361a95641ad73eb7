"""Bad input to the renderer: defined outputs or a clear ValueError, never a crash or NaN gradients."""

import pytest
import torch
from test_render_ops import icosphere, look_at_cameras, one_thread  # noqa: F401 (autouse fixture)

from texforge.render import (
    dibr_soft_mask,
    mask_iou,
    rasterize,
    render_mesh,
    texture_mapping,
)


@pytest.fixture(scope="module")
def scene():
    v, f = icosphere(1)
    return v.float(), f, look_at_cameras([(3.0, 0.0, 0.0), (0.0, 3.0, 0.0)], size=24, dtype=torch.float32)


def check_finite_backward(out, leaf):
    loss = out.soft_mask.mean() + (out.rgb.mean() if out.rgb is not None else 0.0)
    loss.backward()
    assert leaf.grad is not None and torch.isfinite(leaf.grad).all()


def test_empty_mesh(scene):
    _, _, cams = scene
    v = torch.zeros(0, 3, requires_grad=True)
    out = render_mesh(v, torch.zeros(0, 3, dtype=torch.long), cams, vertex_colors=torch.zeros(0, 3))
    assert out.soft_mask.shape == (2, 24, 24) and (out.soft_mask == 0).all()
    assert (out.face_idx == -1).all() and not out.hard_mask.any() and (out.depth == 0).all()
    assert out.rgb.shape == (2, 24, 24, 3) and out.uv.shape == (2, 24, 24, 2) and out.bary.shape == (2, 24, 24, 3)
    check_finite_backward(out, v)
    # vertices but no faces
    v2 = torch.rand(5, 3, requires_grad=True)
    out = render_mesh(v2, torch.zeros(0, 3, dtype=torch.long), cams)
    assert (out.soft_mask == 0).all()
    check_finite_backward(out, v2)
    # kaolin-style functions with zero faces
    feats, idx = rasterize(8, 8, torch.zeros(1, 0, 3), torch.zeros(1, 0, 3, 2), torch.zeros(1, 0, 3, 2))
    assert feats.shape == (1, 8, 8, 2) and (idx == -1).all()
    assert (dibr_soft_mask(torch.zeros(1, 0, 3, 2), idx) == 0).all()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_vertices_raise(scene, bad):
    v, f, cams = scene
    v = v.clone()
    v[3, 1] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        render_mesh(v, f, cams)


def test_non_finite_face_coordinates_in_kaolin_api_are_skipped():
    fvi = torch.tensor([[[[-0.5, -0.5], [0.5, -0.5], [0.0, 0.5]], [[float("nan"), 0.0], [0.5, 0.5], [0.0, 0.9]]]],
                       requires_grad=True)
    fz = -torch.ones(1, 2, 3)
    feats, idx = rasterize(10, 10, fz, fvi, torch.ones(1, 2, 3, 1))
    assert set(idx.unique().tolist()) == {-1, 0}
    soft = dibr_soft_mask(fvi, idx, 700, 0.1)
    assert torch.isfinite(soft).all() and torch.isfinite(feats).all()
    (soft.sum() + feats.sum()).backward()
    assert torch.isfinite(fvi.grad).all() and (fvi.grad[0, 1] == 0).all()


def test_bad_faces_and_shapes_raise(scene):
    v, f, cams = scene
    with pytest.raises(ValueError, match="out of range"):
        render_mesh(v, f.clone().fill_(v.shape[0]), cams)
    with pytest.raises(ValueError, match="out of range"):
        render_mesh(v, -torch.ones_like(f), cams)
    with pytest.raises(ValueError, match=r"\(F, 3\)"):
        render_mesh(v, f[:, :2], cams)
    with pytest.raises(ValueError, match="vertices"):
        render_mesh(v[:, :2], f, cams)
    with pytest.raises(ValueError, match="cameras"):
        render_mesh(torch.stack([v, v, v]), f, cams)
    with pytest.raises(ValueError, match="texture"):
        render_mesh(v, f, cams, uvs=torch.rand(v.shape[0], 2), texture=torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="uvs"):
        render_mesh(v, f, cams, texture=torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="mode"):
        texture_mapping(torch.rand(1, 4, 2), torch.rand(1, 3, 8, 8), mode="cubic")


def test_zero_area_faces(scene):
    v, f, cams = scene
    # add degenerate faces: repeated vertex, collinear vertices (both through the visible area)
    extra_v = torch.tensor([[0.0, -0.5, 0.0], [0.0, 0.0, 0.0], [0.0, 0.5, 0.0]])
    v2 = torch.cat([v * 0.5, extra_v]).requires_grad_()
    n = v.shape[0]
    f2 = torch.cat([f, torch.tensor([[n, n, n + 1], [n, n + 1, n + 2], [n + 1, n + 1, n + 1]])])
    out = render_mesh(v2, f2, cams, vertex_colors=torch.rand(n + 3, 3))
    assert not (out.face_idx >= f.shape[0]).any()  # degenerate faces cover nothing
    assert torch.isfinite(out.soft_mask).all() and torch.isfinite(out.rgb).all()
    check_finite_backward(out, v2)
    # all faces degenerate: a flat line
    line = torch.tensor([[0.0, -0.5, 0.0], [0.0, 0.0, 0.0], [0.0, 0.5, 0.0]], requires_grad=True)
    out = render_mesh(line, torch.tensor([[0, 1, 2]]), cams)
    assert not out.hard_mask.any()
    check_finite_backward(out, line)


def test_vertices_behind_camera(scene):
    v, f, cams = scene
    # camera 0 sits at (3, 0, 0): push part of the sphere through and behind it
    v2 = (v * torch.tensor([3.0, 0.6, 0.6]) + torch.tensor([1.5, 0.0, 0.0])).requires_grad_()
    out = render_mesh(v2, f, cams, vertex_colors=torch.rand(v.shape[0], 3))
    assert torch.isfinite(out.soft_mask).all() and torch.isfinite(out.depth).all()
    assert (out.depth[out.hard_mask] > 0).all()
    check_finite_backward(out, v2)
    # a mesh entirely behind the camera renders nothing
    behind = (v + torch.tensor([6.0, 0.0, 0.0])).requires_grad_()
    out = render_mesh(behind, f, cams[0:1])
    assert not out.hard_mask.any() and (out.soft_mask == 0).all()
    check_finite_backward(out, behind)
    # a vertex exactly at the camera centre
    at_cam = torch.cat([v, torch.tensor([[3.0, 0.0, 0.0]])])
    f3 = torch.cat([f, torch.tensor([[0, 1, v.shape[0]]])])
    at_cam.requires_grad_()
    out = render_mesh(at_cam, f3, cams)
    check_finite_backward(out, at_cam)


def test_mesh_outside_image(scene):
    v, f, cams = scene
    far = (v * 0.3 + torch.tensor([0.0, 0.0, 20.0])).requires_grad_()  # far above: off both images
    out = render_mesh(far, f, cams, vertex_colors=torch.rand(v.shape[0], 3))
    assert not out.hard_mask.any() and (out.soft_mask == 0).all() and (out.face_idx == -1).all()
    check_finite_backward(out, far)
    assert (far.grad == 0).all()
    loss = mask_iou(out.soft_mask, torch.ones_like(out.soft_mask))
    assert torch.isfinite(loss)


def test_huge_and_tiny_meshes(scene):
    v, f, cams = scene
    for s in (1e-6, 1e3):
        vv = (v * s).requires_grad_()
        out = render_mesh(vv, f, cams)
        assert torch.isfinite(out.soft_mask).all()
        check_finite_backward(out, vv)
