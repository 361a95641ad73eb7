"""Category 3D GAN (issue 11; seed 002 eqs. 1-3): network shapes under every switch, exact x = 0 symmetry,
bit-for-bit resume, that a short training on synthetic maps moves the samples toward the data, object
generation (valid meshes, UVs, textures, interpolation end points, files) and clear errors for corrupt or
foreign model files. Synthetic maps in the MODEL/maps.safetensors format are made here."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from texforge.mesh.io import load_mesh
from texforge.nets.category_gan import CategoryGenerator, ImageDiscriminator, UVDiscriminator, symmetrize
from texforge.models.category_config import CategoryGanConfig
from texforge.models.category_model import GAN_FILE, load_generator, load_maps, save_maps
from texforge.pipelines.category.gan import (TemplateRenderer, map_statistics, run_train_category_gan, synthetic_maps,
                                             train_category_gan_folder)
from texforge.pipelines.category.generate import (evaluate_category_gan, generate_objects, mean_texture,
                                                  render_turntables, write_objects)
from texforge.runtime.errors import Cancelled, InputError
from texforge.training import CheckpointError, save_checkpoint
from texforge.data.collection import CameraDistribution


# ---------------------------------------------------------------------------------------------- networks

@pytest.mark.parametrize("attention", ["none", "position", "self"])
@pytest.mark.parametrize("symmetry", ["none", "x"])
def test_generator_shapes_and_sphere_start(attention, symmetry):
    torch.manual_seed(0)
    g = CategoryGenerator((32, 64), (32, 32), latent=16, channels=32, texture_upsamplings=3, min_channels=8,
                          attention=attention, symmetry=symmetry, qk_channels=8, heads=2)
    tex, d = g(torch.randn(3, 16))
    assert tex.shape == (3, 3, 32, 64) and d.shape == (3, 3, 32, 32)
    t = tex.detach()
    assert float(t.min()) >= 0 and float(t.max()) <= 1 and float(t.std()) > 1e-3
    assert float(d.detach().abs().max()) == 0.0  # the template sphere before training
    (tex.mean() + d.mean()).backward()
    assert g.fc.weight.grad is not None and float(g.fc.weight.grad.abs().sum()) > 0


@pytest.mark.parametrize("embedding", ["none", "fixed", "learned"])
def test_discriminator_shapes(embedding):
    d_uv = UVDiscriminator((32, 64), receptive_field=4.0, embedding=embedding, embedding_channels=4, channels=8,
                           max_channels=16)
    out = d_uv(torch.rand(2, 3, 32, 64), torch.randn(2, 3, 32, 32), torch.ones(2, 1, 32, 64))
    assert [tuple(o.shape) for o in out] == [(2, 1, 16, 32), (2, 1, 8, 16)]
    d_img = ImageDiscriminator(10.0, channels=8, max_channels=16)
    assert d_img(torch.rand(2, 3, 32, 32), torch.rand(2, 1, 32, 32)).shape[:2] == (2, 1)


def test_x_symmetry_mirrors_the_mesh_about_x0():
    torch.manual_seed(1)
    tex, d = symmetrize(torch.rand(1, 3, 32, 64), 0.2 * torch.randn(1, 3, 32, 32))
    verts = TemplateRenderer(CameraDistribution(), 8).meshes(d)[0]
    mirrored = verts * torch.tensor([-1.0, 1.0, 1.0])
    gap = torch.cdist(mirrored, verts, compute_mode="donot_use_mm_for_euclid_dist").min(1).values
    assert float(gap.max()) < 1e-5            # every vertex's mirror image is a vertex
    assert float((verts[:, 0]).abs().max()) > 0.5   # and the shape is not degenerate
    texm, dm = symmetrize(tex, d)              # symmetric maps are fixed points
    assert torch.allclose(texm, tex, atol=1e-6) and torch.allclose(dm, d, atol=1e-6)


# ---------------------------------------------------------------------------------------------- training

def _tiny(**kw):
    return CategoryGanConfig.preset("tiny", **kw)


def test_resume_equals_uninterrupted_run(tmp_path):
    maps = synthetic_maps(6, (32, 64), seed=3)
    cfg = _tiny(iterations=8, sample_every=0, checkpoint_every=0, log_every=2)
    full = run_train_category_gan(maps, None, cfg, checkpoint=tmp_path / "full.safetensors")

    calls = {"n": 0}

    def stop_after_5():
        calls["n"] += 1
        return calls["n"] > 5

    ckpt = tmp_path / "split.safetensors"
    with pytest.raises(Cancelled):
        run_train_category_gan(maps, None, cfg, should_stop=stop_after_5, checkpoint=ckpt)
    resumed = run_train_category_gan(maps, None, cfg, checkpoint=ckpt, resume=True)
    a, b = full.generator.state_dict(), resumed.generator.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.log == full.log and resumed.iterations == 8
    from safetensors.torch import load_file
    fa, fb = load_file(str(tmp_path / "full.safetensors")), load_file(str(ckpt))
    assert set(fa) == set(fb) and all(torch.equal(fa[k], fb[k]) for k in fa if not k.startswith("rng."))
    with pytest.raises(CheckpointError, match="another configuration"):
        run_train_category_gan(maps, None, _tiny(iterations=8, channels=16), checkpoint=ckpt, resume=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny GAN trained on 16 synthetic objects through the training-folder entry point."""
    root = tmp_path_factory.mktemp("catgan")
    maps = synthetic_maps(16, (32, 64), seed=0)
    save_maps(root / "maps.safetensors", maps["deformation"], maps["texture"], maps["visibility"],
              maps["object_ids"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # the same float sums on every machine: the thresholds below hold for this run
    try:
        out = train_category_gan_folder(root / "maps.safetensors", root / "gan", preset="tiny", log=lambda m: None)
    finally:
        torch.set_num_threads(threads)
    return root, out, maps


def _colour_gap(stats, data):
    return float(np.abs(np.array(stats["mean_colour"]) - np.array(data["mean_colour"])).mean())


def test_training_moves_samples_toward_the_data(trained):
    root, out, maps = trained
    info = json.loads((out / "gan.json").read_text())
    data, samples = info["figures"]["data"], info["figures"]["samples"]
    cfg = CategoryGanConfig.from_dict(info["config"])
    torch.manual_seed(cfg.seed)
    untrained = CategoryGenerator(cfg.texture_size, cfg.deformation_size, latent=cfg.latent, channels=cfg.channels,
                                  texture_upsamplings=cfg.texture_upsamplings, min_channels=cfg.min_channels,
                                  attention=cfg.attention, qk_channels=cfg.qk_channels, heads=cfg.heads).eval()
    with torch.no_grad():
        before = map_statistics(*untrained(torch.randn(64, cfg.latent)))
    # the synthetic vases are slimmer than the sphere (mean vertex radius ~0.8) and warmer in colour
    assert abs(samples["mean_radius"] - data["mean_radius"]) < 0.5 * abs(before["mean_radius"] - data["mean_radius"])
    assert _colour_gap(samples, data) < 0.7 * _colour_gap(before, data)
    assert samples["radius_spread_within"] > 0.05  # shapes, not the sphere
    log = json.loads((out / "log.json").read_text())
    assert log[-1]["iteration"] == cfg.iterations and {"d_uv", "d_image", "g_uv", "g_image"} <= set(log[-1])
    assert sorted(p.name for p in (out / "samples").iterdir())[-1] == f"iteration_{cfg.iterations:06d}.png"


def test_generate_objects_meshes_and_interpolation(trained, tmp_path):
    _, out, _ = trained
    meshes = generate_objects(out, count=3, seed=5)
    assert len(meshes) == 3
    for m in meshes:
        assert m.vertices.shape == (482, 3) and m.faces.shape == (960, 3) and np.isfinite(m.vertices).all()
        assert m.uvs.min() >= 0 and m.uvs.max() <= 1 and m.face_uvs.max() < len(m.uvs)
        assert m.texture.shape == (32, 64, 3) and 0 <= m.texture.min() and m.texture.max() <= 1
    assert not np.array_equal(meshes[0].vertices, meshes[1].vertices)
    again = generate_objects(out / GAN_FILE, seeds=[6])[0]
    assert np.array_equal(again.vertices, meshes[1].vertices) and np.array_equal(again.texture, meshes[1].texture)

    path = generate_objects(out, interpolate=(5, 7, 4))
    ends = generate_objects(out, seeds=[5, 7])
    assert len(path) == 4
    for got, want in ((path[0], ends[0]), (path[-1], ends[1])):
        assert np.array_equal(got.vertices, want.vertices) and np.array_equal(got.texture, want.texture)
    assert not np.array_equal(path[1].vertices, path[0].vertices)

    written = write_objects(path[:2], ["a", "b"], tmp_path / "objs", "glb")
    back = load_mesh(written / "a.glb")
    assert back.faces.shape[0] == 960 and back.texture is not None and back.uvs.min() >= -1e-6


def test_generate_objects_script(trained, tmp_path):
    import scripts.generate_objects as script  # noqa: PLC0415 - the thin script as users run it

    _, out, _ = trained
    assert script.main([str(out), "--out", str(tmp_path / "g"), "--interpolate", "1,2", "--steps", "3",
                        "--format", "obj"]) == 0
    names = sorted(p.name for p in (tmp_path / "g").iterdir())
    assert names == [f"interp_1_2_{i:03d}" for i in range(3)]
    assert (tmp_path / "g" / names[0] / f"{names[0]}.obj").is_file()
    assert script.main([str(out), "--out", str(tmp_path / "g")]) == 2          # not empty: refused
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint at all")
    assert script.main([str(bad), "--out", str(tmp_path / "h")]) == 2
    assert not (tmp_path / "h").exists()


def test_corrupt_and_foreign_gan_files(trained, tmp_path):
    _, out, _ = trained
    bad = tmp_path / "gan.safetensors"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(InputError, match="corrupt"):
        load_generator(bad)
    with pytest.raises(InputError, match="not found"):
        load_generator(tmp_path / "missing")
    other = tmp_path / "other.safetensors"
    save_checkpoint(other, {"generator": nn.Linear(2, 2)}, step=0, config={"texture_size": [8, 8]})
    with pytest.raises(InputError, match="not a category GAN"):
        load_generator(other)
    # a category GAN file whose tensors do not fit the layout its configuration claims
    g, cfg, path = load_generator(out)
    lie = tmp_path / "lie.safetensors"
    save_checkpoint(lie, {"generator": g}, step=0, config=dict(cfg.to_dict(), channels=cfg.channels * 2),
                    extra={"kind": "texforge-category-gan"})
    with pytest.raises(CheckpointError, match="lie.safetensors"):
        load_generator(lie)


def test_maps_file_errors(tmp_path):
    with pytest.raises(InputError, match="no maps file"):
        load_maps(tmp_path)
    (tmp_path / "maps.safetensors").write_bytes(b"junk")
    with pytest.raises(InputError, match="corrupt"):
        load_maps(tmp_path)
    m = synthetic_maps(3, (16, 32), seed=0)
    with pytest.raises(ValueError, match="do not fit"):
        save_maps(tmp_path / "odd.safetensors", m["deformation"], m["texture"], m["visibility"][:, :, :8], m["object_ids"])
    from safetensors.torch import save
    odd = {"deformation": torch.as_tensor(m["deformation"]).float().contiguous(), "texture": torch.as_tensor(m["texture"]).float().contiguous(),
           "visibility": torch.as_tensor(m["visibility"][:, :, :8]).float().contiguous()}
    (tmp_path / "odd.safetensors").write_bytes(save(odd, metadata={"object_ids": json.dumps(m["object_ids"]),
                                                                   "texture_size": json.dumps([16, 32]),
                                                                   "symmetric": "false"}))
    with pytest.raises(InputError, match="inconsistent"):
        load_maps(tmp_path / "odd.safetensors")
    save_maps(tmp_path / "ok.safetensors", m["deformation"], m["texture"], m["visibility"], m["object_ids"], True)
    back = load_maps(tmp_path / "ok.safetensors")
    assert back["object_ids"] == m["object_ids"] and back["symmetric"] is True
    assert torch.equal(back["texture"], m["texture"])


def test_kid_evaluation_on_effnet_features(trained):
    _, out, maps = trained
    g, cfg, _ = load_generator(out)
    renderer = TemplateRenderer(CameraDistribution(), cfg.image_size)
    held = synthetic_maps(4, cfg.texture_size, seed=99)
    heldout = render_turntables(held["texture"], held["deformation"], renderer, azimuths=6, seed=5)
    res = evaluate_category_gan(out, heldout, mean_texture_map=mean_texture(maps["texture"], maps["visibility"]),
                                samples=4, azimuths=6)
    assert set(res["kid"]) == {"gan_samples", "template_mean_texture"}
    assert all(np.isfinite(v[0]) for v in res["kid"].values())
    assert res["images"] == {"heldout": 24, "gan_samples": 24, "template_mean_texture": 6}
    assert "EffNet-Lite0" in res["extractor"]


def test_eval_script_and_contact_sheet(trained, tmp_path):
    import scripts.eval_category_gan as script  # noqa: PLC0415

    root, out, _ = trained
    assert script.main([str(out), "--maps", str(root / "maps.safetensors"), "--synthetic-heldout", "2",
                        "--samples", "2", "--azimuths", "3", "--sheet", str(tmp_path / "sheet.png"),
                        "--json", str(tmp_path / "kid.json")]) == 0
    res = json.loads((tmp_path / "kid.json").read_text())
    assert res["images"] == {"heldout": 6, "gan_samples": 6, "template_mean_texture": 3, "pseudo_gt_maps": 6}
    from texforge.data.images import read_image
    sheet = read_image(tmp_path / "sheet.png")
    assert sheet.shape[:2] == (4 * 130 - 2, 4 * 258 - 2)
    assert float(sheet[..., :3].max()) > 0.2  # objects, not an empty sheet
    assert script.main([str(root / "maps.safetensors"), "--maps", str(root), "--synthetic-heldout", "2"]) == 2


def _write_collection(root, maps, views=3, size=32):
    """A collection folder whose objects are the synthetic maps rendered by the library's renderer."""
    from texforge.data.collection import Collection, write_collection_header
    from texforge.data.images import write_png
    from texforge.data.transforms_io import write_transforms

    ids = maps["object_ids"]
    coll = Collection(root=root, train=ids[:-1], heldout=ids[-1:], views=views, size=(size, size))
    renderer = TemplateRenderer(coll.cameras, size)
    rng = np.random.default_rng(0)
    for i, object_id in enumerate(ids):
        K, R, t, _ = coll.cameras.sample(views, rng, size, size)
        from texforge.render.camera import cameras_from_arrays
        rgb, sil = renderer.render(maps["texture"][i:i + 1].expand(views, -1, -1, -1),
                                   maps["deformation"][i:i + 1].expand(views, -1, -1, -1),
                                   cameras_from_arrays(K, R, t, size, size))
        d = coll.object_dir(object_id)
        (d / "images").mkdir(parents=True)
        names = []
        for v in range(views):
            names.append(f"images/{v:03d}.png")
            rgba = torch.cat([rgb[v], (sil[v] > 0.5).float()]).permute(1, 2, 0).detach().numpy()
            write_png(d / names[-1], rgba)
        write_transforms(d, K, R, t, size, size, names)
    write_collection_header(coll)
    return coll


def test_training_with_a_collection_uses_its_images(tmp_path):
    maps = synthetic_maps(4, (32, 64), seed=2)
    save_maps(tmp_path / "maps.safetensors", maps["deformation"], maps["texture"], maps["visibility"],
              maps["object_ids"])
    _write_collection(tmp_path / "coll", maps)
    lines = []
    out = train_category_gan_folder(tmp_path / "maps.safetensors", tmp_path / "gan", collection=tmp_path / "coll",
                                    preset="tiny", iterations=3, log=lines.append)
    info = json.loads((out / "gan.json").read_text())
    assert info["real_images"] == "collection images" and info["iterations"] == 3
    assert any("9 real images of 3 training objects" in line for line in lines)
    with pytest.raises(InputError, match="not empty"):
        train_category_gan_folder(tmp_path / "maps.safetensors", out, preset="tiny", iterations=3, log=lines.append)
