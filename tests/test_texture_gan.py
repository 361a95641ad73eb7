"""Texture GAN (seed 000, stage 2): network shapes and switches, what the discriminator sees, bit-for-bit
resume, checkpoint errors, and that a tiny run's best texture fits the views better than their mean colour.
Synthetic pseudo-GT textures are made here (no photos, no Blender needed)."""

import numpy as np
import pytest
import torch

from texforge.nets.texture_gan import (PositionAttention, TextureDiscriminator, TextureGenerator,
                                       patch_receptive_field)
from texforge.pipelines.texture_gan import TextureGANConfig, run_texture_gan
from texforge.runtime.errors import Cancelled, InputError
from texforge.texture.pseudo_gt import save_pseudo_gt
from texforge.training import CheckpointError

MAGENTA = np.array([1.0, 0.0, 1.0], np.float32)


def synthetic_pseudo_gt(views=8, h=32, w=64, seed=0):
    """A two-colour object seen by views that each cover half of the texture's width, with a per-view
    lighting shift; unseen texels are saturated magenta (a leak is visible in any statistic)."""
    rng = np.random.default_rng(seed)
    base = np.zeros((h, w, 3), np.float32)
    base[:, : w // 2] = [0.8, 0.2, 0.1]
    base[:, w // 2:] = [0.1, 0.3, 0.9]
    base[h // 2:] *= 0.5
    tex = np.clip(base[None] + rng.uniform(-0.15, 0.15, (views, 1, 1, 3)).astype(np.float32), 0, 1)
    vis = np.zeros((views, h, w), np.float32)
    for v in range(views):
        vis[v][:, (np.arange(w) - int(v * w / views)) % w < w // 2] = 1.0
    vis[:, :2] = 0.0  # the poles: never seen
    tex[vis == 0] = MAGENTA
    return tex, vis


def tiny(**kw):
    return TextureGANConfig.preset("tiny", **kw)


# ---------------------------------------------------------------------------------------------- networks

@pytest.mark.parametrize("attention", ["none", "position", "self"])
def test_generator_shapes_and_attention_switch(attention):
    torch.manual_seed(0)
    g = TextureGenerator((16, 32), channels=32, upsamplings=2, min_channels=8, attention=attention,
                         qk_channels=8, heads=2)
    with torch.no_grad():
        out = g(torch.randn(3, 64))
    assert out.shape == (3, 3, 16, 32) and float(out.min()) >= 0 and float(out.max()) <= 1
    assert (g.attention is None) == (attention == "none")
    if attention == "position":  # the maps depend on positions only: one set for every sample
        assert g.attention.attention_maps().shape == (2, 8 * 16, 8 * 16)


def test_generator_width_symmetry_mirrors_the_half():
    g = TextureGenerator((16, 32), channels=32, upsamplings=2, min_channels=8, symmetry="width",
                         qk_channels=8, heads=2).eval()
    out = g(torch.randn(2, 64))
    assert out.shape == (2, 3, 16, 32)
    assert torch.equal(out, out.flip(-1))
    with pytest.raises(ValueError, match="divisible"):
        TextureGenerator((16, 30), upsamplings=2)


def test_small_and_full_presets_build_the_seed_sizes():
    from texforge.pipelines.texture_gan.pipeline import build_networks

    g, d = build_networks(TextureGANConfig.preset("small"))
    assert (g.h0, g.w0) == (4, 8) and g.out_size == (64, 128)     # 4 x 8 -> 64 x 128, channels / 8
    full = TextureGANConfig.preset("full")
    assert full.texture_size == (256, 512) and full.upsamplings == 6 and full.channels == 512


def test_position_attention_is_residual_on_the_features():
    att = PositionAttention(16, 4, 8, "position", qk_channels=8, heads=2)
    torch.nn.init.zeros_(att.norm.weight)  # BN scale 0: the attention branch adds nothing
    x = torch.randn(2, 16, 4, 8)
    assert torch.allclose(att(x), x)


@pytest.mark.parametrize("embedding", ["none", "fixed", "learned"])
def test_discriminator_two_scales_embedding_switch_and_receptive_field(embedding):
    torch.manual_seed(0)
    d = TextureDiscriminator((32, 64), receptive_field=8, embedding=embedding, embedding_channels=4,
                             channels=8, max_channels=16)
    outs = d(torch.rand(2, 3, 32, 64), torch.ones(2, 1, 32, 64))
    assert len(outs) == 2 and outs[0].shape == (2, 1, 16, 32) and outs[1].shape == (2, 1, 8, 16)
    assert d.receptive_fields == (patch_receptive_field(1), 2 * patch_receptive_field(1)) == (8, 16)
    n_params = sum(p.numel() for p in d.parameters())
    emb_params = sum(p.numel() for p in getattr(d, "embeddings", []))
    assert (emb_params > 0) == (embedding == "learned") and n_params > emb_params
    # measured receptive field: the input texels one full-scale logit depends on
    x = torch.rand(1, 3, 32, 64, requires_grad=True)
    d(x, torch.ones(1, 1, 32, 64))[0][0, 0, 8, 16].backward()
    rows = torch.nonzero(x.grad.abs().sum((0, 1, 3)))
    cols = torch.nonzero(x.grad.abs().sum((0, 1, 2)))
    assert int(rows.max() - rows.min()) + 1 == 8 and int(cols.max() - cols.min()) + 1 == 8


def test_fixed_embedding_tells_positions_apart():
    d = TextureDiscriminator((16, 32), embedding="fixed", embedding_channels=8)
    emb = d._embedding(0)[0].reshape(8, -1).T  # (texels, channels)
    assert torch.unique(emb, dim=0).shape[0] == 16 * 32


# ---------------------------------------------------------------------------------------------- training

def test_invisible_texels_never_reach_the_discriminator():
    tex, vis = synthetic_pseudo_gt()
    seen = []

    def hook(module, args):
        seen.append((args[0].detach().clone(), args[1].detach().clone()))

    from texforge.nets import texture_gan as nets

    handle = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda m, a: hook(m, a) if isinstance(m, nets.TextureDiscriminator) else None)
    try:
        run_texture_gan((tex, vis), tiny(iterations=6, search_steps=0, search_candidates=2))
    finally:
        handle.remove()
    assert len(seen) >= 12
    for rgb, v in seen:
        hidden = (v == 0).expand_as(rgb)
        assert hidden.any()
        assert float(rgb[hidden].abs().max()) == 0.0  # exactly zero where unseen, real and fake alike
        magenta = (rgb[:, 0] > 0.9) & (rgb[:, 1] < 0.05) & (rgb[:, 2] > 0.9)
        assert not bool(magenta.any())


@pytest.mark.parametrize("switches", [dict(loss="lsgan", attention="self", embedding="fixed"),
                                      dict(attention="none", embedding="none", symmetry="width", augment=False)])
def test_every_switch_trains(switches):
    tex, vis = synthetic_pseudo_gt()
    r = run_texture_gan((tex, vis), tiny(iterations=3, log_every=1, search_steps=1, search_candidates=2, **switches))
    assert len(r.log) == 3 and all(np.isfinite(e["d"]) and np.isfinite(e["g"]) for e in r.log)
    if switches.get("symmetry") == "width":
        assert np.array_equal(r.best_texture, r.best_texture[:, ::-1])
    with pytest.raises(ValueError, match="loss"):
        run_texture_gan((tex, vis), tiny(loss="wgan"))


def _tensors(path):
    from safetensors.torch import load_file

    return load_file(str(path))


def test_resume_after_cancel_matches_an_uninterrupted_run(tmp_path):
    tex, vis = synthetic_pseudo_gt()
    cfg = tiny(iterations=12, checkpoint_every=5, search_steps=2, search_candidates=2)
    run_texture_gan((tex, vis), cfg, checkpoint=tmp_path / "a.safetensors")

    calls = {"n": 0}

    def stop_after_7():
        calls["n"] += 1
        return calls["n"] > 7

    with pytest.raises(Cancelled):
        run_texture_gan((tex, vis), cfg, should_stop=stop_after_7, checkpoint=tmp_path / "b.safetensors")
    from texforge.training.checkpoint import checkpoint_header

    assert checkpoint_header(tmp_path / "b.safetensors")["step"] == 7
    torch.manual_seed(123)  # the resumed run must not depend on the caller's RNG state
    r = run_texture_gan((tex, vis), cfg, checkpoint=tmp_path / "b.safetensors", resume=True)
    a, b = _tensors(tmp_path / "a.safetensors"), _tensors(tmp_path / "b.safetensors")
    assert sorted(a) == sorted(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert [e["iteration"] for e in r.log] == [5, 10, 12]


def test_corrupt_or_mismatched_checkpoint_is_a_clear_error(tmp_path):
    tex, vis = synthetic_pseudo_gt()
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="bad.safetensors.*corrupt"):
        run_texture_gan((tex, vis), tiny(iterations=2), checkpoint=bad, resume=True)
    good = tmp_path / "good.safetensors"
    run_texture_gan((tex, vis), tiny(iterations=2, search_steps=0, search_candidates=2), checkpoint=good)
    before = good.read_bytes()
    with pytest.raises(CheckpointError, match="attention: checkpoint 'position', this run 'none'"):
        run_texture_gan((tex, vis), tiny(iterations=4, attention="none"), checkpoint=good, resume=True)
    assert good.read_bytes() == before
    with pytest.raises(CheckpointError, match="missing.safetensors not found"):
        run_texture_gan((tex, vis), tiny(), checkpoint=tmp_path / "missing.safetensors", resume=True)


def test_bad_pseudo_gt_is_an_input_error():
    tex, vis = synthetic_pseudo_gt(views=1)
    with pytest.raises(InputError, match="at least 2"):
        run_texture_gan((tex, vis), tiny())
    tex, vis = synthetic_pseudo_gt()
    with pytest.raises(InputError, match="no view sees"):
        run_texture_gan((tex, np.zeros_like(vis)), tiny())


def test_tiny_run_best_texture_fits_the_views_better_than_their_mean_colour(tmp_path):
    tex, vis = synthetic_pseudo_gt()
    path = save_pseudo_gt(tmp_path, tex, vis, [f"view_{i}" for i in range(len(tex))])
    from texforge.texture.pseudo_gt import load_pseudo_gt

    r = run_texture_gan(load_pseudo_gt(path), tiny(search_perceptual=0.05, search_steps=10))
    f = r.figures
    assert f["best_l1"] <= f["best_of_n_l1"] + 1e-6          # the search never returns worse than its start
    assert f["best_l1"] < 0.75 * f["mean_colour_l1"], f
    assert r.best_texture.shape == (16, 32, 3) and len(r.variations) == 2
    assert not np.allclose(r.variations[0], r.variations[1])
    # no magenta (the unseen colour) in anything generated
    for t in [r.best_texture, *r.variations]:
        assert float(np.mean((t[..., 0] > 0.8) & (t[..., 1] < 0.1) & (t[..., 2] > 0.8))) < 0.01
    assert len(r.samples) >= 1 and r.samples[-1][1].ndim == 3
    assert r.log[-1]["iteration"] == 150 and np.isfinite(r.log[-1]["d"])


# ---------------------------------------------------------------------------------------------- command line

def _result_folder(path):
    """A reconstruct.py-like result: mesh.glb (a UV sphere), texture.png and pseudo_gt.safetensors."""
    from texforge.data.images import write_png
    from texforge.mesh.io import write_glb
    from texforge.mesh.template import uv_sphere

    tex, vis = synthetic_pseudo_gt()
    path.mkdir()
    mesh = uv_sphere(16, 8)
    mesh.texture = np.full((32, 64, 3), 0.5, np.float32)
    write_glb(path / "mesh.glb", mesh)
    write_png(path / "texture.png", mesh.texture)
    save_pseudo_gt(path, tex, vis, [f"view_{i}" for i in range(len(tex))])
    return path


def _script(*args, **kw):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-u", str(root / "scripts" / "texture_gan.py"), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, **kw)


def test_cli_writes_textures_and_glbs_and_resumes_after_ctrl_c(tmp_path):
    import json
    import signal

    from texforge.mesh.io import load_mesh

    result = _result_folder(tmp_path / "result")
    out = tmp_path / "gan"
    proc = _script(result, "--out", out, "--preset", "tiny", "--iterations", "3000")
    lines = []
    for line in proc.stdout:  # interrupt once training runs
        lines.append(line)
        if "texture GAN: iteration" in line:
            break
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, "".join(lines) + rest
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "texture_gan.log"]  # nothing half-written

    proc = _script(result, "--out", out, "--preset", "tiny", "--iterations", "3000")  # not without --resume
    assert proc.wait(timeout=120) == 2 and "not empty" in proc.stdout.read()
    proc = _script(result, "--out", out, "--preset", "tiny", "--iterations", "160", "--resume", "--variations", "2")
    text, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, text
    assert "resumed at iteration" in text
    names = {p.name for p in out.iterdir()}
    assert {"best_texture.png", "variation_01.png", "variation_02.png", "best.glb", "variation_02.glb",
            "mean_texture.png", "losses.json", "texture_gan.json", "texture_gan.log", "checkpoints", "samples"} <= names
    summary = json.loads((out / "texture_gan.json").read_text())
    assert summary["iterations"] == 160 and summary["figures"]["projected_l1"] > 0
    glb = load_mesh(out / "best.glb")
    assert glb.texture.shape == (16, 32, 3) and float(np.abs(glb.texture - 0.5).max()) > 0.05


def test_cli_without_pseudo_gt_says_how_to_make_it(tmp_path):
    result = tmp_path / "result"
    result.mkdir()
    proc = _script(result, "--out", tmp_path / "gan", "--preset", "tiny")
    text, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "run reconstruct with pseudo-GT saving" in text
    assert not (tmp_path / "gan" / "best_texture.png").exists()


def test_ablation_prints_one_row_per_setup(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    result = _result_folder(tmp_path / "result")
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, str(root / "scripts" / "texture_gan_ablation.py"), str(result), "--out",
                        str(tmp_path / "abl"), "--preset", "tiny", "--seeds", "2", "--iterations", "4",
                        "--samples", "4"], capture_output=True, text=True, timeout=600,
                       env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    data = json.loads((tmp_path / "abl" / "ablation.json").read_text())
    assert [row["setup"] for row in data["rows"]] == ["baseline (ConvMesh)", "+ learned embedding",
                                                      "+ position attention"]
    assert all(len(row["runs"]) == 2 and np.isfinite(row["kid_mean"]) for row in data["rows"])
    assert "EffNet-Lite0" in data["extractor"] and "| + position attention |" in r.stdout


def test_contact_sheet_resamples_every_texture_to_one_size():
    from texforge.pipelines.texture_gan.figures import contact_sheet

    small, big = np.zeros((8, 16, 3), np.float32), np.full((64, 128, 3), 0.5, np.float32)
    sheet = contact_sheet([[big, small], [small] * 3], size=(8, 16), gap=2, scale=2)
    assert sheet.shape == (2 * (2 * 8 + 2), 2 * (3 * 16 + 4), 3)
    np.testing.assert_allclose(sheet[:16, :32], 0.5)          # the big one, area-resampled
    assert float(sheet[:16, 32:36].min()) == 1.0              # white gap
    np.testing.assert_allclose(sheet[20:36, 36:68], 0.0)
