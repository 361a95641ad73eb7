"""Single-image GAN inversion (seed 002) against a known latent prior: the search finds the photo's
shape and texture, camera fine-tuning repairs a wrong camera, and bad photos fail clearly."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from texforge.data.collection import CameraDistribution
from texforge.mesh.model import DeformationMapModel
from texforge.mesh.template import convmesh_sphere
from texforge.metrics.image import hard_iou, psnr
from texforge.pipelines.inversion import SinglePhoto, preset, run_inversion
from texforge.pipelines.inversion.pipeline import _render
from texforge.render.camera import Cameras
from texforge.render.pose import axis_angle_to_matrix
from texforge.runtime.errors import Cancelled, InputError


class LinearPrior:
    """A stand-in category model: maps linear in z with smooth random bases (what a trained GAN's
    generator is locally), so the photo's own latent is known."""

    def __init__(self, latent_dim: int = 6, seed: int = 0, shape_scale: float = 0.12):
        t = convmesh_sphere()
        self.template = DeformationMapModel(*(torch.as_tensor(a) for a in (t.vertices, t.faces, t.uvs, t.face_uvs)))
        g = torch.Generator().manual_seed(seed)
        self.shape_basis = F.interpolate(torch.randn(latent_dim, 3, 3, 3, generator=g), size=(32, 32),
                                         mode="bilinear", align_corners=False) * shape_scale
        self.texture_basis = F.interpolate(torch.randn(latent_dim, 3, 4, 8, generator=g), size=(32, 64),
                                           mode="bilinear", align_corners=False) * 1.5
        self.latent_dim = latent_dim
        self.cameras = CameraDistribution(elevation_deg=(15.0, 25.0), distance=(3.0, 3.0))

    def maps(self, z):
        return (torch.einsum("bk,kchw->bchw", z, self.shape_basis),
                torch.sigmoid(torch.einsum("bk,kchw->bchw", z, self.texture_basis)))


def _photo(prior, z_true, azimuth=30.0, size=64):
    K = prior.cameras.intrinsics(size, size)
    R, t = prior.cameras.pose(azimuth, 20.0, 3.0)
    cams = Cameras(*(torch.as_tensor(a, dtype=torch.float32)[None] for a in (K, R, t)), size, size)
    with torch.no_grad():
        _, _, out = _render(prior, torch.as_tensor(z_true, dtype=torch.float32)[None], cams)
    return SinglePhoto(image=out.rgb[0].numpy(), mask=out.hard_mask[0].float().numpy(), name="target.png",
                       camera=(K, R, t))


def test_inversion_finds_the_photos_shape_and_texture():
    prior = LinearPrior()
    z_true = np.array([1.5, -1.2, 0.8, 1.0, -0.6, 1.3], np.float32)
    photo = _photo(prior, z_true)
    template = _photo(prior, np.zeros(6, np.float32))                 # the latent prior's mean: a grey sphere
    start_iou = hard_iou(torch.as_tensor(template.mask), torch.as_tensor(photo.mask)).item()
    start_psnr = psnr(template.image, photo.image, mask=photo.mask)
    result = run_inversion(photo, prior, preset("tiny", camera="fixed", steps=25))
    assert result.metrics["input_iou"] >= 0.93 > start_iou + 0.03
    assert result.metrics["input_psnr"] >= start_psnr + 2.0
    assert np.isfinite(result.mesh.vertices).all() and result.mesh.texture.shape == (32, 64, 3)


def test_camera_finetuning_repairs_a_wrong_camera():
    prior = LinearPrior(shape_scale=0.0)    # a rigid sphere: only the camera can move its silhouette
    z_true = np.array([1.0, -0.5, 0.5, 0.8, -0.4, 0.6], np.float32)
    photo = _photo(prior, z_true)
    K, R, t = photo.camera
    turn = axis_angle_to_matrix(torch.tensor([0.0, 0.07, 0.0], dtype=torch.float64)).numpy()   # 4 degrees
    centre = -R.T @ t
    wrong = SinglePhoto(photo.image, photo.mask, photo.name, (K, turn @ R, -(turn @ R) @ centre))  # turned in place
    fixed = run_inversion(wrong, prior, preset("tiny", camera="fixed", steps=20, seed=1))
    tuned = run_inversion(wrong, prior, preset("tiny", camera="finetune", steps=20, seed=1))
    assert tuned.metrics["input_iou"] > fixed.metrics["input_iou"] + 0.04


def test_no_camera_searches_the_categorys_views():
    prior = LinearPrior()
    photo = _photo(prior, np.array([1.0, -0.5, 0.5, 0.8, -0.4, 0.6], np.float32), azimuth=90.0)
    result = run_inversion(SinglePhoto(photo.image, photo.mask, photo.name), prior, preset("tiny", steps=15))
    assert result.metrics["input_iou"] >= 0.85


def test_bad_photos_fail_clearly_and_cancel_stops():
    prior = LinearPrior()
    photo = _photo(prior, np.zeros(6, np.float32))
    with pytest.raises(InputError, match="empty.png: no object found"):
        run_inversion(SinglePhoto(photo.image, np.zeros_like(photo.mask), "empty.png"), prior, preset("tiny"))
    bad = photo.image.copy()
    bad[3, 3, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        run_inversion(SinglePhoto(bad, photo.mask, "nan.png"), prior, preset("tiny"))
    with pytest.raises(InputError, match="RGB image"):
        run_inversion(SinglePhoto(photo.image[..., :2], photo.mask, "two.png"), prior, preset("tiny"))
    calls = []
    with pytest.raises(Cancelled):
        run_inversion(photo, prior, preset("tiny"), should_stop=lambda: calls.append(1) or len(calls) > 3)
    assert len(calls) == 4


def test_the_result_folder_holds_mesh_camera_and_photo(tmp_path):
    import json

    from texforge.data.transforms_io import read_frames
    from texforge.mesh.io import load_mesh
    from texforge.pipelines.inversion.result_io import write_result

    prior = LinearPrior()
    photo = _photo(prior, np.array([1.0, -0.5, 0.5, 0.8, -0.4, 0.6], np.float32))
    config = preset("tiny", steps=2)
    result = run_inversion(photo, prior, config)
    out = write_result(result, config, photo.image, tmp_path / "single", "target.png", {"name": "linear"})
    frames, _, _ = read_frames(out)
    assert len(frames) == 1 and np.allclose(frames[0].R, result.R, atol=1e-5)
    mesh = load_mesh(out / "mesh.glb")
    assert len(mesh.faces) == len(result.mesh.faces)
    record = json.loads((out / "result.json").read_text())
    assert record["pipeline"] == "single_image" and len(record["latent"]) == 6 and record["model"]["name"] == "linear"
