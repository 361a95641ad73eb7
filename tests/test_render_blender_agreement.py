"""Our renderer agrees with Blender: camera conversion and UV / texture conventions end to end.

Spot (shared data) is imported by Blender's own OBJ importer and rendered by Cycles with the texture
shown flat (emission, no lighting), the pixel filter narrowed so each pixel is sampled at its centre,
and the 'Standard' view transform (so the PNG holds the texture's own sRGB values). The same OBJ is
loaded by texforge.mesh.io.load_mesh and rendered by texforge.render.renderer.render_mesh through the
cameras that addon.blender_camera reads off the Blender camera objects. Cameras are random: lens,
sensor size and fit, lens shift, resolution and percentage, pixel aspect.
"""

import numpy as np
import pytest
import torch

bpy = pytest.importorskip("bpy")

from texforge_blender import camera as blender_camera, render_views as rv  # noqa: E402
from texforge.geometry.layouts import look_at  # noqa: E402
from texforge.mesh.io import load_mesh  # noqa: E402
from texforge.render.camera import cameras_from_arrays, rt_to_c2w_gl  # noqa: E402
from texforge.render.renderer import render_mesh  # noqa: E402
from mathutils import Matrix  # noqa: E402

NUM_VIEWS = 24
MIN_IOU = 0.99
MAX_RGB_ERROR = 0.03


def _random_camera(scene, rng, center, name):
    """A new Blender camera with random intrinsics (and scene render size) looking at ``center``."""
    r = scene.render
    r.resolution_x, r.resolution_y = int(rng.integers(40, 97)), int(rng.integers(40, 97))
    r.resolution_percentage = int(rng.choice([100, 100, 75, 150]))
    r.pixel_aspect_x, r.pixel_aspect_y = 1.0, 1.0
    aspect = rng.choice(["square", "x", "y"])
    if aspect == "x":
        r.pixel_aspect_x = float(rng.uniform(1.1, 1.8))
    elif aspect == "y":
        r.pixel_aspect_y = float(rng.uniform(1.1, 1.8))
    data = bpy.data.cameras.new(name)
    data.sensor_fit = str(rng.choice(["AUTO", "HORIZONTAL", "VERTICAL"]))
    data.sensor_width = float(rng.uniform(24.0, 40.0))
    data.sensor_height = float(rng.uniform(18.0, 30.0))
    data.lens = float(rng.uniform(30.0, 60.0))
    data.shift_x = float(rng.uniform(-0.12, 0.12))
    data.shift_y = float(rng.uniform(-0.12, 0.12))
    obj = bpy.data.objects.new(name, data)
    scene.collection.objects.link(obj)
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    R, t = look_at(center + rng.uniform(3.2, 4.2) * direction, center + rng.normal(size=3) * 0.1)
    obj.matrix_world = Matrix(rt_to_c2w_gl(R, t).tolist())
    return obj


@pytest.fixture(scope="module")
def spot_renders(test_data):
    """Blender renders and camera K, R, t for NUM_VIEWS random cameras, plus spot loaded by the backend."""
    spot = test_data / "spot" / "spot.obj"
    scene = rv.reset_scene()
    blender_obj = rv.import_mesh(spot)
    rv.setup_render(scene, samples=1, lighting="flat", pixel_filter=0.01)
    verts, _ = rv.mesh_world_arrays(blender_obj)
    center = (verts.min(0) + verts.max(0)) / 2
    rng = np.random.default_rng(2024)
    views = []
    for k in range(NUM_VIEWS):
        cam = _random_camera(scene, rng, center, f"cam{k}")
        image = rv.render_camera(scene, cam)
        K, R, t, w, h = blender_camera.camera_krt(scene, cam)
        assert image.shape == (h, w, 4)
        views.append({"image": image, "K": K, "R": R, "t": t, "w": w, "h": h,
                      "settings": (scene.render.resolution_x, scene.render.resolution_y,
                                   scene.render.resolution_percentage, scene.render.pixel_aspect_x,
                                   scene.render.pixel_aspect_y, cam.data.sensor_fit)})
    return load_mesh(spot), views


def _compare(mesh, views, texture=None, dcx=0.0):
    """Per view: (IoU of our hard mask vs Blender's alpha > 0.5, mean |RGB| error inside both masks)."""
    vertices = torch.as_tensor(mesh.vertices)
    faces = torch.as_tensor(mesh.faces)
    uvs, face_uvs = torch.as_tensor(mesh.uvs), torch.as_tensor(mesh.face_uvs)
    texture = mesh.texture if texture is None else texture
    texture = torch.as_tensor(texture).permute(2, 0, 1)[None].contiguous()
    results = []
    for k, view in enumerate(views):
        K = view["K"].copy()
        K[0, 2] += dcx
        cams = cameras_from_arrays(K[None], view["R"][None], view["t"][None], view["w"], view["h"])
        out = render_mesh(vertices, faces, cams, uvs=uvs, face_uvs=face_uvs, texture=texture,
                          perspective_correct=True, soft_mask=False)
        ours = out.hard_mask[0].numpy()
        blender = view["image"][..., 3] > 0.5
        assert blender.sum() > 100, f"view {k}: spot barely visible in Blender's render"
        iou = (ours & blender).sum() / (ours | blender).sum()
        both = ours & blender
        results.append((iou, np.abs(out.rgb[0].numpy()[both] - view["image"][..., :3][both]).mean()))
    return results


def test_spot_silhouette_and_texture_agree_with_blender(spot_renders):
    mesh, views = spot_renders
    report, failures = [], []
    for k, (view, (iou, err)) in enumerate(zip(views, _compare(mesh, views))):
        report.append(f"view {k:2d} {view['w']}x{view['h']} {view['settings']}: IoU {iou:.4f}, RGB error {err:.4f}")
        if iou < MIN_IOU or err > MAX_RGB_ERROR:
            failures.append(report[-1])
    print("\n".join(report))
    assert not failures, "renderer disagrees with Blender:\n" + "\n".join(failures)


def test_agreement_metrics_catch_convention_errors(spot_renders):
    """The thresholds are tight enough to fail on a one-pixel principal-point error or a texture read
    upside down (v down instead of up), so the agreement above means something."""
    mesh, views = spot_renders
    views = views[:8]
    shifted = _compare(mesh, views, dcx=1.0)
    assert np.mean([iou for iou, _ in shifted]) < MIN_IOU
    flipped = _compare(mesh, views, texture=mesh.texture[::-1].copy())
    assert np.mean([err for _, err in flipped]) > MAX_RGB_ERROR
