"""Per-view exposure gains (texforge.texture.exposure): recovered from photos against a render, centred
over the kept views, divided out of the object only."""

from __future__ import annotations

import torch

from texforge.texture.exposure import balanced, centred_log_gains, view_log_gains


def _patchy_renders(n: int, size: int = 48, seed: int = 0) -> torch.Tensor:
    """(n, size, size, 3) renders of a texture of coloured blocks, as a textured object gives."""
    g = torch.Generator().manual_seed(seed)
    blocks = torch.rand(n, 3, size // 8, size // 8, generator=g) * 0.8 + 0.1
    return torch.nn.functional.interpolate(blocks, size=(size, size), mode="nearest").permute(0, 2, 3, 1)


def test_view_gains_recover_each_photos_exposure_despite_misregistration_and_clipping():
    renders = _patchy_renders(4)
    true = torch.tensor([[0.3, 0.25, 0.35], [-0.4, -0.45, -0.4], [0.0, 0.05, -0.05], [0.6, 0.6, 0.6]])
    photos = (renders * torch.exp(true)[:, None, None, :]).clamp(0, 1)     # view 3 clips its brightest blocks
    photos = torch.roll(photos, shifts=1, dims=2)                          # the fit is a pixel off
    covered = torch.zeros(4, 48, 48, dtype=torch.bool)
    covered[:, 8:40, 8:40] = True
    gains = view_log_gains(photos, renders, covered)
    assert torch.allclose(gains, true, atol=0.03), gains
    # a view the object does not reach keeps a gain of one
    covered[2] = False
    assert torch.all(view_log_gains(photos, renders, covered)[2] == 0)


def test_gains_are_centred_over_the_kept_views_only():
    log_gains = torch.tensor([[0.2, 0.2, 0.2], [0.4, 0.4, 0.4], [5.0, 5.0, 5.0]])
    centred = centred_log_gains(log_gains, [0, 1])
    assert torch.allclose(centred[:2].mean(0), torch.zeros(3))
    assert torch.allclose(centred[2], torch.full((3,), 4.7))


def test_balancing_divides_the_object_and_keeps_the_backdrop():
    images = torch.full((2, 8, 8, 3), 0.4)
    masks = torch.zeros(2, 8, 8)
    masks[:, 2:6, 2:6] = 1.0
    out = balanced(images, masks, torch.log(torch.tensor([[2.0, 2.0, 2.0], [0.5, 0.25, 1.0]])))
    assert torch.allclose(out[0, 3, 3], torch.full((3,), 0.2))
    assert torch.allclose(out[1, 3, 3], torch.tensor([0.8, 1.0, 0.4]))   # clamped to the image range
    assert torch.allclose(out[:, 0, 0], images[:, 0, 0])
