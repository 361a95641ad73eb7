"""The Blender <-> K, R, t camera conversion, checked against Blender itself (world_to_camera_view).

The torch-only camera tests live in test_render_camera.py, so they run (and fail) without bpy."""

import math

import numpy as np
import pytest
import torch

bpy = pytest.importorskip("bpy")
from bpy_extras.object_utils import world_to_camera_view  # noqa: E402
from mathutils import Vector  # noqa: E402

from texforge_blender import camera as blender_camera  # noqa: E402
from texforge.render.camera import cameras_from_blender  # noqa: E402


@pytest.fixture
def scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    sc = bpy.context.scene
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    sc.collection.objects.link(cam)
    sc.camera = cam
    return sc, cam


def _randomise(sc, cam, rng, fit):
    cam.data.lens = rng.uniform(18, 90)
    cam.data.sensor_width = rng.uniform(20, 40)
    cam.data.sensor_height = rng.uniform(15, 30)
    cam.data.sensor_fit = fit
    cam.data.shift_x, cam.data.shift_y = rng.uniform(-0.3, 0.3, size=2)
    # Multiples of 4, so 50 / 150 % give whole pixel sizes: world_to_camera_view frames the view with the
    # 100 % aspect ratio, while renders (and our intrinsics) use the truncated scaled size; with odd
    # sizes the two differ by up to 0.3 px (the render agreement test covers those sizes).
    sc.render.resolution_x, sc.render.resolution_y = (4 * int(v) for v in rng.integers(10, 100, size=2))
    sc.render.resolution_percentage = int(rng.choice([50, 100, 150]))
    sc.render.pixel_aspect_x, sc.render.pixel_aspect_y = rng.uniform(1.0, 2.0, size=2)
    cam.location = rng.normal(size=3) * 3
    cam.rotation_euler = rng.uniform(-math.pi, math.pi, size=3)
    cam.scale = rng.uniform(0.5, 2.0, size=3)  # matrix_world scale must be ignored


@pytest.mark.parametrize("fit", ["AUTO", "HORIZONTAL", "VERTICAL"])
def test_projection_matches_world_to_camera_view(scene, fit):
    sc, cam = scene
    rng = np.random.default_rng({"AUTO": 0, "HORIZONTAL": 1, "VERTICAL": 2}[fit])
    for _ in range(8):
        _randomise(sc, cam, rng, fit)
        cams = cameras_from_blender([blender_camera.camera_params(sc, cam)], dtype=torch.float64)
        # points in front of the camera, spread over (and beyond) its view
        R, t = cams.R[0].numpy(), cams.t[0].numpy()
        local = np.c_[rng.uniform(-1, 1, (30, 2)), rng.uniform(1, 10, 30)]
        world = (local - t) @ R  # R^T (x - t)
        pix, z = cams.project(torch.from_numpy(world))
        for (u, v), p, depth in zip(pix[0].numpy(), world, z[0].numpy()):
            ref = world_to_camera_view(sc, cam, Vector(p))
            assert abs(ref.x * cams.width - u) < 1e-3 and abs((1 - ref.y) * cams.height - v) < 1e-3
            assert abs(ref.z - depth) < 1e-6 * depth  # Blender computes in float32


def test_blender_round_trip_through_intrinsics(scene):
    sc, cam = scene
    rng = np.random.default_rng(7)
    for fit in ("AUTO", "HORIZONTAL", "VERTICAL"):
        _randomise(sc, cam, rng, fit)
        K, R, t, w, h = blender_camera.camera_krt(sc, cam)
        new = blender_camera.new_camera(sc, "Copy", K, R, t, w, h, set_render_size=True)
        K2, R2, t2, w2, h2 = blender_camera.camera_krt(sc, new)
        assert (w2, h2) == (w, h)
        np.testing.assert_allclose(K2, K, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(R2, R, atol=1e-6)
        np.testing.assert_allclose(t2, t, atol=1e-5)
        bpy.data.objects.remove(new)
