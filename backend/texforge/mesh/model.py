"""Learnable meshes: a template with a global placement plus a learned displacement.

Both models keep the template's topology and UVs, so whatever a pipeline learns can be textured,
rendered and exported like the template. ``vertices()`` is
``anchor + shift + exp(log_scale) * (base - anchor) + displacement()``: the placement (shift (3,),
per-axis log-scales (3,) about ``anchor``) alone turns a sphere into an ellipsoid fit.

- :class:`MeshModel`: the displacement is a free offset per vertex (V, 3) (a per-object fit).
- :class:`DeformationMapModel`: the displacement is a UV-space image (1, 3, H, W) sampled at each
  vertex's UV (as in ConvMesh), so a convolutional generator can output it and it does not depend on
  the mesh resolution.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .regularizers import (
    MeshTopology,
    edge_length_loss,
    laplacian_loss,
    normal_consistency_loss,
    vertex_normals,
)
from .subdivide import subdivide_arrays


class _PlacedTemplate(nn.Module):
    """base (V, 3), faces (F, 3), uvs (T, 2) v-up, face_uvs (F, 3) on one device; subclasses
    define ``displacement()`` (V, 3) and ``subdivided()``."""

    def __init__(self, base: torch.Tensor, faces: torch.Tensor, uvs: torch.Tensor, face_uvs: torch.Tensor,
                 anchor: torch.Tensor | None = None):
        super().__init__()
        self.register_buffer("base", base.detach().clone())
        self.register_buffer("anchor", (base.mean(0) if anchor is None else anchor).detach().clone())
        self.shift = nn.Parameter(torch.zeros(3, dtype=base.dtype, device=base.device))
        self.log_scale = nn.Parameter(torch.zeros(3, dtype=base.dtype, device=base.device))
        self.register_buffer("faces", faces)
        self.register_buffer("uvs", uvs)
        self.register_buffer("face_uvs", face_uvs)
        self.topo = MeshTopology(faces, base.shape[0])

    def displacement(self) -> torch.Tensor:
        raise NotImplementedError

    def vertices(self) -> torch.Tensor:
        return self.anchor + self.shift + torch.exp(self.log_scale) * (self.base - self.anchor) + self.displacement()

    @torch.no_grad()
    def centre(self) -> torch.Tensor:
        return self.anchor + self.shift

    def mean_edge_length(self, vertices: torch.Tensor) -> torch.Tensor:
        e = self.topo.edges
        return (vertices[e[:, 0]] - vertices[e[:, 1]]).norm(dim=-1).mean()

    def regularizers(self, vertices: torch.Tensor) -> dict[str, torch.Tensor]:
        """Uniform Laplacian (relative to the mean edge length, so it means the same at every scale),
        face-normal consistency and edge-length uniformity of ``vertices``."""
        h = self.mean_edge_length(vertices).detach().clamp_min(1e-12)
        return {"laplacian": laplacian_loss(vertices, self.topo) / (h * h),
                "normal": normal_consistency_loss(vertices, self.faces, self.topo),
                "edge": edge_length_loss(vertices, self.topo)}

    @torch.no_grad()
    def normals(self) -> torch.Tensor:
        return vertex_normals(self.vertices(), self.faces)

    def _subdivided_tensors(self, vertices: torch.Tensor):
        """Loop-free midpoint subdivision of ``vertices`` with this topology and UVs, as tensors."""
        v, f, uv, fuv = subdivide_arrays(vertices.detach().cpu().numpy(), self.faces.cpu().numpy(),
                                         self.uvs.cpu().numpy(), self.face_uvs.cpu().numpy())
        dev, dt = self.base.device, self.base.dtype
        return (torch.as_tensor(v, dtype=dt, device=dev), torch.as_tensor(f, device=dev),
                torch.as_tensor(uv, dtype=dt, device=dev), torch.as_tensor(fuv, device=dev))


class MeshModel(_PlacedTemplate):
    """A template with a learnable placement and learnable free vertex offsets (V, 3)."""

    def __init__(self, base: torch.Tensor, faces: torch.Tensor, uvs: torch.Tensor, face_uvs: torch.Tensor,
                 anchor: torch.Tensor | None = None):
        super().__init__(base, faces, uvs, face_uvs, anchor)
        self.offsets = nn.Parameter(torch.zeros_like(self.base))

    def displacement(self) -> torch.Tensor:
        return self.offsets

    @torch.no_grad()
    def subdivided(self) -> MeshModel:
        """The current surface (placement and offsets baked into the new template) subdivided once,
        with fresh zero offsets and placement: the next, finer stage of a coarse-to-fine fit."""
        return MeshModel(*self._subdivided_tensors(self.vertices()), anchor=self.centre())


def vertex_uv_index(faces: np.ndarray, face_uvs: np.ndarray, num_vertices: int) -> np.ndarray:
    """One UV index per vertex (V,): the UV of the vertex's first corner in face order (a vertex on a
    UV seam has several; one is enough for a smooth map, and the first is reproducible)."""
    corners, uv_of_corner = np.asarray(faces).reshape(-1), np.asarray(face_uvs).reshape(-1)
    verts, first = np.unique(corners, return_index=True)
    if len(verts) != num_vertices:
        raise ValueError(f"{num_vertices - len(verts)} template vertices are used by no face; "
                         f"a deformation map cannot place them")
    return uv_of_corner[first]


class DeformationMapModel(_PlacedTemplate):
    """A template with a learnable placement and a learnable UV-space displacement image.

    ``displacement_map`` (1, 3, H, W) holds world-space xyz displacements (times ``scale``); row 0 is
    the top of the UV square (v = 1), as for textures. Each vertex samples it bilinearly at its UV
    (see :func:`vertex_uv_index`), so a zero map is the placed template and gradients reach the map."""

    def __init__(self, base: torch.Tensor, faces: torch.Tensor, uvs: torch.Tensor, face_uvs: torch.Tensor,
                 map_size: tuple[int, int] = (64, 64), anchor: torch.Tensor | None = None, scale: float = 1.0):
        super().__init__(base, faces, uvs, face_uvs, anchor)
        h, w = map_size
        self.scale = float(scale)
        self.displacement_map = nn.Parameter(torch.zeros(1, 3, h, w, dtype=base.dtype, device=base.device))
        index = vertex_uv_index(faces.cpu().numpy(), face_uvs.cpu().numpy(), base.shape[0])
        uv = uvs[torch.as_tensor(index, device=uvs.device)]
        # grid_sample's (x, y) in [-1, 1] with y down: u -> x, v (up) -> -y
        self.register_buffer("grid", torch.stack([2.0 * uv[:, 0] - 1.0, 1.0 - 2.0 * uv[:, 1]], -1).view(1, 1, -1, 2))

    def displacement(self) -> torch.Tensor:
        d = F.grid_sample(self.displacement_map, self.grid.to(self.displacement_map.dtype), mode="bilinear",
                          padding_mode="border", align_corners=False)
        return self.scale * d[0, :, 0].transpose(0, 1)

    @torch.no_grad()
    def subdivided(self) -> DeformationMapModel:
        """The template subdivided once, keeping the placement and the map (the map does not depend
        on the mesh resolution, so the surface only gains the detail the map already holds)."""
        _, _, h, w = self.displacement_map.shape
        out = DeformationMapModel(*self._subdivided_tensors(self.base), map_size=(h, w), anchor=self.anchor,
                                  scale=self.scale)
        out.load_state_dict({k: v for k, v in self.state_dict().items()
                             if k in ("shift", "log_scale", "displacement_map")}, strict=False)
        return out
