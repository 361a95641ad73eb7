"""texforge.cameras: numpy rotations on scipy, camera layouts and look-at poses, object placement from
silhouettes (with the real renderer's masks)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from texforge.geometry.layouts import (
    cameras_for,
    direction,
    holdout_layout,
    look_at,
    ring_layout,
    turntable_layout,
)
from texforge.cameras.placement import place_object
from texforge.cameras.rig import CameraRig
from texforge.geometry.rotations import axis_angle, matrix_to_rotvec, random_unit, rotvec_to_matrix
from texforge.render.camera import Cameras
from texforge.render.pose import axis_angle_to_matrix, rotation_angle_deg
from texforge.runtime.errors import InputError


def test_numpy_rotations_agree_with_the_differentiable_torch_ones():
    rng = np.random.default_rng(0)
    v = rng.uniform(-1.0, 1.0, size=(5, 3))  # angles below pi: the rotation vector is unique
    R = rotvec_to_matrix(v)
    assert np.allclose(R, axis_angle_to_matrix(torch.from_numpy(v)).numpy(), atol=1e-12)
    assert np.allclose(matrix_to_rotvec(R), v, atol=1e-10)
    axis = random_unit(rng)
    assert abs(np.linalg.norm(axis) - 1) < 1e-12
    assert np.allclose(axis_angle(3 * axis, 0.4), rotvec_to_matrix(0.4 * axis), atol=1e-15)
    assert np.allclose(axis_angle(axis, 0.4) @ axis, axis)
    turn = torch.from_numpy(axis_angle([0, 0, 2], math.radians(30)))
    assert float(rotation_angle_deg(turn, torch.eye(3, dtype=torch.float64))) == pytest.approx(30.0)


def test_look_at_points_the_optical_axis_at_the_target_with_image_y_down():
    eye, target = np.array([3.0, -2.0, 1.5]), np.array([0.2, 0.1, 0.3])
    R, t = look_at(eye, target)
    assert np.allclose(R @ R.T, np.eye(3)) and np.linalg.det(R) == pytest.approx(1.0)
    cam = R @ target + t
    assert np.allclose(cam[:2], 0.0, atol=1e-12) and cam[2] == pytest.approx(np.linalg.norm(target - eye))
    above = R @ (target + np.array([0, 0, 0.5])) + t
    assert above[1] < 0  # world up is image up (OpenCV y points down)
    with pytest.raises(ValueError, match="parallel"):
        look_at(np.array([0, 0, 5.0]), np.zeros(3))


def test_layouts():
    ring = ring_layout(24, (-10.0, 40.0))
    assert len(ring) == 24 and min(e for _, e in ring) == -10.0 and max(e for _, e in ring) == 40.0
    elevs = [e for _, e in ring]
    assert elevs == sorted(elevs)  # ring by ring, lowest first: an ordered turntable sequence
    held = holdout_layout(8, (-10.0, 40.0), ring)
    train_dirs = np.array([direction(*p) for p in ring])
    for p in held:
        closest = np.degrees(np.arccos(np.clip((train_dirs @ direction(*p)).max(), -1, 1)))
        assert closest > 3.0
    assert turntable_layout(4, (10.0, 30.0)) == [(0.0, 10.0), (90.0, 10.0), (180.0, 10.0), (270.0, 10.0),
                                                  (0.0, 30.0), (90.0, 30.0), (180.0, 30.0), (270.0, 30.0)]
    centre = np.array([0.1, -0.2, 0.3])
    R, t = cameras_for(ring, centre, 3.5)
    centres = -np.einsum("nji,nj->ni", R, t)
    assert np.allclose(np.linalg.norm(centres - centre, axis=1), 3.5)
    assert np.allclose(np.einsum("nij,j->ni", R, centre) + t, [[0, 0, 3.5]] * 24, atol=1e-12)


def rendered_sphere(centre, radius, eyes, size=64):
    from texforge.mesh.template import uv_sphere
    from texforge.render.renderer import render_mesh

    s = uv_sphere(32, 16)
    verts = torch.as_tensor(s.vertices * radius + centre, dtype=torch.float32)
    Rs, ts = zip(*[look_at(e, np.zeros(3)) for e in eyes])  # aimed at the origin, not at the sphere
    K = np.array([[70.0, 0, size / 2], [0, 70.0, size / 2], [0, 0, 1]])
    cams = Cameras(torch.tensor(np.repeat(K[None], len(eyes), 0), dtype=torch.float32),
                   torch.tensor(np.array(Rs), dtype=torch.float32), torch.tensor(np.array(ts), dtype=torch.float32),
                   size, size)
    masks = render_mesh(verts, torch.as_tensor(s.faces), cams, soft_mask=False).hard_mask.float()
    return cams, masks


def test_placement_finds_the_object_the_silhouettes_show():
    centre, radius = np.array([0.3, -0.2, 0.1]), 0.5
    eyes = [4.0 * direction(az, el) for az, el in ring_layout(8, (0.0, 30.0))]
    cams, masks = rendered_sphere(centre, radius, eyes)
    found, r = place_object(cams, masks, [f"v{i}" for i in range(8)])
    assert np.linalg.norm(found.numpy() - centre) < 0.03
    assert r == pytest.approx(radius, rel=0.1)


def test_placement_names_a_camera_that_faces_away():
    eyes = [4.0 * direction(az, 15.0) for az in (0, 90, 180, 270)]
    cams, masks = rendered_sphere(np.zeros(3), 0.5, eyes)
    R = cams.R.clone()
    R[2] = torch.diag(torch.tensor([-1.0, 1.0, -1.0])) @ R[2]  # turned 180 degrees about its image y axis
    turned = Cameras(cams.K, R, -(R @ cams.centers.unsqueeze(-1)).squeeze(-1), cams.width, cams.height)
    with pytest.raises(InputError, match="frame v2: the camera faces away"):
        place_object(turned, masks, [f"v{i}" for i in range(4)])


def test_the_robust_rig_prior_is_the_squared_one_for_small_corrections_and_bounds_the_pull_on_far_ones():
    R, t = cameras_for(ring_layout(6, (0.0, 30.0)), np.zeros(3), 3.5)
    K = np.repeat(np.array([[70.0, 0, 32], [0, 70.0, 32], [0, 0, 1]])[None], 6, 0)
    cams = Cameras(*(torch.tensor(a) for a in (K, R, t)), 64, 64)
    rig = CameraRig(cams, torch.zeros(3, dtype=torch.float64))
    with torch.no_grad():
        rig.rot.copy_(1e-3 * torch.randn(6, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
        rig.pos.copy_(-0.5 * rig.rot)
        squared, robust = rig.prior(2.0), rig.prior(2.0, scale=0.1)
    assert float(robust) == pytest.approx(float(squared), rel=1e-3)
    # a camera left 0.5 rad (29 degrees) off: the squared prior pulls it back with 2 r = 1.0 per unit
    # of mean weight, the robust one with at most 2 x scale
    with torch.no_grad():
        rig.rot[0] = torch.tensor([0.0, 0.0, 0.5], dtype=torch.float64)
    pull = {}
    for scale in (None, 0.1):
        rig.rot.grad = None
        (len(rig.rot) * rig.prior(scale=scale)).backward()
        pull[scale] = float(rig.rot.grad[0].norm())
    assert pull[None] == pytest.approx(1.0, rel=0.01)
    assert 0.18 < pull[0.1] < 0.2
