"""The in-memory multi-view dataset every pipeline consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch only where a dataset is built, so transforms.json I/O works without it
    from ..render.camera import Cameras


@dataclass
class MultiViewDataset:
    """N views of one object at one working resolution.

    images (N, H, W, 3) float32 in [0, 1], row 0 on top; masks (N, H, W) float32 in [0, 1]
    (1 = object); cameras: ``Cameras`` of length N with the same W x H; names: one label per view
    (the frame's file path as written in transforms.json), used in every error message and report;
    background: the RGB colour behind the object when known (None otherwise); warnings: what the
    user should hear about the input; pruned: frames left out because they are unusable, as
    ``{"name", "reason", "stage": "input"}`` (carried into the result's pruned list).
    """

    images: np.ndarray
    masks: np.ndarray
    cameras: Cameras
    names: list[str]
    background: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    pruned: list[dict] = field(default_factory=list)

    def __post_init__(self):
        n = len(self.names)
        if self.images.shape[0] != n or self.masks.shape[0] != n or len(self.cameras) != n:
            raise ValueError("images, masks, cameras and names must all hold the same number of views")
        h, w = self.images.shape[1:3]
        if (w, h) != (self.cameras.width, self.cameras.height) or self.masks.shape[1:3] != (h, w):
            raise ValueError("images, masks and cameras must share one image size")

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, index) -> "MultiViewDataset":
        index = list(index)
        return MultiViewDataset(self.images[index], self.masks[index], self.cameras[index],
                                [self.names[i] for i in index], self.background, list(self.warnings),
                                [dict(p) for p in self.pruned])
