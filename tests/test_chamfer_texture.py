"""Chamfer texture loss (seed 002): tolerant of small misalignment, not of a wrong texture."""

import torch

from texforge.losses.chamfer_texture import chamfer_texture_loss


def _stripes(shift: int = 0, colours=((1.0, 0.1, 0.1), (0.1, 0.1, 1.0)), size: int = 32) -> torch.Tensor:
    x = (torch.arange(size) + shift) // 2 % 2                  # 2-px stripes: a 2-px shift inverts them
    a, b = (torch.tensor(c).view(3, 1) for c in colours)
    row = torch.where(x.bool().unsqueeze(0), b, a)             # (3, W)
    return row.unsqueeze(1).expand(3, size, size).unsqueeze(0).clone()


def _disc(size: int = 32, radius: float = 11.0) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    return (((yy - size / 2) ** 2 + (xx - size / 2) ** 2) <= radius ** 2).float().unsqueeze(0)


def _loss(a, b, mask):
    return chamfer_texture_loss(a, mask, b, mask, samples=4096, generator=torch.Generator().manual_seed(0)).item()


def test_identical_images_score_zero():
    img, mask = _stripes(), _disc()
    assert abs(_loss(img, img, mask)) < 1e-5


def test_a_small_shift_costs_little_where_l1_sees_a_wrong_texture():
    img, mask = _stripes(), _disc()
    shifted = _stripes(shift=2)                                       # every stripe swaps colour
    other = _stripes(colours=((0.1, 0.9, 0.1), (0.9, 0.9, 0.1)))     # a different texture
    l1_shift = (img - shifted).abs().mean().item()
    l1_other = (img - other).abs().mean().item()
    assert l1_shift > 0.8 * l1_other                                  # pixel-wise, the shift looks as wrong
    assert _loss(img, shifted, mask) < 0.05 * _loss(img, other, mask)


def test_gradient_pulls_a_flat_colour_toward_the_target():
    target, mask = _stripes(), _disc()
    pred = torch.full_like(target, 0.5).requires_grad_(True)
    opt = torch.optim.Adam([pred], lr=0.05)
    first = None
    for _ in range(60):
        loss = chamfer_texture_loss(pred, mask, target, mask, samples=512, generator=torch.Generator().manual_seed(1))
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.sum().backward()
        opt.step()
    assert loss.item() < 0.3 * first


def test_empty_foreground_scores_zero_not_nan():
    img = _stripes()
    out = chamfer_texture_loss(img, torch.zeros(1, 32, 32), img, _disc(), samples=64)
    assert torch.isfinite(out).all() and out.item() == 0.0
