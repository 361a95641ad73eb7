"""Texture sampling with kaolin's ``texture_mapping`` conventions."""

from __future__ import annotations

import torch
import torch.nn.functional as F

MODES = ("nearest", "bilinear")


def texture_mapping(texture_coordinates: torch.Tensor, texture_maps: torch.Tensor, mode: str = "nearest",
                    padding_mode: str = "border") -> torch.Tensor:
    """Sample textures at UV coordinates (kaolin's ``texture_mapping``).

    Args:
        texture_coordinates: (B, h, w, 2) or (B, P, 2) UVs in [0, 1], v pointing up (v = 0 is the
            bottom row of the texture). Values outside [0, 1] are clamped (no wrap at the U seam, as in
            kaolin), so a seam must be handled by the mesh's UV layout (split seam vertices).
        texture_maps: (B, C, Ht, Wt), row 0 on top; a batch of 1 is shared by all B.
        mode: 'nearest' or 'bilinear' (torch ``grid_sample`` with ``align_corners=False``).
        padding_mode: ``grid_sample`` padding. Deviation from kaolin's default ('zeros'): 'border', so
            the outer half texel is not darkened by the zero padding after the clamp.
    Returns:
        (B, h, w, C) or (B, P, C) sampled values.
    """
    if mode not in MODES:
        raise ValueError(f"texture_mapping mode must be one of {MODES}, got {mode!r}")
    if texture_maps.dim() != 4:
        raise ValueError(f"texture_maps must be (B, C, H, W), got {tuple(texture_maps.shape)}")
    B = texture_coordinates.shape[0]
    if texture_maps.shape[0] == 1 and B != 1:
        texture_maps = texture_maps.expand(B, -1, -1, -1)
    elif texture_maps.shape[0] != B:
        raise ValueError(f"texture batch {texture_maps.shape[0]} does not match coordinates batch {B}")
    C = texture_maps.shape[1]
    grid = texture_coordinates.reshape(B, -1, 1, 2).to(texture_maps.dtype)
    grid = torch.clamp(grid, 0.0, 1.0) * 2.0 - 1.0
    grid = torch.stack([grid[..., 0], -grid[..., 1]], dim=-1)  # v up -> grid y down
    out = F.grid_sample(texture_maps, grid, mode=mode, align_corners=False, padding_mode=padding_mode)
    return out.permute(0, 2, 3, 1).reshape(*texture_coordinates.shape[:-1], C)
