"""Per-view pseudo-ground-truth textures: the file format, and building them from a multi-view result."""

from __future__ import annotations

import json

import numpy as np
import pytest

from texforge.runtime.errors import InputError
from texforge.texture.pseudo_gt import FILE_NAME, load_pseudo_gt, save_pseudo_gt


def test_pseudo_gt_file_round_trips_in_the_shared_format(tmp_path):
    from safetensors import safe_open

    rng = np.random.default_rng(0)
    tex = rng.random((3, 8, 16, 3)).astype(np.float32)
    vis = (rng.random((3, 8, 16)) > 0.5).astype(np.float32)
    path = save_pseudo_gt(tmp_path, tex, vis, ["a", "b", "c"], (16, 8))
    assert path == tmp_path / FILE_NAME
    assert [p.name for p in tmp_path.iterdir()] == [FILE_NAME]          # no temporary left behind
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        assert str(f.get_tensor("textures").dtype) == "torch.float16"
        assert tuple(f.get_tensor("visibility").shape) == (3, 8, 16)
    assert meta["format"] == "texforge-pseudo-gt" and meta["version"] == "1"
    assert json.loads(meta["names"]) == ["a", "b", "c"] and meta["texture_size"] == "16,8"
    t2, v2, names, meta2 = load_pseudo_gt(tmp_path)
    assert t2.dtype == np.float32 and names == ["a", "b", "c"] and meta2["texture_size"] == (16, 8)
    assert np.abs(t2 - tex).max() < 1e-3 and np.array_equal(v2, vis)


def test_pseudo_gt_bad_files_name_the_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_pseudo_gt(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00garbage not safetensors")
    with pytest.raises(InputError, match="junk.safetensors.*corrupt"):
        load_pseudo_gt(junk)
    from safetensors.torch import save_file
    import torch

    other = tmp_path / "other.safetensors"
    save_file({"textures": torch.zeros(1, 2, 2, 3)}, str(other), metadata={"format": "something-else"})
    with pytest.raises(InputError, match="other.safetensors is not a texforge pseudo-ground-truth"):
        load_pseudo_gt(other)
    with pytest.raises(ValueError):
        save_pseudo_gt(tmp_path / "x.safetensors", np.zeros((2, 4, 4, 3)), np.zeros((2, 4, 4)), ["only one"])
    assert not (tmp_path / "x.safetensors").exists()


MAGENTA = (1.0, 0.0, 1.0)


def sphere_scene(size=64, views=((0, 20), (90, 20), (180, 20), (270, 20)), inflate=1.04):
    """Photos of a unit sphere with a green-ish texture over a magenta background, photo masks dilated
    3 px into the background, and a 'fitted' mesh 4 % too large (a realistic fit error)."""
    import torch
    import torch.nn.functional as F

    from texforge.geometry.layouts import cameras_for
    from texforge.mesh.template import uv_sphere
    from texforge.render.camera import Cameras
    from texforge.render.renderer import render_mesh

    m = uv_sphere(32, 16)
    verts, faces = torch.tensor(m.vertices, dtype=torch.float64), torch.tensor(m.faces)
    uv, fuv = torch.tensor(m.uvs, dtype=torch.float64), torch.tensor(m.face_uvs)
    R, t = cameras_for(list(views), np.zeros(3), 4.0)
    K = np.array([[70.0, 0, size / 2], [0, 70.0, size / 2], [0, 0, 1]])
    cams = Cameras(torch.tensor(np.repeat(K[None], len(views), 0)), torch.tensor(R), torch.tensor(t), size, size)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 64), indexing="ij")
    tex = torch.stack([0.1 + 0.2 * xx, 0.4 + 0.5 * yy, 0.1 + 0.2 * (1 - xx)], 0)[None].double()
    photo = render_mesh(verts, faces, cams, uv, fuv, tex, soft_mask=False,
                        background=torch.tensor(MAGENTA, dtype=torch.float64))
    masks = F.max_pool2d(photo.hard_mask.double().unsqueeze(1), 7, 1, 3).squeeze(1)
    fit = verts * inflate
    fitted = render_mesh(fit, faces, cams, soft_mask=False)
    return dict(vertices=fit, faces=faces, uvs=uv, face_uvs=fuv, normals=F.normalize(fit, dim=-1), cameras=cams,
                images=photo.rgb[..., :3], depths=fitted.depth, silhouettes=fitted.hard_mask.double(),
                size=(64, 128), radius=inflate), masks


def magenta_fraction(textures, visibility, within=0.5):
    """Fraction of visible texels within ``within`` (RGB distance) of the background colour."""
    d = np.linalg.norm(np.asarray(textures) - np.array(MAGENTA), axis=-1)
    seen = np.asarray(visibility) > 0
    return float((d[seen] < within).mean()), int(seen.sum())


