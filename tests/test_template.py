"""The ConvMesh sphere template, its subdivision and the mesh regularisers."""

from collections import Counter

import numpy as np
import torch

from texforge.mesh.regularizers import (MeshTopology, edge_length_loss, face_normals, laplacian_loss,
                                       normal_consistency_loss, vertex_normals)
from texforge.mesh.subdivide import subdivide
from texforge.mesh.template import convmesh_sphere, uv_sphere


def _directed_edges(faces):
    """(3F, 2) the directed edges of every face, in winding order."""
    return np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])


def _edge_use_counts(faces):
    """{undirected edge: number of faces using it}; a closed 2-manifold uses every edge exactly twice."""
    return Counter(tuple(sorted(e)) for e in _directed_edges(faces).tolist())


def _triangle_lattice(n=8, z=None):
    """A flat patch of (n+1)^2 vertices tiled by equilateral triangles: all edges length 1, one normal."""
    i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    v = np.stack([j + 0.5 * i, i * np.sqrt(3) / 2, np.zeros_like(i, float)], -1).reshape(-1, 3).astype(float)
    idx = np.arange((n + 1) ** 2).reshape(n + 1, n + 1)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    f = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([b, d, c], -1).reshape(-1, 3)])
    interior = ((i > 0) & (i < n) & (j > 0) & (j < n)).reshape(-1)
    return v, f, interior


def test_convmesh_sphere_counts_and_closed_manifold():
    m = convmesh_sphere()
    assert m.vertices.shape == (482, 3) and m.faces.shape == (960, 3)
    assert convmesh_sphere(cars=True).vertices.shape == (962, 3)
    assert convmesh_sphere(cars=True).faces.shape == (1920, 3)
    # closed: every edge is used by exactly two faces; consistently oriented: each directed edge once
    uses = _edge_use_counts(m.faces)
    assert set(uses.values()) == {2}
    e = _directed_edges(m.faces)
    assert len({tuple(x) for x in e}) == len(e)
    # Euler characteristic 2 (genus 0)
    assert len(m.vertices) - len(uses) + len(m.faces) == 2
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
    assert set(_edge_use_counts(s.faces).values()) == {2}
    e = _directed_edges(s.faces)
    assert len({tuple(x) for x in e}) == len(e)
    # On the surface: the four children of face f (f, F+f, 2F+f, 3F+f) lie in f's plane, inside f
    # (barycentric coordinates in {0, 1/2, 1}), and tile it (areas sum to f's area).
    F = len(m.faces)
    parent = m.vertices[m.faces].astype(np.float64)                 # (F, 3, 3)
    children = s.vertices[s.faces].astype(np.float64).reshape(4, F, 3, 3)
    e1, e2 = parent[:, 1] - parent[:, 0], parent[:, 2] - parent[:, 0]
    basis = np.stack([e1, e2], -1)                                  # (F, 3, 2)
    rel = children - parent[None, :, None, 0]
    bary = np.einsum("fij,kfcj->kfci", np.linalg.pinv(basis), rel)  # (4, F, 3, 2)
    np.testing.assert_allclose(np.einsum("fij,kfcj->kfci", basis, bary), rel, atol=1e-6)  # in the plane (float32 vertices)
    np.testing.assert_allclose(bary * 2, np.round(bary * 2), atol=1e-5)
    assert bary.min() >= -1e-5 and bary.sum(-1).max() <= 1 + 1e-5

    def tri_area(t):
        return 0.5 * np.linalg.norm(np.cross(t[..., 1, :] - t[..., 0, :], t[..., 2, :] - t[..., 0, :]), axis=-1)
    np.testing.assert_allclose(tri_area(children).sum(0), tri_area(parent), rtol=1e-5)
    # so the subdivided sphere stays between the template's inscribed polyhedron and the unit sphere
    r = np.linalg.norm(s.vertices, axis=1)
    assert r.max() <= 1 + 1e-6 and r[:482].min() >= 1 - 1e-6 and r[482:].min() > 0.95


def test_regularisers_zero_on_flat_and_positive_on_noise():
    # Flat: a planar lattice of equilateral triangles has no bending, equal edges and a zero
    # Laplacian at every interior vertex (boundary vertices have one-sided neighbourhoods).
    v, f, interior = _triangle_lattice()
    v, f = torch.as_tensor(v), torch.as_tensor(f)
    topo = MeshTopology(f, len(v))
    assert float(normal_consistency_loss(v, f, topo)) < 1e-12
    assert float(edge_length_loss(v, topo)) < 1e-12
    assert topo.laplacian(v)[torch.as_tensor(interior)].abs().max() < 1e-12
    bumped = v.clone()
    bumped[len(v) // 2, 2] = 0.3  # one interior vertex lifted off the plane
    assert normal_consistency_loss(bumped, f, topo) > 1e-3 and edge_length_loss(bumped, topo) > 1e-5
    assert topo.laplacian(bumped)[torch.as_tensor(interior)].abs().max() > 0.2
    # The sphere template: noise raises every regulariser well above the smooth surface's level.
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
