"""texforge.render.camera and texforge.render.pose without Blender: transforms.json entries, resized
cameras and the rotation helpers (no bpy import here, so these never skip with Blender missing)."""

import math

import numpy as np
import torch

from texforge.render.camera import Cameras, c2w_gl_to_rt, transforms_frame_entry, transforms_intrinsics
from texforge.render.pose import axis_angle_to_matrix, rotation_6d_to_matrix, rotation_angle_deg


def test_transforms_frame_round_trip():
    rng = np.random.default_rng(3)
    R = axis_angle_to_matrix(torch.from_numpy(rng.normal(size=3))).numpy()
    t = rng.normal(size=3)
    K = np.array([[140.0, 0, 61.5], [0, 150.0, 70.25], [0, 0, 1]])
    entry = transforms_frame_entry(K, R, t, 128, 96)
    K2, w, h = transforms_intrinsics({}, entry)
    R2, t2 = c2w_gl_to_rt(entry["transform_matrix"])
    assert (w, h) == (128, 96)
    np.testing.assert_allclose(K2, K)
    np.testing.assert_allclose(R2, R, atol=1e-12)
    np.testing.assert_allclose(t2, t, atol=1e-12)
    # NeRF-synthetic form: camera_angle_x only
    K3, _, _ = transforms_intrinsics({"camera_angle_x": 2 * math.atan(0.5)}, {}, image_size=(100, 80))
    np.testing.assert_allclose(K3, [[100, 0, 50], [0, 100, 40], [0, 0, 1]])


def test_resized_cameras_project_to_scaled_pixels():
    K = torch.tensor([[[100.0, 0, 32], [0, 110, 30], [0, 0, 1]]])
    cams = Cameras(K, torch.eye(3)[None], torch.tensor([[0.1, -0.2, 3.0]]), 64, 60)
    pts = torch.tensor([[0.2, 0.1, 0.5], [-0.3, 0.2, 0.0]])
    big = cams.resized(128, 120)
    np.testing.assert_allclose(big.project(pts)[0].numpy(), 2 * cams.project(pts)[0].numpy(), rtol=1e-6)


def test_rotation_helpers():
    v = torch.tensor([[0.0, 0.0, 0.0], [0.3, -0.2, 0.1], [1e-9, 0, 0]], dtype=torch.float64, requires_grad=True)
    R = axis_angle_to_matrix(v)
    eye = torch.eye(3, dtype=torch.float64)
    assert torch.allclose(R @ R.transpose(1, 2), eye.expand(3, 3, 3), atol=1e-12)
    assert torch.allclose(R[0], eye) and torch.allclose(rotation_angle_deg(R[1], eye), torch.tensor(
        math.degrees(math.sqrt(0.14)), dtype=torch.float64))
    R.sum().backward()
    assert torch.isfinite(v.grad).all()  # smooth at zero
    d6 = torch.tensor([1.0, 0, 0, 0, 1, 0], dtype=torch.float64)
    assert torch.allclose(rotation_6d_to_matrix(d6), eye)
    R6 = rotation_6d_to_matrix(torch.randn(5, 6, dtype=torch.float64))
    assert torch.allclose(torch.linalg.det(R6), torch.ones(5, dtype=torch.float64))
