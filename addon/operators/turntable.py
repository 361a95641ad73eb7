"""texforge.create_turntable_rig: a folder of turntable photos -> cameras on a circle with the photos attached.

The poses are rough (the photographer's circle is never exact); the reconstruction corrects them.
Everything goes into a new collection; existing objects are never changed (only the selection moves
to the new cameras, so Reconstruct can run right away).
"""

from __future__ import annotations

import math
import os

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty
from mathutils import Vector

from ..convert import results_import, scene_inputs

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".exr", ".tga")


def list_images(folder: str) -> list[str]:
    """Image files of a folder (not recursive), sorted by name: the order they were shot in."""
    if not os.path.isdir(folder):
        return []
    return sorted(os.path.join(folder, f) for f in os.listdir(folder)
                  if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith("."))


def circle_positions(count: int, radius: float, elevation_deg: float, start_azimuth_deg: float,
                     clockwise: bool, center=(0.0, 0.0, 0.0)) -> list[Vector]:
    """Camera centres on a circle around ``center`` (Z up); azimuth 0 is +X, counter-clockwise seen from above."""
    el = math.radians(elevation_deg)
    sign = -1.0 if clockwise else 1.0
    out = []
    for i in range(count):
        az = math.radians(start_azimuth_deg) + sign * 2.0 * math.pi * i / count
        out.append(Vector(center) + radius * Vector((math.cos(el) * math.cos(az), math.cos(el) * math.sin(az),
                                                     math.sin(el))))
    return out


def look_at_rotation(location: Vector, target: Vector):
    """Rotation (quaternion) of a Blender camera at ``location`` looking at ``target`` with world Z up."""
    return (Vector(target) - Vector(location)).to_track_quat("-Z", "Y")


def build_rig(context, paths: list[str], radius: float, elevation: float, start_azimuth: float, clockwise: bool,
              focal_length: float, sensor_width: float = 36.0, resolution: str = "AUTO",
              center=None, name: str = "Turntable Rig") -> tuple[bpy.types.Collection, list, bool]:
    """Create the rig (see the module docstring). Raises ValueError before creating anything when the
    photos cannot be loaded or do not share one aspect ratio."""
    scene = context.scene
    if len(paths) < 1:
        raise ValueError("no images to attach")
    before = set(bpy.data.images)
    images = []
    try:
        for p in paths:
            try:
                img = bpy.data.images.load(p, check_existing=True)
            except RuntimeError as exc:
                raise ValueError(f"cannot load image '{p}': {exc}") from exc
            if img.size[0] == 0 or img.size[1] == 0:
                raise ValueError(f"image '{p}' has no pixels (unreadable file)")
            images.append(img)
        w0, h0 = images[0].size
        for p, img in zip(paths, images):
            w, h = img.size
            if abs(w / h - w0 / h0) > 0.01 * w0 / h0:
                raise ValueError(f"image '{os.path.basename(p)}' is {w}x{h} but '{os.path.basename(paths[0])}' is "
                                 f"{w0}x{h0}; all photos must share one aspect ratio")
        frame, set_size = scene_inputs.choose_frame(scene, (w0, h0), resolution)
        if abs(frame[0] / frame[1] - w0 / h0) > 0.01 * w0 / h0:
            raise ValueError(f"the photos are {w0}x{h0} but the scene renders {frame[0]}x{frame[1]}; let the rig "
                             f"set the render resolution or change it to the photos' aspect ratio")
    except BaseException:
        for img in images:
            if img not in before and img.name in bpy.data.images:
                bpy.data.images.remove(img)
        raise
    if set_size:
        scene_inputs.set_render_frame(scene, frame)
    center = Vector(center if center is not None else scene.cursor.location)
    coll = results_import.new_collection(scene, name)
    cams = []
    for i, (p, img, loc) in enumerate(zip(paths, images, circle_positions(
            len(paths), radius, elevation, start_azimuth, clockwise, center))):
        stem = os.path.splitext(os.path.basename(p))[0]
        label = results_import.unique_name(f"Turntable {i:03d} {stem}", bpy.data.objects)
        data = bpy.data.cameras.new(label)
        data.lens = focal_length
        data.sensor_width = sensor_width
        data.sensor_fit = "AUTO"
        data.clip_end = max(100.0, 10.0 * radius)
        bg = data.background_images.new()
        bg.image = img
        bg.alpha = 0.8
        data.show_background_images = True
        obj = bpy.data.objects.new(label, data)
        obj.location = loc
        obj.rotation_mode = "QUATERNION"
        obj.rotation_quaternion = look_at_rotation(loc, center)
        coll.objects.link(obj)
        cams.append(obj)
    results_import.select_only(context.view_layer, cams)
    return coll, cams, set_size


