"""transforms.json <-> Blender cameras with background images.

texforge.export_transforms writes the selected cameras (with per-frame intrinsics) and their photos'
paths as a NeRF-style transforms.json through ``texforge.data.transforms_io.write_transforms``;
texforge.import_transforms creates one new camera per frame, photo attached as background image, in
a new collection. Camera math goes through ``texforge_blender.camera`` (the one conversion, torch-free).
"""

from __future__ import annotations

import os

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, StringProperty
from bpy_extras.io_utils import ExportHelper, ImportHelper

from texforge_blender import camera as blender_camera

from ..convert import results_import, roles, scene_inputs


# ---------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------

def _image_file_for_export(img: bpy.types.Image, out_dir: str, label: str, written: list) -> str:
    """Path (relative to out_dir when possible) of a file holding the image's pixels.

    The image's own file when it is on disk (and not edited); otherwise a PNG written to
    out_dir/images/ (never over an existing file)."""
    path = bpy.path.abspath(img.filepath, library=img.library) if img.filepath else ""
    if img.source == "FILE" and not img.packed_file and not img.is_dirty and path and os.path.isfile(path):
        target = path
    else:
        stem = bpy.path.clean_name(os.path.splitext(img.name)[0]) or "image"
        target = os.path.join(out_dir, "images", f"{stem}.png")
        if os.path.exists(target):
            raise FileExistsError(f"{label}: '{target}' already exists; export to an empty folder")
        from texforge.data.images import write_png
        write_png(target, scene_inputs.image_pixels(img))
        written.append(target)
    try:
        rel = os.path.relpath(target, out_dir)
    except ValueError:  # another drive (Windows)
        return target
    return rel.replace(os.sep, "/")


def export_cameras(scene: bpy.types.Scene, cameras: list, filepath: str, overwrite: bool = False) -> str:
    """Write ``cameras`` (objects with background images) to ``filepath`` (a transforms.json).

    Frames use each photo's own pixel size when all photos share one size, else the render frame size
    (readers rescale intrinsics to the actual image). Returns the written path."""
    problem = scene_inputs.cameras_problem(scene, cameras, min_views=1)
    if problem:
        raise ValueError(problem)
    if os.path.exists(filepath) and not overwrite:
        raise FileExistsError(f"'{filepath}' already exists (enable Overwrite to replace it)")
    out_dir = os.path.dirname(os.path.abspath(filepath))
    frame = scene_inputs.render_size(scene)
    sizes = {tuple(scene_inputs.camera_image(c).size) for c in cameras}
    size = sizes.pop() if len(sizes) == 1 else frame
    Ks, Rs, ts, files, mask_files, written = [], [], [], [], [], []
    try:
        for cam in cameras:
            K, R, t, w, h = blender_camera.camera_krt(scene, cam)
            Ks.append(results_import.scale_intrinsics(K, (w, h), size))
            Rs.append(R), ts.append(t)
            label = f"camera '{cam.name}'"
            files.append(_image_file_for_export(scene_inputs.camera_image(cam), out_dir, label, written))
            mask = scene_inputs.camera_mask_image(cam)
            mask_files.append(_image_file_for_export(mask, out_dir, f"{label} (mask)", written)
                              if mask is not None else None)
        names = {"texforge_camera_names": [c.name for c in cameras]}
        from texforge.data.transforms_io import write_transforms
        write_transforms(filepath, np.stack(Ks), np.stack(Rs), np.stack(ts), size[0], size[1], files,
                         extra=names, mask_paths=mask_files)
    except BaseException:
        for p in written:  # leave no half-written export behind
            if os.path.exists(p):
                os.remove(p)
        raise
    return filepath


class TEXFORGE_OT_export_transforms(bpy.types.Operator, ExportHelper):
    """Write the selected cameras and their background photos as a transforms.json dataset"""

    bl_idname = "texforge.export_transforms"
    bl_label = "Export transforms.json"
    bl_options = {"REGISTER"}

    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={"HIDDEN"})
    check_existing: BoolProperty(default=True, options={"HIDDEN"})
    overwrite: BoolProperty(name="Overwrite", default=False,
                            description="Replace an existing file of the same name")

    @classmethod
    def poll(cls, context):
        problem = scene_inputs.cameras_problem(context.scene, scene_inputs.selected_cameras(context), min_views=1)
        if problem:
            cls.poll_message_set(problem)
            return False
        return True

    def invoke(self, context, event):
        if not self.filepath:
            base = os.path.dirname(bpy.data.filepath) if bpy.data.filepath else os.path.expanduser("~")
            self.filepath = os.path.join(base, "transforms.json")
        return ExportHelper.invoke(self, context, event)

    def execute(self, context):
        cams = scene_inputs.selected_cameras(context)
        try:
            path = export_cameras(context.scene, cams, bpy.path.abspath(self.filepath), self.overwrite)
        except (ValueError, OSError) as exc:
            self.report({"ERROR"}, f"TexForge: {exc}")
            return {"CANCELLED"}
        skipped = scene_inputs.skipped_cameras_warning(scene_inputs.skipped_corrected_cameras(context))
        if skipped:
            self.report({"WARNING"}, f"TexForge: {skipped}")
        self.report({"INFO"}, f"TexForge: wrote {len(cams)} cameras to '{path}'")
        return {"FINISHED"}


# ---------------------------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------------------------

