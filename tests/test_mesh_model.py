"""texforge.mesh.model: the offset model and the UV-space deformation-map model on a template."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from texforge.mesh.model import DeformationMapModel, MeshModel, vertex_uv_index
from texforge.mesh.template import uv_sphere


def sphere_tensors(segments=12, rings=6):
    s = uv_sphere(segments, rings)
    return (torch.as_tensor(s.vertices, dtype=torch.float64), torch.as_tensor(s.faces),
            torch.as_tensor(s.uvs, dtype=torch.float64), torch.as_tensor(s.face_uvs))


def test_zero_map_is_the_template_and_a_constant_map_shifts_it():
    base, faces, uvs, fuv = sphere_tensors()
    model = DeformationMapModel(base, faces, uvs, fuv, map_size=(16, 32))
    assert torch.count_nonzero(model.displacement()) == 0
    assert torch.allclose(model.vertices(), base, atol=1e-12)  # anchor + (base - anchor): rounding only
    with torch.no_grad():
        model.displacement_map[0, 2] = 0.25      # +0.25 along z everywhere
    assert torch.allclose(model.vertices(), base + torch.tensor([0.0, 0.0, 0.25], dtype=base.dtype), atol=1e-12)


def test_the_map_is_sampled_at_each_vertex_uv():
    base, faces, uvs, fuv = sphere_tensors()
    h, w = 16, 32
    model = DeformationMapModel(base, faces, uvs, fuv, map_size=(h, w), scale=2.0)
    ramp = torch.linspace(0.0, 1.0, w, dtype=base.dtype)    # displacement x = u across the map (texel centres)
    with torch.no_grad():
        model.displacement_map[0, 0] = ramp.expand(h, w)
        model.displacement_map[0, 1] = torch.linspace(1.0, 0.0, h, dtype=base.dtype).unsqueeze(1).expand(h, w)
    uv = uvs[torch.as_tensor(vertex_uv_index(faces.numpy(), fuv.numpy(), len(base)))]
    # bilinear sampling of a linear ramp between texel centres reproduces it (clamped at the borders)
    u_tex = ((uv[:, 0] * w - 0.5) / (w - 1)).clamp(0, 1)
    v_tex = ((uv[:, 1] * h - 0.5) / (h - 1)).clamp(0, 1)   # row 0 is v = 1, where the y ramp is 1
    disp = model.vertices() - base
    assert torch.allclose(disp[:, 0], 2.0 * u_tex, atol=1e-9)
    assert torch.allclose(disp[:, 1], 2.0 * v_tex, atol=1e-9)


def test_gradient_reaches_the_map_and_the_placement():
    base, faces, uvs, fuv = sphere_tensors()
    model = DeformationMapModel(base, faces, uvs, fuv, map_size=(8, 16))
    target = base * 1.3
    loss = (model.vertices() - target).pow(2).sum()
    loss.backward()
    g = model.displacement_map.grad
    assert g is not None and g.abs().sum() > 0 and torch.isfinite(g).all()
    assert model.shift.grad is not None and model.log_scale.grad.abs().sum() > 0
    opt = torch.optim.Adam([model.displacement_map], lr=0.05)
    first = float(loss.detach())
    for _ in range(30):
        opt.zero_grad()
        loss = (model.vertices() - target).pow(2).sum()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.2 * first


def test_subdivision_keeps_the_surface_of_both_models():
    base, faces, uvs, fuv = sphere_tensors()
    offsets_model = MeshModel(base, faces, uvs, fuv)
    with torch.no_grad():
        offsets_model.offsets.normal_(0, 0.01, generator=torch.Generator().manual_seed(0))
        offsets_model.shift.fill_(0.1)
    fine = offsets_model.subdivided()
    assert fine.base.shape[0] > base.shape[0] and tuple(fine.faces.shape) == (4 * len(faces), 3)
    # the old vertices keep their (placed and offset) positions; offsets start again from zero
    assert torch.allclose(fine.vertices()[: len(base)], offsets_model.vertices(), atol=1e-12)
    assert torch.count_nonzero(fine.offsets) == 0

    map_model = DeformationMapModel(base, faces, uvs, fuv, map_size=(8, 16))
    with torch.no_grad():
        map_model.displacement_map.uniform_(-0.05, 0.05, generator=torch.Generator().manual_seed(1))
        map_model.log_scale.fill_(0.2)
    fine_map = map_model.subdivided()
    assert torch.equal(fine_map.displacement_map, map_model.displacement_map)
    assert torch.equal(fine_map.log_scale, map_model.log_scale)
    assert torch.allclose(fine_map.vertices()[: len(base)], map_model.vertices(), atol=1e-12)


def test_vertex_uv_index_takes_the_first_corner_and_refuses_unused_vertices():
    faces = np.array([[0, 1, 2], [2, 1, 3]])
    face_uvs = np.array([[0, 1, 2], [5, 4, 6]])
    assert vertex_uv_index(faces, face_uvs, 4).tolist() == [0, 1, 2, 6]
    with pytest.raises(ValueError, match="1 template vertices are used by no face"):
        vertex_uv_index(faces, face_uvs, 5)
