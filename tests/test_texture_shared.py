"""texforge.texture: UV rasterisation, photo-to-UV projection with visibility, push-pull inpainting."""

from __future__ import annotations

import numpy as np
import torch

from texforge.geometry.layouts import look_at
from texforge.render.camera import Cameras
from texforge.texture import extract_texture, project_colors, push_pull_fill, uv_rasterize

# a unit square in the plane z = 0 whose UVs are its x, y: texel (row, col) paints point (u, 1 - v)
QUAD_V = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
QUAD_F = torch.tensor([[0, 1, 2], [0, 2, 3]])
QUAD_UV = QUAD_V[:, :2].clone()
QUAD_N = torch.tensor([[0.0, 0.0, 1.0]] * 4, dtype=torch.float64)


def test_uv_raster_gives_each_texel_its_surface_point_with_row_0_on_top():
    pts, nrm, covered = uv_rasterize(QUAD_V, QUAD_F, QUAD_UV, QUAD_F, QUAD_N, (8, 16))
    assert bool(covered.all())
    cols = (torch.arange(16, dtype=torch.float64) + 0.5) / 16
    rows = 1.0 - (torch.arange(8, dtype=torch.float64) + 0.5) / 8
    assert torch.allclose(pts[..., 0], cols.expand(8, 16), atol=1e-6)
    assert torch.allclose(pts[..., 1], rows.unsqueeze(1).expand(8, 16), atol=1e-6)
    assert torch.allclose(pts[..., 2], torch.zeros(8, 16, dtype=torch.float64))
    assert torch.allclose(nrm, QUAD_N[0].expand(8, 16, 3))
    # half the UV square unused -> those texels are not covered
    _, _, half = uv_rasterize(QUAD_V, QUAD_F, QUAD_UV * 0.5, QUAD_F, QUAD_N, (8, 8))
    assert int(half.sum()) == 16 and bool(half[4:, :4].all())


def test_push_pull_keeps_known_texels_and_fills_the_rest_from_them():
    tex = torch.zeros(16, 16, 3, dtype=torch.float64)
    known = torch.zeros(16, 16, dtype=torch.bool)
    tex[:, :4] = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    tex[:, 12:] = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    known[:, :4] = known[:, 12:] = True
    out = push_pull_fill(tex, known)
    assert torch.equal(out[known], tex[known])
    assert torch.allclose(out[..., 1], torch.zeros(16, 16, dtype=torch.float64))       # no colour invented
    assert torch.allclose(out[~known].sum(-1), torch.ones(int((~known).sum()), dtype=torch.float64))  # a blend
    red = out[8, :, 0]
    assert red[4] > red[8] > red[11]                                                    # nearer side dominates
    odd = push_pull_fill(torch.full((5, 7, 1), 0.3), torch.eye(5, 7, dtype=torch.bool))
    assert torch.allclose(odd, torch.full((5, 7, 1), 0.3))


def quad_views(eyes, size=32):
    Rs, ts = zip(*[look_at(np.asarray(e, dtype=float), np.array([0.5, 0.5, 0.0]), up=(0.0, 1.0, 0.0)) for e in eyes])
    K = np.array([[40.0, 0, size / 2], [0, 40.0, size / 2], [0, 0, 1]])
    return Cameras(torch.tensor(np.repeat(K[None], len(eyes), 0)), torch.tensor(np.array(Rs)),
                   torch.tensor(np.array(ts)), size, size)


