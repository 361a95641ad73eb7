"""Learnable meshes: a template with a global placement plus a learned displacement.

Both models keep the template's topology and UVs, so whatever a pipeline learns can be textured,
rendered and exported like the template. ``vertices()`` is
``anchor + shift + exp(log_scale) * (base - anchor) + displacement()``: the placement (shift (3,),
per-axis log-scales (3,) about ``anchor``) alone turns a sphere into an ellipsoid fit.

- :class:`MeshModel`: the displacement is a free offset per vertex (V, 3) (a per-object fit).
- :class:`DeformationMapModel`: the displacement is a UV-space image (1, 3, H, W) sampled at each
  vertex's UVs (as in ConvMesh: bilinear, wrapping around the seam, pole rows averaged), so a
  convolutional generator can output it and it does not depend on the mesh resolution.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

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


class _PlacedTemplate(nn.Module, ABC):
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

    @abstractmethod
    def displacement(self) -> torch.Tensor:
        """(V, 3) offsets from the placed template: each model's own parameters."""

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


def sample_uv_maps(images: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear samples (N, P, C) of ``images`` (N, C, H, W) at ``uv`` (P, 2) (v up, row 0 at v = 1).

    u wraps around (the UV sphere's seam joins u = 0 to u = 1, so both sides read the same texels);
    v is clamped at the border rows. At a texel centre the sample is that texel."""
    n, _, h, w = images.shape
    wrapped = torch.cat([images[..., -1:], images, images[..., :1]], -1)   # one column of the other side
    x = (uv[:, 0] * w + 1.0) / (w + 2) * 2.0 - 1.0                         # u in texels, shifted by the pad
    y = 1.0 - 2.0 * uv[:, 1]
    grid = torch.stack([x, y], -1).to(images.dtype).view(1, 1, -1, 2).expand(n, 1, -1, 2)
    out = F.grid_sample(wrapped, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out[:, :, 0].transpose(1, 2)


def sample_uv_map(image: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear samples (P, C) of one ``image`` (1, C, H, W) at ``uv`` (P, 2); see :func:`sample_uv_maps`."""
    return sample_uv_maps(image, uv)[0]


def vertex_corner_uvs(faces: np.ndarray, face_uvs: np.ndarray, num_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """Every distinct UV index of each vertex, padded: index (V, K) into the UVs and a mask (V, K).

    A vertex on a seam has two UVs and a pole vertex one per pole triangle; a map sampled at all of
    them and averaged gives one displacement per vertex that does not depend on which corner comes
    first (at a pole: the average of the pole row, as in ConvMesh)."""
    pairs = np.unique(np.stack([np.asarray(faces).reshape(-1), np.asarray(face_uvs).reshape(-1)], 1), axis=0)
    counts = np.bincount(pairs[:, 0], minlength=num_vertices)
    if (counts == 0).any():
        raise ValueError(f"{int((counts == 0).sum())} template vertices are used by no face; "
                         f"a deformation map cannot place them")
    k = int(counts.max())
    slot = np.arange(len(pairs)) - np.repeat(np.cumsum(counts) - counts, counts)   # pairs are sorted by vertex
    index, mask = np.zeros((num_vertices, k), dtype=np.int64), np.zeros((num_vertices, k), dtype=bool)
    index[pairs[:, 0], slot], mask[pairs[:, 0], slot] = pairs[:, 1], True
    return index, mask


class DeformationMapModel(_PlacedTemplate):
    """A template with a learnable placement and a learnable UV-space displacement image.

    ``displacement_map`` (1, 3, H, W) starts at zero (the placed template); row 0 is the top of the UV
    square (v = 1), as for textures. Each vertex averages the map's bilinear samples at its UVs (see
    :func:`vertex_corner_uvs`, :func:`sample_uv_map`), times ``scale``. The three channels displace
    along world x, y, z, or along per-vertex ``frames`` (V, 3, 3) whose rows are the directions of
    channels 0, 1, 2 (ConvMesh: the template's tangent, bitangent and normal)."""

    def __init__(self, base: torch.Tensor, faces: torch.Tensor, uvs: torch.Tensor, face_uvs: torch.Tensor,
                 map_size: tuple[int, int] = (32, 32), anchor: torch.Tensor | None = None, scale: float = 1.0,
                 frames: torch.Tensor | None = None):
        super().__init__(base, faces, uvs, face_uvs, anchor)
        h, w = map_size
        self.scale = float(scale)
        self.displacement_map = nn.Parameter(torch.zeros(1, 3, h, w, dtype=base.dtype, device=base.device))
        index, mask = vertex_corner_uvs(faces.cpu().numpy(), face_uvs.cpu().numpy(), base.shape[0])
        self.register_buffer("corner_uv_index", torch.as_tensor(index, device=base.device))
        weight = torch.as_tensor(mask, dtype=base.dtype, device=base.device)
        self.register_buffer("corner_weight", weight / weight.sum(1, keepdim=True))
        if frames is not None and tuple(frames.shape) != (base.shape[0], 3, 3):
            raise ValueError(f"frames must be (V, 3, 3) = ({base.shape[0]}, 3, 3), got {tuple(frames.shape)}")
        self.register_buffer("frames", None if frames is None else frames.detach().to(base))

    def displacement(self) -> torch.Tensor:
        return self.displacement_of(self.displacement_map)[0]

    def displacement_of(self, maps: torch.Tensor) -> torch.Tensor:
        """Offsets (N, V, 3) of a batch of displacement maps (N, 3, H, W) on this template: what a
        network that outputs deformation maps (a category model, a GAN) turns into meshes."""
        v, k = self.corner_uv_index.shape
        n = maps.shape[0]
        samples = sample_uv_maps(maps, self.uvs[self.corner_uv_index.reshape(-1)]).view(n, v, k, 3)
        d = self.scale * (samples * self.corner_weight.unsqueeze(-1)).sum(2)
        return d if self.frames is None else (d.unsqueeze(2) @ self.frames).squeeze(2)

    def vertices_of(self, maps: torch.Tensor) -> torch.Tensor:
        """Vertices (N, V, 3): this model's placement plus the displacement of each map in ``maps``."""
        placed = self.anchor + self.shift + torch.exp(self.log_scale) * (self.base - self.anchor)
        return placed.unsqueeze(0) + self.displacement_of(maps)

    @torch.no_grad()
    def subdivided(self) -> DeformationMapModel:
        """The template subdivided once, keeping the placement and the map (the map does not depend
        on the mesh resolution, so the surface only gains the detail the map already holds). Frames
        are per vertex, so a model with frames cannot be subdivided this way."""
        if self.frames is not None:
            raise ValueError("a deformation map with per-vertex frames cannot be subdivided; "
                             "build a new model on the subdivided template with its frames")
        _, _, h, w = self.displacement_map.shape
        out = DeformationMapModel(*self._subdivided_tensors(self.base), map_size=(h, w), anchor=self.anchor,
                                  scale=self.scale)
        out.load_state_dict({k: v for k, v in self.state_dict().items()
                             if k in ("shift", "log_scale", "displacement_map")}, strict=False)
        return out
