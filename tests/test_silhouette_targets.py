"""The masks the multi-view fit's soft silhouettes are fitted to (losses.silhouette.grow_masks)."""

from __future__ import annotations

import math

import torch

from texforge.losses.silhouette import grow_masks


def _disk(size: int, radius: float) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    return (((xs - size / 2) ** 2 + (ys - size / 2) ** 2).sqrt() <= radius).float()[None]


def test_grown_mask_covers_the_disk_one_grow_distance_larger():
    disk = _disk(96, 20.0)
    for px in (0.6, 1.5):
        grown = grow_masks(disk, px)
        radius = math.sqrt(float(grown.sum()) / math.pi)   # the area's radius, partial pixels counted
        assert abs(radius - (20.0 + px)) < 0.25, (px, radius)
        assert bool((grown >= disk).all()) and float(grown.max()) == 1.0


def test_no_growth_returns_the_masks_and_empty_masks_stay_empty():
    masks = torch.rand(2, 16, 16) * 0.9
    assert grow_masks(masks, 0.0) is masks
    empty = torch.zeros(1, 16, 16)
    assert float(grow_masks(empty, 0.6).sum()) == 0.0