def test_projection_blends_only_the_views_that_see_a_point():
    from texforge.render.renderer import render_mesh

    cams = quad_views([(0.5, 0.5, 2.0), (0.7, 0.4, 2.2), (0.5, 0.5, -2.0)])   # two in front, one behind
    n = len(cams)
    out = render_mesh(QUAD_V, QUAD_F, cams, soft_mask=False)
    depth, sil = out.depth, out.hard_mask.double()
    colours = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    images = colours.view(n, 1, 1, 3).expand(n, 32, 32, 3).contiguous()
    masks = torch.ones(n, 32, 32, dtype=torch.float64)
    pts = torch.tensor([[0.5, 0.5, 0.0], [0.3, 0.6, 0.0]], dtype=torch.float64)
    nrm = QUAD_N[:2]
    col, w = project_colors(pts, nrm, cams, images, masks, depth, sil, radius=0.7)
    assert bool((w > 0).all())
    assert torch.allclose(col[:, 2], torch.zeros(2, dtype=torch.float64))   # the back view faces away: no blue
    assert bool((col[:, 0] > 0.3).all() and (col[:, 1] > 0.3).all())        # both front views contribute
    # a point off the surface (its depth disagrees with the rendered one) is seen by no view
    _, w_off = project_colors(torch.tensor([[0.5, 0.5, 0.5]], dtype=torch.float64), nrm[:1], cams, images, masks,
                              depth, sil, radius=0.7)
    assert float(w_off) == 0.0
    # outside the input mask nothing is taken from that view either
    masks[0] = 0
    col_masked, _ = project_colors(pts, nrm, cams, images, masks, depth, sil, radius=0.7)
    assert torch.allclose(col_masked, colours[1].expand(2, 3))


def test_extract_texture_colours_the_seen_texels_and_fills_the_rest():
    from texforge.render.renderer import render_mesh

    cams = quad_views([(0.5, 0.5, 2.0)])
    out = render_mesh(QUAD_V, QUAD_F, cams, soft_mask=False)
    image = torch.zeros(1, 32, 32, 3, dtype=torch.float64)
    image[..., 0] = torch.linspace(0, 1, 32, dtype=torch.float64)   # red rises with the image column
    tex, vis = extract_texture(QUAD_V, QUAD_F, QUAD_UV, QUAD_F, QUAD_N, cams, image,
                               torch.ones(1, 32, 32, dtype=torch.float64), out.depth, out.hard_mask.double(),
                               (16, 16), radius=0.7, cos_power=1.0, border_px=1.0, erode_px=0)
    assert tex.shape == (16, 16, 3) and vis.shape == (16, 16)
    assert float(vis.max()) == 1.0 and float(vis[8, 8]) > 0.5
    # the camera looks down -z with +y up, so the image column grows with x and so with u
    row = tex[8, 2:14, 0]
    assert bool((row[1:] > row[:-1]).all())
    assert float(tex[..., 1].abs().max()) == 0.0 and float(tex.min()) >= 0.0 and float(tex.max()) <= 1.0


def test_chunked_projection_equals_the_one_pass_projection():
    """Views that come in chunks (rendered or loaded on the fly, so that memory stays bounded) give
    the same texture, bit for bit, as all views at once: they are blended one by one in order."""
    from texforge.render.renderer import render_mesh
    from texforge.texture import extract_texture_chunked

    cams = quad_views([(0.5, 0.5, 2.0), (0.7, 0.4, 2.2), (0.3, 0.6, 1.8), (0.5, 0.5, -2.0)])
    out = render_mesh(QUAD_V, QUAD_F, cams, soft_mask=False)
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(len(cams), 32, 32, 3, dtype=torch.float64, generator=gen)
    masks = torch.ones(len(cams), 32, 32, dtype=torch.float64)
    views = (cams, images, masks, out.depth, out.hard_mask.double())
    tex, vis = extract_texture(QUAD_V, QUAD_F, QUAD_UV, QUAD_F, QUAD_N, *views, (16, 16), radius=0.7)
    passes = []

    def chunks():   # two views, then one, then one
        passes.append(1)
        for s, e in ((0, 2), (2, 3), (3, 4)):
            yield tuple(v[s:e] if not isinstance(v, Cameras) else v[torch.arange(s, e)] for v in views)

    tex_c, vis_c = extract_texture_chunked(QUAD_V, QUAD_F, QUAD_UV, QUAD_F, QUAD_N, chunks, (16, 16), radius=0.7)
    assert torch.equal(tex, tex_c) and torch.equal(vis, vis_c) and len(passes) == 1
    assert float(vis.max()) == 1.0 and float(tex.std()) > 0.01
