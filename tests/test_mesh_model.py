"""texforge.mesh.model: the offset model and the UV-space deformation-map model on a template."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from texforge.mesh.model import DeformationMapModel, MeshModel, sample_uv_map, vertex_corner_uvs
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


def test_uv_map_sampling_hits_texel_centres_and_wraps_around_the_seam():
    image = torch.rand(1, 2, 4, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    centres = torch.tensor([[(j + 0.5) / 8, 1 - (i + 0.5) / 4] for i in range(4) for j in range(8)], dtype=torch.float64)
    assert torch.allclose(sample_uv_map(image, centres), image[0].permute(1, 2, 0).reshape(-1, 2), atol=1e-12)
    v = torch.linspace(0, 1, 9, dtype=torch.float64)
    left = sample_uv_map(image, torch.stack([torch.zeros_like(v), v], -1))
    right = sample_uv_map(image, torch.stack([torch.ones_like(v), v], -1))
    assert torch.allclose(left, right, atol=1e-12)                     # u = 0 and u = 1 are one place
    mid = (image[0, :, 1, 0] + image[0, :, 1, 7]) / 2                   # half-way between the edge texels
    assert torch.allclose(sample_uv_map(image, torch.tensor([[0.0, 1 - 1.5 / 4]], dtype=torch.float64))[0], mid)


def test_each_vertex_averages_the_map_over_its_uvs():
    base, faces, uvs, fuv = sphere_tensors()
    index, mask = vertex_corner_uvs(faces.numpy(), fuv.numpy(), len(base))
    assert mask.sum(1).min() == 1 and mask[0].sum() == 12 and mask[-1].sum() == 12  # poles: one UV per column
    seam = [i for i in range(len(base)) if mask[i].sum() == 2]
    assert len(seam) == 5                                                         # one per ring on the seam
    h, w = 16, 32
    model = DeformationMapModel(base, faces, uvs, fuv, map_size=(h, w), scale=2.0)
    with torch.no_grad():   # a ramp in v only: each vertex's displacement follows its latitude
        model.displacement_map[0, 1] = torch.linspace(1.0, 0.0, h, dtype=base.dtype).unsqueeze(1).expand(h, w)
        model.displacement_map[0, 0] = torch.rand(h, w, dtype=base.dtype, generator=torch.Generator().manual_seed(2))
    disp = model.displacement()
    v = uvs[torch.as_tensor(index[:, 0])][:, 1]
    v_tex = ((v * h - 0.5) / (h - 1)).clamp(0, 1)     # row 0 is v = 1, where the ramp is 1
    assert torch.allclose(disp[:, 1], 2.0 * v_tex, atol=1e-9)
    expected_x = torch.stack([sample_uv_map(model.displacement_map[:, :1], uvs[torch.as_tensor(index[i][mask[i]])])
                              .mean() for i in range(len(base))])
    assert torch.allclose(disp[:, 0], 2.0 * expected_x, atol=1e-12)


def test_frames_turn_the_channels_into_per_vertex_directions():
    base, faces, uvs, fuv = sphere_tensors()
    normals = base / base.norm(dim=1, keepdim=True)
    frames = torch.zeros(len(base), 3, 3, dtype=base.dtype)
    frames[:, 2] = normals                                # channel 2 moves along the normal
    model = DeformationMapModel(base, faces, uvs, fuv, map_size=(8, 16), frames=frames)
    with torch.no_grad():
        model.displacement_map[0, 2] = 0.5
    assert torch.allclose(model.vertices(), base * 1.5, atol=1e-12)  # the unit sphere grows to radius 1.5
    with pytest.raises(ValueError, match="frames must be"):
        DeformationMapModel(base, faces, uvs, fuv, frames=frames[:3])


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


def test_corner_uvs_are_padded_per_vertex_and_unused_vertices_are_refused():
    faces = np.array([[0, 1, 2], [2, 1, 3]])
    face_uvs = np.array([[0, 1, 2], [5, 1, 6]])
    index, mask = vertex_corner_uvs(faces, face_uvs, 4)
    assert mask.tolist() == [[True, False], [True, False], [True, True], [True, False]]
    assert index[mask].tolist() == [0, 1, 2, 5, 6]
    with pytest.raises(ValueError, match="1 template vertices are used by no face"):
        vertex_corner_uvs(faces, face_uvs, 5)