class TEXFORGE_OT_create_turntable_rig(bpy.types.Operator):
    """Pick a folder of turntable photos and create one camera per photo on a circle, photos attached"""

    bl_idname = "texforge.create_turntable_rig"
    bl_label = "Create Turntable Rig"
    bl_options = {"REGISTER", "UNDO"}

    directory: StringProperty(name="Image Folder", subtype="DIR_PATH")
    filter_folder: BoolProperty(default=True, options={"HIDDEN", "SKIP_SAVE"})
    filter_image: BoolProperty(default=True, options={"HIDDEN", "SKIP_SAVE"})
    radius: FloatProperty(name="Radius", default=3.0, min=0.01, soft_max=100.0, unit="LENGTH",
                          description="Distance from the circle's centre (the 3D cursor) to the cameras")
    elevation: FloatProperty(name="Elevation", default=15.0, min=-89.0, max=89.0,
                             description="Angle of the cameras above the horizontal plane, in degrees")
    start_azimuth: FloatProperty(name="Start Azimuth", default=-90.0, min=-360.0, max=360.0,
                                 description="Azimuth of the first photo in degrees (0 = +X, -90 = front view "
                                             "from -Y)")
    direction: EnumProperty(name="Direction", default="CCW", items=(
        ("CCW", "Counter-Clockwise", "The camera moves counter-clockwise seen from above (the object turns "
                                     "clockwise)"),
        ("CW", "Clockwise", "The camera moves clockwise seen from above (the object turns counter-clockwise)")))
    focal_length: FloatProperty(name="Focal Length", default=50.0, min=1.0, max=5000.0, unit="CAMERA",
                                description="Lens focal length in mm (36 mm sensor width)")
    max_images: IntProperty(name="Max Photos", default=0, min=0,
                            description="Use at most this many photos, evenly spread (0: all)")
    resolution: EnumProperty(name="Render Resolution", items=scene_inputs.RESOLUTION_ITEMS, default="AUTO",
                             description="Whether the scene's render resolution may change to the photos' size")

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def draw(self, context):
        col = self.layout.column()
        col.use_property_split = True
        for name in ("radius", "elevation", "start_azimuth", "direction", "focal_length", "max_images",
                     "resolution"):
            col.prop(self, name)

    def execute(self, context):
        folder = bpy.path.abspath(self.directory)
        paths = list_images(folder)
        if not paths:
            self.report({"ERROR"}, f"TexForge: no images found in '{folder}'")
            return {"CANCELLED"}
        if self.max_images and len(paths) > self.max_images:
            step = len(paths) / self.max_images
            paths = [paths[int(i * step)] for i in range(self.max_images)]
        try:
            coll, cams, changed = build_rig(context, paths, self.radius, self.elevation, self.start_azimuth,
                                            self.direction == "CW", self.focal_length, resolution=self.resolution)
        except ValueError as exc:
            self.report({"ERROR"}, f"TexForge: {exc}")
            return {"CANCELLED"}
        r = context.scene.render
        note = f"; render resolution set to {r.resolution_x}x{r.resolution_y}" if changed else ""
        self.report({"INFO"}, f"TexForge: {len(cams)} cameras in '{coll.name}', selected and ready for "
                              f"Reconstruct{note}")
        return {"FINISHED"}


CLASSES = (TEXFORGE_OT_create_turntable_rig,)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
