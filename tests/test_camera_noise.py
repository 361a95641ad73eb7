"""Camera noise models of the dataset renderer (render_dataset --noise-model): their statistics,
determinism by seed, and that the default "exact" model keeps its cameras."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("bpy")

from texforge_blender.dataset_render import DatasetSpec, noisy_cameras, parse_command  # noqa: E402
from texforge.render.pose import rotation_angle_deg  # noqa: E402

N = 4000


def _ring(n: int):
    """n cameras on a circle of radius 4 about the origin, looking at it (OpenCV world-to-camera)."""
    K = np.tile(np.array([[100.0, 0, 64], [0, 100.0, 64], [0, 0, 1]]), (n, 1, 1))
    R, t = np.zeros((n, 3, 3)), np.zeros((n, 3))
    for i, a in enumerate(np.linspace(0, 2 * np.pi, n, endpoint=False)):
        c = 4.0 * np.array([np.cos(a), np.sin(a), 0.0])
        z = -c / 4.0
        x = np.cross(z, [0, 0, 1.0])
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        R[i] = np.stack([x, y, z])
        t[i] = -R[i] @ c
    return K, R, t


def _errors(spec: DatasetSpec):
    K, R, t = _ring(N)
    Kn, Rn, tn, records = noisy_cameras(K, R, t, np.zeros(3), 4.0, spec)
    ang = rotation_angle_deg(torch.as_tensor(Rn), torch.as_tensor(R)).numpy()
    c = -np.einsum("nji,nj->ni", R, t)
    cn = -np.einsum("nji,nj->ni", Rn, tn)
    shift = (cn - c) / 4.0
    focal = Kn[:, 0, 0] / K[:, 0, 0] - 1.0
    return ang, shift, focal, records


def test_gaussian_noise_has_the_requested_sigmas():
    spec = DatasetSpec(noise_model="gaussian", noise_rot=3.0, noise_trans=0.03, noise_focal=0.02, seed=1)
    ang, shift, focal, records = _errors(spec)
    # the angle about a random axis is |N(0, 3 deg)|: its rms is sigma, its mean sigma * sqrt(2 / pi)
    assert abs(np.sqrt((ang ** 2).mean()) - 3.0) < 0.1
    assert abs(ang.mean() - 3.0 * np.sqrt(2 / np.pi)) < 0.1
    # the centre shift: sigma 3 % of the distance on each axis, independent and zero-mean
    assert np.all(np.abs(shift.std(0) - 0.03) < 0.0015)
    assert np.all(np.abs(shift.mean(0)) < 0.0015)
    assert abs(np.corrcoef(shift[:, 0], shift[:, 1])[0, 1]) < 0.06
    assert abs(focal.std() - 0.02) < 0.001 and abs(focal.mean()) < 0.001
    # recorded per frame: the drawn angle, shift and focal scale
    assert np.allclose([abs(r["rotation_deg"]) for r in records], ang, atol=1e-6)
    assert np.allclose([r["translation"] for r in records], shift * 4.0, atol=1e-9)


def test_student_noise_has_heavy_tails():
    gauss = _errors(DatasetSpec(noise_model="gaussian", noise_rot=3.0, noise_trans=0.03, seed=2))
    student = _errors(DatasetSpec(noise_model="student", noise_dof=3.0, noise_rot=3.0, noise_trans=0.03, seed=2))
    # same scale in the bulk (the medians of |t_3| and |N(0,1)| differ by ~0.765 / 0.674) ...
    ratio = np.median(student[0]) / np.median(gauss[0])
    assert 1.0 < ratio < 1.35
    # ... but far more large errors: P(|t_3| > 4) ~ 2.8 %, P(|N| > 4) ~ 6e-5
    assert (student[0] > 12.0).mean() > 0.015 and (gauss[0] > 12.0).mean() < 0.002
    assert (np.abs(student[1]) > 0.12).mean() > 0.015
    # capped: a camera never lands near the object
    assert np.linalg.norm(student[1], axis=1).max() <= 0.8 + 1e-9


def test_same_seed_same_noise_and_exact_model_unchanged():
    a = _errors(DatasetSpec(noise_model="gaussian", noise_rot=3.0, noise_trans=0.03, seed=5))
    b = _errors(DatasetSpec(noise_model="gaussian", noise_rot=3.0, noise_trans=0.03, seed=5))
    c = _errors(DatasetSpec(noise_model="gaussian", noise_rot=3.0, noise_trans=0.03, seed=6))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.allclose(a[0], c[0])
    # "exact": every camera off by exactly the settings, as before the noise models existed
    ang, shift, focal, _ = _errors(DatasetSpec(noise_rot=3.0, noise_trans=0.03, noise_focal=0.02, seed=5))
    assert np.allclose(ang, 3.0, atol=1e-6) and np.allclose(np.linalg.norm(shift, axis=1), 0.03)
    assert np.allclose(np.abs(focal), 0.02)
    # the exact model's directions do not depend on the magnitudes' stream: same axes as the gaussian
    K, R, t = _ring(8)
    _, _, _, rec_exact = noisy_cameras(K, R, t, np.zeros(3), 4.0, DatasetSpec(noise_rot=3.0, seed=5))
    _, _, _, rec_gauss = noisy_cameras(K, R, t, np.zeros(3), 4.0,
                                       DatasetSpec(noise_model="gaussian", noise_rot=3.0, seed=5))
    assert all(np.allclose(x["rotation_axis_camera"], y["rotation_axis_camera"]) for x, y in zip(rec_exact, rec_gauss))


def test_command_line_options_and_bad_values():
    _, spec = parse_command(["m.obj", "--out", "o", "--noise-model", "student", "--noise-dof", "2.5",
                             "--noise-rot", "3"])
    assert spec.noise_model == "student" and spec.noise_dof == 2.5
    with pytest.raises(ValueError, match="--noise-dof"):
        parse_command(["m.obj", "--out", "o", "--noise-model", "student", "--noise-dof", "0"])
    with pytest.raises(SystemExit):
        parse_command(["m.obj", "--out", "o", "--noise-model", "laplace"])
