"""Blender camera objects <-> the backend's camera parameters (plain dicts and arrays).

The math lives in texforge.geometry.camera_convert (numpy only, so Import/Export transforms work in a Blender
without PyTorch); this module only reads values off Blender objects and writes them back. Only the
main thread may call it.
"""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix

from texforge.geometry import camera_convert as cam


def camera_params(scene: bpy.types.Scene, cam_obj: bpy.types.Object) -> dict:
    """Everything the backend needs about one perspective camera (scene render settings included)."""
    if cam_obj.type != "CAMERA":
        raise ValueError(f"object '{cam_obj.name}' is not a camera")
    data = cam_obj.data
    if data.type != "PERSP":
        raise ValueError(f"camera '{cam_obj.name}' is {data.type.lower()}; only perspective cameras are supported")
    bpy.context.view_layer.update()  # matrix_world of parented / animated cameras must be current
    r = scene.render
    return {
        "lens": data.lens, "sensor_width": data.sensor_width, "sensor_height": data.sensor_height,
        "sensor_fit": data.sensor_fit, "shift_x": data.shift_x, "shift_y": data.shift_y,
        "resolution_x": r.resolution_x, "resolution_y": r.resolution_y,
        "resolution_percentage": r.resolution_percentage,
        "pixel_aspect_x": r.pixel_aspect_x, "pixel_aspect_y": r.pixel_aspect_y,
        "matrix_world": np.array(cam_obj.matrix_world, dtype=np.float64),
    }


def camera_krt(scene: bpy.types.Scene, cam_obj: bpy.types.Object):
    """(K 3x3, R 3x3, t 3, W, H) of a Blender camera in the backend's OpenCV convention."""
    p = camera_params(scene, cam_obj)
    K, w, h = cam.blender_intrinsics(p)
    R, t = cam.c2w_gl_to_rt(p["matrix_world"])
    return K, R, t, w, h


def apply_krt(scene: bpy.types.Scene, cam_obj: bpy.types.Object, K, R, t, width: int, height: int,
              set_render_size: bool = True) -> None:
    """Give a camera object the intrinsics K and OpenCV world-to-camera pose R, t.

    The render resolution and pixel aspect are scene settings, so they are only written when
    ``set_render_size`` is true (the caller owns the scene)."""
    p = cam.blender_params_from_intrinsics(K, width, height, sensor_width=cam_obj.data.sensor_width)
    data = cam_obj.data
    data.type = "PERSP"
    data.sensor_fit = p["sensor_fit"]
    data.sensor_width = p["sensor_width"]
    data.lens = p["lens"]
    data.shift_x = p["shift_x"]
    data.shift_y = p["shift_y"]
    if set_render_size:
        r = scene.render
        r.resolution_x, r.resolution_y, r.resolution_percentage = p["resolution_x"], p["resolution_y"], 100
        r.pixel_aspect_x, r.pixel_aspect_y = p["pixel_aspect_x"], p["pixel_aspect_y"]
    if cam_obj.parent is not None:
        raise ValueError(f"camera '{cam_obj.name}' is parented; unparent it before setting its pose")
    cam_obj.matrix_world = Matrix(cam.rt_to_c2w_gl(R, t).tolist())


def new_camera(scene: bpy.types.Scene, name: str, K, R, t, width: int, height: int,
               collection: bpy.types.Collection | None = None, set_render_size: bool = False) -> bpy.types.Object:
    """Create a new camera object (never touches existing ones)."""
    data = bpy.data.cameras.new(name)
    obj = bpy.data.objects.new(name, data)
    (collection or scene.collection).objects.link(obj)
    apply_krt(scene, obj, K, R, t, width, height, set_render_size=set_render_size)
    return obj
