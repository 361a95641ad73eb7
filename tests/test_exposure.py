"""Per-view exposure gains (texforge.texture.exposure): recovered from what the views see at shared texels,
centred over the views that make the texture, divided out of the object only."""

from __future__ import annotations

import torch

from texforge.texture.exposure import UNSEEN, balanced, overlap_log_gains

H, W, VIEWS = 32, 64, 8


def _ring(seed: int = 0):
    """A UV chart of coloured blocks seen by a ring of views, each over a band of columns that overlaps
    its neighbours' by half, weights tapering off to the band's edges as the projection's cosines do.
    Returns the albedo (H, W, 3), colours (V, H, W, 3) and weights (V, H, W)."""
    g = torch.Generator().manual_seed(seed)
    blocks = torch.rand(3, H // 8, W // 8, generator=g) * 0.8 + 0.1
    albedo = torch.nn.functional.interpolate(blocks[None], size=(H, W), mode="nearest")[0].permute(1, 2, 0)
    col = torch.arange(W, dtype=torch.float32)
    weights = torch.zeros(VIEWS, H, W)
    for v in range(VIEWS):
        centre = (v + 0.5) * W / VIEWS
        d = torch.remainder(col - centre + W / 2, W) - W / 2               # wraps round like a turntable
        weights[v] = (1 - d.abs() / (2.5 * W / VIEWS)).clamp(min=0) ** 2
    return albedo, albedo.expand(VIEWS, H, W, 3).clone(), weights


def test_gains_come_from_the_overlaps_despite_misregistration_and_clipping():
    albedo, colours, weights = _ring()
    true = torch.tensor([0.3, -0.4, 0.25, -0.35, 0.6, -0.3, 0.2, -0.3])[:, None] + 0.03 * torch.randn(
        VIEWS, 3, generator=torch.Generator().manual_seed(1))
    true -= true.mean(0)
    colours = (colours * torch.exp(true)[:, None, None, :]).clamp(0, 1)   # view 4 clips its brightest blocks
    colours[1::2] = torch.roll(colours[1::2], shifts=1, dims=2)          # every other view a texel off
    found = overlap_log_gains(colours, weights, list(range(VIEWS)))
    expected = true.sign() * (true.abs() - UNSEEN)                     # the last UNSEEN is taken as noise
    assert torch.allclose(found, expected, atol=0.03), (found - expected).abs().max()


def test_photos_of_one_exposure_stay_as_they_are():
    """Gains of a percent (noise, a little specular light) are no exposure: every view keeps exactly one."""
    albedo, colours, weights = _ring()
    wobble = 0.01 * torch.randn(VIEWS, 3, generator=torch.Generator().manual_seed(2))
    colours = colours * torch.exp(wobble)[:, None, None, :]
    assert torch.count_nonzero(overlap_log_gains(colours, weights, list(range(VIEWS)))) == 0


def test_a_view_is_never_compared_with_itself():
    """Most of what view 0 sees nobody else sees: a texture it helped blend would mostly be its own
    colours and hand its gain back; only the overlaps count."""
    albedo, colours, weights = _ring()
    weights[0] *= 6.0                                                    # view 0 dominates its texels
    true = torch.zeros(VIEWS, 3)
    true[0] = 0.5
    true -= true.mean(0)
    colours = colours * torch.exp(true)[:, None, None, :]
    found = overlap_log_gains(colours.clamp(0, 1), weights, list(range(VIEWS)))
    assert torch.allclose(found, true.sign() * (true.abs() - UNSEEN), atol=0.02), found


def test_light_that_moves_across_the_object_is_not_taken_for_an_exposure():
    """A lamp on the camera brightens one side of what each view sees: one gain does not explain that."""
    albedo, colours, weights = _ring()
    col = torch.arange(W, dtype=torch.float32)
    for v in range(VIEWS):
        centre = (v + 0.5) * W / VIEWS
        d = torch.remainder(col - centre + W / 2, W) - W / 2
        colours[v] = colours[v] * (1.2 + 0.6 * (d / (W / VIEWS)).clamp(-1, 1))[None, :, None]
    colours = colours.clamp(0, 1)
    assert torch.all(overlap_log_gains(colours, weights, list(range(VIEWS))) == 0)
    # without the test the lamp reads as gains
    assert overlap_log_gains(colours, weights, list(range(VIEWS)), min_explained=-1e9).abs().max() > 0.05


def test_views_left_out_are_measured_but_do_not_move_the_others():
    albedo, colours, weights = _ring()
    colours[3] = (colours[3] * 1.6).clamp(0, 1)           # a pruned view: wrong in every way but measured
    colours[3, :, :8] = 0.0
    kept = [v for v in range(VIEWS) if v != 3]
    found = overlap_log_gains(colours, weights, kept)
    assert torch.allclose(found[kept], torch.zeros(len(kept), 3), atol=1e-4)
    assert torch.allclose(found[kept].mean(0), torch.zeros(3), atol=1e-6)


def test_balancing_divides_the_object_and_keeps_the_backdrop():
    images = torch.full((2, 8, 8, 3), 0.4)
    masks = torch.zeros(2, 8, 8)
    masks[:, 2:6, 2:6] = 1.0
    out = balanced(images, masks, torch.log(torch.tensor([[2.0, 2.0, 2.0], [0.5, 0.25, 1.0]])))
    assert torch.allclose(out[0, 3, 3], torch.full((3,), 0.2))
    assert torch.allclose(out[1, 3, 3], torch.tensor([0.8, 1.0, 0.4]))   # clamped to the image range
    assert torch.allclose(out[:, 0, 0], images[:, 0, 0])
