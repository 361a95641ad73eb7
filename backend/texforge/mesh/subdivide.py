"""Midpoint (1 -> 4) subdivision that keeps per-corner UVs.

Every triangle is split into four through its edge midpoints. Geometry and UVs are subdivided
separately: a geometric edge gets one new vertex, a UV edge one new UV, so UV seams (two UV edges on
one geometric edge) stay seams. Vertex positions are not smoothed (the fit does the smoothing); new
vertices are the exact edge midpoints, so the surface is unchanged.
"""

from __future__ import annotations

import numpy as np

from .types import TexturedMesh


def _midpoints(faces: np.ndarray, num: int):
    """faces (F, 3) indices into ``num`` items -> (edge pairs (E, 2), per-face midpoint ids (F, 3))
    where midpoint ids are ``num + edge index`` for the edges (0,1), (1,2), (2,0) of each face."""
    e = np.stack([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]], 1).reshape(-1, 2)
    key = e.min(1) * num + e.max(1)
    uniq, inverse = np.unique(key, return_inverse=True)
    pairs = np.stack([uniq // num, uniq % num], 1)
    return pairs, num + inverse.reshape(-1, 3)


def _split(faces: np.ndarray, mid: np.ndarray) -> np.ndarray:
    a, b, c = faces[:, 0], faces[:, 1], faces[:, 2]
    ab, bc, ca = mid[:, 0], mid[:, 1], mid[:, 2]
    return np.concatenate([np.stack([a, ab, ca], 1), np.stack([ab, b, bc], 1),
                           np.stack([ca, bc, c], 1), np.stack([ab, bc, ca], 1)], 0)


def subdivide_arrays(vertices: np.ndarray, faces: np.ndarray, uvs: np.ndarray | None = None,
                     face_uvs: np.ndarray | None = None):
    """vertices (V, 3), faces (F, 3)[, uvs (T, 2), face_uvs (F, 3)] -> the subdivided arrays
    (V + E, 3), (4F, 3)[, (T + Eu, 2), (4F, 3)]. Face order: the four children of face f are
    f, F + f, 2F + f, 3F + f."""
    faces = np.asarray(faces, dtype=np.int64)
    pairs, mid = _midpoints(faces, len(vertices))
    new_v = np.concatenate([vertices, 0.5 * (vertices[pairs[:, 0]] + vertices[pairs[:, 1]])], 0)
    new_f = _split(faces, mid)
    if uvs is None:
        return new_v, new_f, None, None
    face_uvs = np.asarray(face_uvs, dtype=np.int64)
    upairs, umid = _midpoints(face_uvs, len(uvs))
    new_uv = np.concatenate([uvs, 0.5 * (uvs[upairs[:, 0]] + uvs[upairs[:, 1]])], 0)
    return new_v, new_f, new_uv, _split(face_uvs, umid)


def subdivide(mesh: TexturedMesh) -> TexturedMesh:
    """One level of midpoint subdivision of a :class:`TexturedMesh` (texture kept as is)."""
    v, f, uv, fuv = subdivide_arrays(mesh.vertices, mesh.faces, mesh.uvs, mesh.face_uvs)
    return TexturedMesh(v, f, uv, fuv, mesh.texture)