def test_mesh_silhouette_keeps_background_out_of_pseudo_gt_where_photo_masks_leak_it():
    from texforge.texture.pseudo_gt import build_pseudo_gt

    scene, photo_masks = sphere_scene()
    tex, vis = build_pseudo_gt(**scene)
    assert tex.shape == (4, 64, 128, 3) and vis.shape == (4, 64, 128)
    leak, seen = magenta_fraction(tex.numpy(), vis.numpy())
    assert seen > 2000 and leak == 0.0
    assert np.linalg.norm(tex.numpy() - np.array(MAGENTA), axis=-1)[vis.numpy() > 0].min() > 1.0
    # the photo-mask variant (dilated masks, no erosion, no grazing cut) lets the background in
    tex_p, vis_p = build_pseudo_gt(**scene, masks=photo_masks, mask_source="photo")
    leak_p, _ = magenta_fraction(tex_p.numpy(), vis_p.numpy())
    assert leak_p > 0.05
    # the photo masks added to the mesh silhouette only ever remove texels
    tex_b, vis_b = build_pseudo_gt(**scene, masks=photo_masks, mask_source="mesh+photo")
    assert magenta_fraction(tex_b.numpy(), vis_b.numpy())[0] == 0.0 and bool((vis_b <= vis).all())


def test_pseudo_gt_visibility_is_zero_for_texels_facing_away_from_the_view():
    import torch.nn.functional as F

    from texforge.texture import uv_rasterize
    from texforge.texture.pseudo_gt import build_pseudo_gt

    scene, _ = sphere_scene()
    _, vis = build_pseudo_gt(**scene, min_cos=0.25)
    pts, nrm, covered = uv_rasterize(scene["vertices"], scene["faces"], scene["uvs"], scene["face_uvs"],
                                     scene["normals"], scene["size"])
    for i, centre in enumerate(scene["cameras"].centers):
        cos = (nrm * F.normalize(centre - pts, dim=-1)).sum(-1)
        assert float(vis[i][covered & (cos < 0.25)].abs().max()) == 0.0      # back-facing and grazing
        assert float(vis[i][covered & (cos > 0.8)].mean()) > 0.5              # facing the camera: seen
        assert float(vis[i][~covered].abs().max()) == 0.0
    # the views look from four sides: each sees a different part of the UV map
    assert float((vis[0] * vis[2]).max()) == 0.0


def test_result_folder_holds_pseudo_gt_of_the_kept_views_only(tmp_path):
    import math

    from ball_scene import ball_photo, c2w_looking_at_origin, quick_config, write_ball_dataset
    from texforge.data.transforms_io import load_dataset
    from texforge.pipelines.multiview import run_multiview
    from texforge.pipelines.multiview.result_io import write_result

    # a photo whose ball sits far off-centre: the fit cannot explain its silhouette, so the run prunes it
    stray = np.roll(ball_photo(7), (14, 14), axis=(0, 1))
    ds = load_dataset(write_ball_dataset(tmp_path / "ds", extra={"stray.png": (stray, c2w_looking_at_origin(
        2 * math.pi * 7.5 / 24, 0.0))}))
    cfg = quick_config()
    cfg.prune = True
    # the views' different colours are this test's signal, which exposure gains would take out
    cfg.exposure_balance = False
    result = run_multiview(ds, cfg)
    pruned = {p["name"] for p in result.pruned}
    assert "stray.png" in pruned
    write_result(result, tmp_path / "res")
    tex, vis, names, meta = load_pseudo_gt(tmp_path / "res")
    assert names == [n for n in result.names if n not in pruned] and "stray.png" not in names
    h, w = cfg.texture_size
    assert tex.shape == (len(names), h, w, 3) and meta["texture_size"] == (w, h)
    seen = vis > 0
    assert seen.any(axis=(1, 2)).all()                                   # every kept view sees something
    assert seen.mean() < 0.6                                             # ... but none sees all of it
    # the ball's colour changes around the ring: a view's pseudo-GT carries its own photo's colour
    k = names.index("good_00.png")
    assert abs(float(tex[k][seen[k]][:, 0].mean()) - 237 / 255) < 0.1

    # scripts/pseudo_gt_leak.py's figures on this result: photos on magenta, masks as given and dilated
    from texforge.eval.pseudo_gt_leak import background_leak
    rows = {(r["mask_source"], r["dilate_px"]): r for r in background_leak(tmp_path / "res", tmp_path / "ds")}
    assert rows[("mesh+photo", 0)]["leak_pct"] == 0.0 and rows[("mesh+photo", 0)]["visible_texels"] > 1000
    assert set(rows) == {(m, px) for m in ("photo", "mesh", "mesh+photo") for px in (0, 2)}

    cfg.save_pseudo_gt = False
    again = run_multiview(ds, cfg)
    write_result(again, tmp_path / "res2")
    assert not (tmp_path / "res2" / FILE_NAME).exists()
