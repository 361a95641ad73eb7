"""The shading-tolerant image loss (texforge.losses.shading): smooth shading barely moves it, a
misregistered texture does."""

from __future__ import annotations

import torch

from texforge.losses.shading import gaussian_blur, shading_tolerant_l1


def _texture(h: int = 64, w: int = 64) -> torch.Tensor:
    blocks = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    return torch.nn.functional.interpolate(blocks, size=(h, w), mode="nearest").permute(0, 2, 3, 1)


def test_blur_keeps_constants_and_sums():
    flat = torch.full((2, 16, 24, 3), 0.3)
    assert torch.allclose(gaussian_blur(flat, 2.0), flat, atol=1e-6)
    x = torch.rand(1, 20, 20, 1, generator=torch.Generator().manual_seed(1))
    blurred = gaussian_blur(x, 1.5)
    assert blurred.shape == x.shape and blurred.std() < x.std()
    assert gaussian_blur(x, 50.0).shape == x.shape        # a kernel wider than the image is cut to fit


def test_shading_moves_the_loss_far_less_than_misregistration():
    tex = _texture()
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 64), torch.linspace(-1, 1, 64), indexing="ij")
    shading = (1.0 + 0.35 * xx + 0.2 * yy)[None, :, :, None]          # a lamp up and to the right
    shaded = tex * shading
    shifted = torch.roll(tex, shifts=2, dims=2)                        # the texture 2 px off
    plain = lambda a, b: (a - b).abs().mean()
    tolerant = lambda a, b: shading_tolerant_l1(a, b, sigma=2.0, plain_share=0.0)
    # the plain L1 takes the shading for about as much as 2 px of misregistration ...
    assert plain(tex, shaded) > 0.5 * plain(tex, shifted)
    # ... the high-pass one for a small fraction of it
    assert tolerant(tex, shaded) < 0.25 * tolerant(tex, shifted)
    assert torch.isclose(shading_tolerant_l1(tex, shaded, 2.0, 0.25), tolerant(tex, shaded) + 0.25 * plain(tex, shaded))
