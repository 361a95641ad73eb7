"""The ConvMesh sphere template, its subdivision and the mesh regularisers."""

import numpy as np
import torch

from texforge.mesh.regularizers import (MeshTopology, edge_length_loss, face_normals, laplacian_loss,
                                       normal_consistency_loss, vertex_normals)
from texforge.mesh.subdivide import subdivide
from texforge.mesh.template import convmesh_sphere, uv_sphere


def _edge_use_counts(faces):
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return e


def test_convmesh_sphere_counts_and_closed_manifold():
    m = convmesh_sphere()
    assert m.vertices.shape == (482, 3) and m.faces.shape == (960, 3)
    assert convmesh_sphere(cars=True).vertices.shape == (962, 3)
    assert convmesh_sphere(cars=True).faces.shape == (1920, 3)
    # every directed edge appears once and its reverse once: closed, consistently oriented
    e = _edge_use_counts(m.faces)
    directed = {tuple(x) for x in e}
    assert len(directed) == len(e)
    assert all((b, a) in directed for a, b in directed)
    # Euler characteristic 2 (genus 0)
    n_edges = len(e) // 2
    assert len(m.vertices) - n_edges + len(m.faces) == 2
    np.testing.assert_allclose(np.linalg.norm(m.vertices, axis=1), 1.0, atol=1e-6)


def test_sphere_normals_point_outwards_and_uvs_are_consistent():
    m = uv_sphere(32, 16)
    v = torch.as_tensor(m.vertices)
    f = torch.as_tensor(m.faces)
    n = face_normals(v, f)
    centres = v[f].mean(1)
    assert ((n * centres).sum(-1) > 0).all()
    assert ((vertex_normals(v, f) * v).sum(-1) > 0.99).all()
    assert m.uvs.min() >= 0 and m.uvs.max() <= 1
    # UV triangles have the same orientation as seen from outside (positive signed area in uv)
    t = m.uvs[m.face_uvs]
    area = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    assert (area > 0).all()
    # uv v matches latitude: v = 1 at the north pole (z = 1)
    corner_z = m.vertices[m.faces].reshape(-1, 3)[:, 2]
    corner_v = t.reshape(-1, 2)[:, 1]
    np.testing.assert_allclose(corner_v, 1 - np.arccos(np.clip(corner_z, -1, 1)) / np.pi, atol=1e-5)


def test_subdivision_keeps_surface_and_uvs():
    m = convmesh_sphere()
    s = subdivide(m)
    assert s.faces.shape == (3840, 3)
    assert s.vertices.shape == (482 + 1440, 3)
    t = s.uvs[s.face_uvs]
    area = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    assert (area > 0).all()
    # total UV area is preserved (children tile their parent in UV space too)
    t0 = m.uvs[m.face_uvs]
    area0 = np.cross(t0[:, 1] - t0[:, 0], t0[:, 2] - t0[:, 0])
    np.testing.assert_allclose(area.sum(), area0.sum(), rtol=1e-6)
    e = _edge_use_counts(s.faces)
    assert len({tuple(x) for x in e}) == len(e)


def test_regularisers_zero_on_flat_and_positive_on_noise():
    m = convmesh_sphere()
    v = torch.as_tensor(m.vertices)
    f = torch.as_tensor(m.faces)
    topo = MeshTopology(f, len(v))
    assert topo.edge_faces.shape[0] == 1440  # closed mesh: every edge is interior
    base_nc = normal_consistency_loss(v, f, topo)
    base_lap = laplacian_loss(v, topo)
    g = torch.Generator().manual_seed(0)
    noisy = (v + 0.05 * torch.randn(v.shape, generator=g)).requires_grad_(True)
    nc = normal_consistency_loss(noisy, f, topo)
    lap = laplacian_loss(noisy, topo)
    assert nc > 3 * base_nc and lap > 2 * base_lap
    (nc + lap + edge_length_loss(noisy, topo)).backward()
    assert torch.isfinite(noisy.grad).all()
    # Laplacian of a constant offset is zero: translation invariant
    assert torch.allclose(laplacian_loss(v + 3.0, topo), base_lap, atol=1e-5)
