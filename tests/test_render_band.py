"""The soft-mask band in pixels (render.soft_mask.band_to_sigmainv) means what it says on a real render:
the DIB-R soft mask of a straight edge falls to 0.5 at ``band_px`` pixels outside it, at any resolution."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from texforge.geometry.layouts import look_at
from texforge.render.camera import Cameras
from texforge.render.renderer import render_mesh
from texforge.render.soft_mask import band_to_sigmainv


@pytest.mark.parametrize("size, band", [(64, 4.0), (128, 2.5)])
def test_soft_mask_is_one_half_at_the_band_distance(size, band):
    # the left half-plane x <= 0 at z = 0, seen head-on: its edge is the image's middle column line
    verts = torch.tensor([[-50.0, -50.0, 0.0], [0.0, -50.0, 0.0], [0.0, 50.0, 0.0], [-50.0, 50.0, 0.0]],
                         dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    R, t = look_at(np.array([0.0, 0.0, 3.0]), np.zeros(3), up=(0.0, 1.0, 0.0))
    K = torch.tensor([[[size, 0.0, size / 2], [0.0, size, size / 2], [0.0, 0.0, 1.0]]], dtype=torch.float64)
    cams = Cameras(K, torch.tensor(R[None]), torch.tensor(t[None]), size, size)
    sigmainv, boxlen = band_to_sigmainv(band, size)
    soft = render_mesh(verts, faces, cams, sigmainv=sigmainv, boxlen=boxlen).soft_mask[0, size // 2]
    cols = torch.arange(size // 2, size, dtype=torch.float64)
    dist = cols + 0.5 - size / 2                               # pixel centre to the edge, in pixels
    expected = torch.exp(-math.log(2.0) * (dist / band) ** 2)
    near = dist < 2 * band                                     # inside the box the band is defined on
    assert torch.allclose(soft[size // 2:][near], expected[near], atol=2e-3)
    assert bool((soft[: size // 2] == 1).all())                # covered pixels