def read_frames(filepath: str) -> tuple[list[dict], list[str]]:
    """Parse a transforms.json -> (frames [{name, label, path, mask, K, R, t, w, h}], warnings) with the
    library's one parser; changes no Blender data.

    ``label`` is the frame's file_path as written (used in messages), ``name`` the camera name to create,
    ``mask`` the frame's mask file (None when none); K is for the image file's own size (w, h)."""
    import texforge.data.transforms_io as tio
    parsed, warnings, meta = tio.read_frames(filepath)
    return frame_dicts(parsed, meta.get("texforge_camera_names")), warnings


def frame_dicts(parsed: list, names=None) -> list[dict]:
    """The library's frames (``texforge.data.gather.Frame``) -> the dicts :func:`import_frames` takes;
    cameras are named by ``names`` where given, else by their photo's file name."""
    return [{"name": (str(names[i]) if isinstance(names, list) and i < len(names)
                      else os.path.splitext(os.path.basename(fr.path))[0]),
             "label": fr.name, "path": fr.path, "mask": fr.mask_path or None, "K": fr.K, "R": fr.R, "t": fr.t,
             "w": fr.size[0], "h": fr.size[1]} for i, fr in enumerate(parsed)]


def import_frames(context, frames: list[dict], resolution: str, name: str):
    """Create one camera per frame (photo as background image) in a new collection.

    The scene has one render resolution; ``resolution`` ("AUTO" | "SET" | "KEEP", see
    scene_inputs.RESOLUTION_ITEMS) says whether it may change to the first frame's size. Frames of other
    sizes with the same aspect ratio get their intrinsics rescaled to the render frame. Every check runs
    before anything is created. Returns (collection, cameras, whether the resolution was changed)."""
    scene = context.scene
    K0 = frames[0]["K"]
    frame, set_size = scene_inputs.choose_frame(scene, (frames[0]["w"], frames[0]["h"]), resolution,
                                                fx_over_fy=float(K0[0, 0] / K0[1, 1]))
    for fr in frames:
        if abs(fr["w"] / fr["h"] - frame[0] / frame[1]) > 0.01 * frame[0] / frame[1]:
            what = "the first frame" if set_size else "the scene's render frame"
            raise ValueError(f"frame {fr['label']}: {fr['w']}x{fr['h']} does not have the aspect ratio of {what} "
                             f"({frame[0]}x{frame[1]})")
    before = set(bpy.data.images)
    loaded, masks = [], []
    try:
        for fr in frames:
            loaded.append(bpy.data.images.load(fr["path"], check_existing=True))
            masks.append(_load_mask(fr["mask"]) if fr["mask"] else None)
    except RuntimeError as exc:
        for img in loaded + masks:
            if img is not None and img not in before and img.name in bpy.data.images:
                bpy.data.images.remove(img)
        raise ValueError(f"cannot load image: {exc}") from exc
    coll = results_import.new_collection(scene, name)
    cams = []
    for i, (fr, img, mask) in enumerate(zip(frames, loaded, masks)):
        K = results_import.scale_intrinsics(fr["K"], (fr["w"], fr["h"]), frame)
        obj = blender_camera.new_camera(scene, results_import.unique_name(fr["name"], bpy.data.objects), K,
                                        fr["R"], fr["t"], frame[0], frame[1], collection=coll,
                                        set_render_size=set_size and i == 0)
        bg = obj.data.background_images.new()
        bg.image = img
        bg.alpha = 0.8
        if mask is not None:
            # a second, hidden slot: the mask travels with its photo (Reconstruct and Export transforms
            # read it) without covering the photo in the viewport; tick it to check the mask
            slot = obj.data.background_images.new()
            slot.image = mask
            slot.alpha = 0.5
            slot.show_background_image = False
        obj.data.show_background_images = True
        cams.append(obj)
    results_import.select_only(context.view_layer, cams)
    return coll, cams, set_size


def _load_mask(path: str) -> bpy.types.Image:
    """A frame's mask file as an image datablock tagged roles.MASK (values are data, not colour)."""
    img = bpy.data.images.load(path, check_existing=True)
    img.colorspace_settings.is_data = True
    roles.tag(img, roles.MASK)
    return img


class TEXFORGE_OT_import_transforms(bpy.types.Operator, ImportHelper):
    """Create cameras with background photos from a transforms.json dataset (in a new collection)"""

    bl_idname = "texforge.import_transforms"
    bl_label = "Import transforms.json"
    bl_options = {"REGISTER", "UNDO"}

    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={"HIDDEN"})
    resolution: EnumProperty(name="Render Resolution", items=scene_inputs.RESOLUTION_ITEMS, default="AUTO",
                             description="Whether the scene's render resolution may change to the dataset's "
                                         "image size")

    def execute(self, context):
        path = bpy.path.abspath(self.filepath)
        try:
            frames, _ = read_frames(path)
            coll, cams, changed = import_frames(context, frames, self.resolution,
                                                f"Dataset {os.path.splitext(os.path.basename(path))[0]}")
        except (ValueError, OSError) as exc:
            self.report({"ERROR"}, f"TexForge: {exc}")
            return {"CANCELLED"}
        r = context.scene.render
        note = f"; render resolution set to {r.resolution_x}x{r.resolution_y}" if changed else ""
        self.report({"INFO"}, f"TexForge: {len(cams)} cameras imported into '{coll.name}'{note}")
        return {"FINISHED"}


CLASSES = (TEXFORGE_OT_export_transforms, TEXFORGE_OT_import_transforms)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
