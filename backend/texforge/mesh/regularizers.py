"""Mesh regularisers for fitting: uniform Laplacian, face-normal consistency, edge-length uniformity.

Topology-only quantities (adjacency, edge lists) are precomputed once per mesh by :class:`MeshTopology`
and live on the mesh's device; the losses are plain differentiable torch functions of vertices (V, 3).
"""

from __future__ import annotations

import numpy as np
import torch


class MeshTopology:
    """Edges, face pairs across interior edges and the uniform Laplacian of a triangle mesh.

    faces: (F, 3) long. Attributes: ``edges`` (E, 2) unique undirected vertex pairs;
    ``edge_faces`` (Ei, 2) the two faces across each interior (manifold) edge; ``degree`` (V,)
    vertex valences; :meth:`laplacian` the uniform Laplacian of given vertex positions.
    """

    def __init__(self, faces: torch.Tensor, num_vertices: int):
        device = faces.device
        f = faces.detach().cpu().numpy().astype(np.int64)
        self.num_vertices = int(num_vertices)
        e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]], 0)          # (3F, 2) directed
        face_of = np.tile(np.arange(len(f)), 3)
        lo, hi = e.min(1), e.max(1)
        key = lo * self.num_vertices + hi
        order = np.argsort(key, kind="stable")
        key_s, face_s = key[order], face_of[order]
        uniq, start, counts = np.unique(key_s, return_index=True, return_counts=True)
        edges = np.stack([uniq // self.num_vertices, uniq % self.num_vertices], 1)
        pair = counts == 2
        edge_faces = np.stack([face_s[start[pair]], face_s[start[pair] + 1]], 1)
        self.edges = torch.as_tensor(edges, dtype=torch.long, device=device)
        self.edge_faces = torch.as_tensor(edge_faces, dtype=torch.long, device=device)
        deg = np.bincount(edges.reshape(-1), minlength=self.num_vertices).astype(np.float32)
        self.degree = torch.as_tensor(np.maximum(deg, 1.0), device=device)

    def laplacian(self, vertices: torch.Tensor) -> torch.Tensor:
        """Uniform Laplacian ``v - mean(neighbours)`` (V, 3) via index_add (works on any device)."""
        a, b = self.edges[:, 0], self.edges[:, 1]
        acc = torch.zeros_like(vertices).index_add(0, a, vertices[b]).index_add(0, b, vertices[a])
        return vertices - acc / self.degree.unsqueeze(-1)


def face_normals(vertices: torch.Tensor, faces: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """vertices (V, 3), faces (F, 3) -> face normals (F, 3) (unit when ``normalize``)."""
    v0, v1, v2 = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    n = torch.cross(v1 - v0, v2 - v0, dim=-1)
    return torch.nn.functional.normalize(n, dim=-1, eps=1e-12) if normalize else n


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals (V, 3)."""
    n = face_normals(vertices, faces, normalize=False)
    vn = torch.zeros_like(vertices)
    for k in range(3):
        vn = vn.index_add(0, faces[:, k], n)
    return torch.nn.functional.normalize(vn, dim=-1, eps=1e-12)


def laplacian_loss(vertices: torch.Tensor, topo: MeshTopology) -> torch.Tensor:
    """Mean squared norm of the uniform Laplacian ``v - mean(neighbours)`` over vertices (scalar)."""
    lap = topo.laplacian(vertices)
    return (lap * lap).sum(-1).mean()


def normal_consistency_loss(vertices: torch.Tensor, faces: torch.Tensor, topo: MeshTopology) -> torch.Tensor:
    """Mean ``1 - cos`` between the normals of the two faces across each interior edge (scalar)."""
    n = face_normals(vertices, faces)
    a, b = n[topo.edge_faces[:, 0]], n[topo.edge_faces[:, 1]]
    return (1.0 - (a * b).sum(-1)).mean()


def edge_length_loss(vertices: torch.Tensor, topo: MeshTopology) -> torch.Tensor:
    """Squared coefficient of variation of edge lengths (scale invariant; 0 when all edges are equal)."""
    d = vertices[topo.edges[:, 0]] - vertices[topo.edges[:, 1]]
    length = d.norm(dim=-1)
    mean = length.mean().clamp_min(1e-12)
    return ((length - mean) ** 2).mean() / (mean * mean)
