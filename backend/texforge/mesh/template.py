"""Template meshes: the ConvMesh UV sphere (with a seam-aware UV layout).

The sphere has its poles on the z axis (Blender's up axis). ``segments`` columns of longitude and
``rings`` bands of latitude give ``segments * (rings - 1) + 2`` vertices and ``2 * segments * (rings - 1)``
triangles: 482 vertices / 960 faces for the ConvMesh default 32 x 16, 962 / 1920 for 32 x 31.

UVs are per corner (``face_uvs`` indexes ``uvs``): u runs with longitude from 0 to 1 and has a seam
column at u = 1 that duplicates u = 0, v runs from 0 at the south pole to 1 at the north pole
(v-up, as in :class:`texforge.mesh.types.TexturedMesh`). Each pole triangle gets its own pole UV at the
middle of its column so that texels near the poles are not shared by all pole triangles.
"""

from __future__ import annotations

import math

import numpy as np

from .types import TexturedMesh


def uv_sphere(segments: int = 32, rings: int = 16, radius: float = 1.0) -> TexturedMesh:
    """A UV sphere as an untextured :class:`TexturedMesh` (float32 vertices, int64 faces).

    Faces are counter-clockwise seen from outside (outward normals). Vertex order: north pole, then
    rings from north to south (each ``segments`` vertices, longitude increasing), then the south pole.
    """
    if segments < 3 or rings < 2:
        raise ValueError(f"a UV sphere needs segments >= 3 and rings >= 2, got {segments} x {rings}")
    verts = [(0.0, 0.0, radius)]
    for r in range(1, rings):
        theta = math.pi * r / rings  # polar angle from the north pole
        for s in range(segments):
            phi = 2.0 * math.pi * s / segments
            verts.append((radius * math.sin(theta) * math.cos(phi),
                          radius * math.sin(theta) * math.sin(phi),
                          radius * math.cos(theta)))
    verts.append((0.0, 0.0, -radius))
    north, south = 0, len(verts) - 1

    def ring_vertex(r: int, s: int) -> int:  # r in 1..rings-1
        return 1 + (r - 1) * segments + (s % segments)

    # UV grid: (rings - 1) rows x (segments + 1) columns (seam duplicated), then pole UVs per column.
    uvs = []
    for r in range(1, rings):
        for s in range(segments + 1):
            uvs.append((s / segments, 1.0 - r / rings))
    n_grid = len(uvs)
    for s in range(segments):
        uvs.append(((s + 0.5) / segments, 1.0))   # north pole corner of column s
    for s in range(segments):
        uvs.append(((s + 0.5) / segments, 0.0))   # south pole corner of column s

    def ring_uv(r: int, s: int) -> int:  # s in 0..segments (seam column = segments)
        return (r - 1) * (segments + 1) + s

    faces, face_uvs = [], []
    for s in range(segments):
        # north cap: pole, ring 1 at s, ring 1 at s+1 (counter-clockwise seen from outside)
        faces.append((north, ring_vertex(1, s), ring_vertex(1, s + 1)))
        face_uvs.append((n_grid + s, ring_uv(1, s), ring_uv(1, s + 1)))
    for r in range(1, rings - 1):
        for s in range(segments):
            a, b = ring_vertex(r, s), ring_vertex(r, s + 1)
            c, d = ring_vertex(r + 1, s), ring_vertex(r + 1, s + 1)
            ua, ub, uc, ud = ring_uv(r, s), ring_uv(r, s + 1), ring_uv(r + 1, s), ring_uv(r + 1, s + 1)
            faces.append((a, c, d))
            face_uvs.append((ua, uc, ud))
            faces.append((a, d, b))
            face_uvs.append((ua, ud, ub))
    last = rings - 1
    for s in range(segments):
        faces.append((south, ring_vertex(last, s + 1), ring_vertex(last, s)))
        face_uvs.append((n_grid + segments + s, ring_uv(last, s + 1), ring_uv(last, s)))
    return TexturedMesh(np.array(verts), np.array(faces), np.array(uvs), np.array(face_uvs))


def convmesh_sphere(cars: bool = False) -> TexturedMesh:
    """The ConvMesh template: 32 x 16 (482 vertices, 960 faces), or 32 x 31 for cars (962 / 1920)."""
    return uv_sphere(32, 31 if cars else 16)
