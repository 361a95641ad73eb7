"""The textured mesh passed between pipelines, I/O and the add-on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class TexturedMesh:
    """A triangle mesh with per-corner UVs and one base-colour texture (numpy, float32 / int64).

    vertices (V, 3) world units (metres, Blender Z-up); faces (F, 3) vertex indices, counter-clockwise
    seen from outside; uvs (T, 2) in [0, 1] with v pointing up (OBJ / Blender convention: v = 0 is the
    bottom row of the texture); face_uvs (F, 3) indices into uvs; texture (H, W, 3) in [0, 1], row 0 on
    top (may be None for an untextured mesh).
    """

    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray | None = None
    face_uvs: np.ndarray | None = None
    texture: np.ndarray | None = None

    def __post_init__(self):
        self.vertices = np.asarray(self.vertices, dtype=np.float32).reshape(-1, 3)
        self.faces = np.asarray(self.faces, dtype=np.int64).reshape(-1, 3)
        if self.uvs is not None:
            self.uvs = np.asarray(self.uvs, dtype=np.float32).reshape(-1, 2)
            self.face_uvs = np.asarray(self.face_uvs, dtype=np.int64).reshape(-1, 3)
            if self.face_uvs.shape != self.faces.shape:
                raise ValueError("face_uvs must have one UV index per face corner")
        if self.texture is not None:
            self.texture = np.asarray(self.texture, dtype=np.float32)

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])

    def bbox_diagonal(self) -> float:
        if len(self.vertices) == 0:
            return 0.0
        return float(np.linalg.norm(self.vertices.max(0) - self.vertices.min(0)))
