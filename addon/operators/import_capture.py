"""Import a photo capture folder (COLMAP model or LLFF poses_bounds.npy with photos in images/, or IDR /
NeuS cameras.npz / cameras_sphere.npz with photos in image/ and masks in mask/) as cameras.

texforge.import_capture reads the folder with the library's loaders (the same frames the command line
reconstructs from, mask files found by name) and creates one camera per photo, photo as background
image and mask as a hidden second one, in a new collection through Import transforms'
``import_frames``. It can also write the cameras as a transforms.json next to the photos through
Export transforms' writer, so other tools (and later runs) read them without COLMAP.
"""

from __future__ import annotations

import os

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty

from ..convert import scene_inputs
from . import transforms


def read_capture(folder: str) -> tuple[list[dict], list[str]]:
    """A capture folder -> (frames as :func:`transforms.import_frames` takes them, warnings); changes no
    Blender data. Raises ValueError (InputError) naming the file, camera or photo at fault.

    Blender shows a photo as stored, so photos that the library would undistort or turn upright (EXIF)
    would not line up with their cameras: such captures are refused with what to do instead."""
    from texforge.data.images import exif_orientation
    from texforge.data.transforms_io import capture_format, read_any_frames

    kind = capture_format(folder)
    parsed, warnings, _ = read_any_frames(folder)
    for fr in parsed:
        reader = fr.read_pixels
        if getattr(reader, "after", None) is not None:
            distortion = next((w for w in warnings if "undistorted" in w), "lens distortion")
            raise ValueError(f"{fr.label}: its camera has lens distortion ({distortion}); Blender cameras are "
                             f"pinhole cameras, so the photos would not line up. Run COLMAP's image_undistorter "
                             f"and import its output folder, or reconstruct from the command line "
                             f"(scripts/reconstruct.py undistorts the photos itself)")
        if getattr(reader, "upright", False) and exif_orientation(fr.path) != 1:
            raise ValueError(f"{fr.label}: the photo is rotated by its EXIF orientation tag, which Blender's "
                             f"background images do not apply; save it upright (most photo tools do this on "
                             f"export) or reconstruct from the command line")
    return transforms.frame_dicts(parsed), [f"{kind.upper()} capture: {w}" for w in warnings]


class TEXFORGE_OT_import_capture(bpy.types.Operator):
    """Create cameras with background photos from a COLMAP, LLFF or IDR / NeuS capture folder (in a new collection)"""

    bl_idname = "texforge.import_capture"
    bl_label = "Import Capture (COLMAP / LLFF / IDR)"
    bl_options = {"REGISTER", "UNDO"}

    directory: StringProperty(name="Capture Folder", subtype="DIR_PATH",
                              description="Folder holding images/ and a COLMAP model (sparse/0/, sparse/ or "
                                          "cameras.bin) or poses_bounds.npy, or image/ and IDR / NeuS "
                                          "cameras.npz or cameras_sphere.npz")
    filter_folder: BoolProperty(default=True, options={"HIDDEN"})
    resolution: EnumProperty(name="Render Resolution", items=scene_inputs.RESOLUTION_ITEMS, default="AUTO",
                             description="Whether the scene's render resolution may change to the photos' size")
    write_transforms: BoolProperty(name="Write transforms.json", default=False,
                                   description="Also write the cameras as transforms.json in the capture folder "
                                               "(never over an existing file)")

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        folder = bpy.path.abspath(self.directory).rstrip("/\\") or bpy.path.abspath(self.directory)
        out = os.path.join(folder, "transforms.json")
        try:
            if self.write_transforms and os.path.exists(out):
                raise ValueError(f"'{out}' already exists; nothing was imported (untick Write transforms.json or "
                                 f"move the file)")
            frames, warnings = read_capture(folder)
            coll, cams, changed = transforms.import_frames(context, frames, self.resolution,
                                                           f"Capture {os.path.basename(folder)}")
            written = transforms.export_cameras(context.scene, cams, out) if self.write_transforms else ""
        except (ValueError, OSError) as exc:
            self.report({"ERROR"}, f"TexForge: {exc}")
            return {"CANCELLED"}
        for w in warnings:
            self.report({"WARNING"}, f"TexForge: {w}")
        # a COLMAP / LLFF / IDR capture's cameras come from a calibration tool: the fit keeps them (as the
        # command line's --camera-trust auto does for such folders); the panel shows and can change it
        context.scene.texforge.camera_trust = "calibrated"
        r = context.scene.render
        note = f"; render resolution set to {r.resolution_x}x{r.resolution_y}" if changed else ""
        note += f"; wrote '{written}'" if written else ""
        note += "; Camera Trust set to calibrated"
        self.report({"INFO"}, f"TexForge: {len(cams)} cameras imported into '{coll.name}'{note}")
        return {"FINISHED"}


CLASSES = (TEXFORGE_OT_import_capture,)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
