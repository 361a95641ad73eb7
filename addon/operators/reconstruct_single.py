"""texforge.reconstruct_single_image: one photo + a category model -> a new textured object and a new
camera holding the fitted camera (seed 002's GAN inversion, or seed 004's encoder alone as a preview).

As in texforge.reconstruct, only the middle part leaves the main thread:
1. ``prepare_single`` (main thread): read the photo (an image file, or the active camera's background
   image with that camera), check the model folder; errors are reported before anything starts.
2. ``reconstruct_photo`` as a ``job.Job`` run by the ``JobOperator`` base (worker thread, progress, Esc and
   Cancel; synchronous in background mode).
3. ``SingleImageRun.finish`` (main thread): a new collection with the mesh object (UV map, packed texture
   material) and a camera at the fitted pose showing the framed photo. The object records the model
   folder, the mode and the latent (``convert.single_photo``) for the swap and interpolate operators.
   Nothing in ``bpy.data`` changes before this point: a cancelled or failed run leaves the scene as it was.
"""

from __future__ import annotations

import os

import bpy
from bpy.props import IntProperty, StringProperty
from texforge_blender import camera as blender_camera

from ..convert import results_import, single_photo
from ..runtime import job as job_mod
from ..runtime.job_operator import JobOperator
from ..ui import preferences


class SingleImageRun:
    def __init__(self, scene, photo, stem: str, model_dir: str, mode: str, config, device: str, out_dir: str = ""):
        self.scene_name, self.stem = scene.name, stem
        self.photo, self.model_dir, self.mode, self.config, self.device = photo, model_dir, mode, config, device
        self.out_dir = out_dir
        self.job: job_mod.Job | None = None
        self.made: dict | None = None
        self.written = self.write_error = ""

    def _work(self, progress, should_stop):
        from texforge.pipelines.inversion.single_image import reconstruct_photo
        from texforge.runtime.progress import check_stop

        result, framed = reconstruct_photo(self.photo, self.model_dir, self.mode, self.config, progress, should_stop,
                                           self.device)
        check_stop(should_stop)   # a Cancel during the last step still leaves the scene unchanged
        if self.out_dir:
            try:
                from texforge.pipelines.inversion.result_io import write_result
                progress(1.0, "writing the result folder")
                write_result(result, self.config, framed.image, self.out_dir, self.photo.name,
                             model={"path": self.model_dir, "mode": self.mode})
                self.written = self.out_dir
            except (OSError, ValueError) as exc:   # the scene still gets the result
                self.write_error = f"{type(exc).__name__}: {exc}"
        return result, framed

    def make_job(self, extra_stop=None, echo=None) -> job_mod.Job:
        self.job = job_mod.Job("single image", self._work, extra_stop=extra_stop, echo=echo)
        return self.job

    def finish(self, context) -> tuple[set, str]:
        job = self.job
        try:
            if job.cancelled:
                return {"WARNING"}, "TexForge single-image reconstruction cancelled; the scene is unchanged"
            if job.error is not None:
                print(f"[TexForge] single-image reconstruction failed:\n{job.error_traceback}")
                return {"ERROR"}, f"TexForge single-image reconstruction failed: {job_mod.error_text(job.error)}"
            scene = bpy.data.scenes.get(self.scene_name)
            if scene is None:
                return {"ERROR"}, f"TexForge: scene '{self.scene_name}' no longer exists; result discarded"
            try:
                return self._build(context, scene, *job.result)
            except Exception as exc:  # noqa: BLE001 - report it, leave nothing behind
                import traceback
                print(f"[TexForge] importing the result failed:\n{traceback.format_exc()}")
                if self.made is not None:
                    results_import.remove_created(self.made)
                    self.made = None
                return {"ERROR"}, f"TexForge: the result could not be added to the scene: {job_mod.error_text(exc)}"
        finally:
            job.release()
            self.photo = None
            job_mod.release_device_memory(self.device)

    def _build(self, context, scene, result, framed) -> tuple[set, str]:
        name = f"TexForge {self.stem}"
        self.made = made = results_import.import_textured_result(scene, result.mesh, name=name)
        w, h = result.size
        cam = blender_camera.new_camera(
            scene, results_import.unique_name(f"{name} Camera", bpy.data.objects), result.K, result.R, result.t,
            w, h, collection=made["collection"], set_render_size=False)
        made["cameras"].append(("fitted", cam))
        photo = results_import.texture_image(results_import.unique_name(f"{name} Photo", bpy.data.images),
                                             framed.image)
        made["photo"] = photo
        bg = cam.data.background_images.new()
        bg.image = photo
        # the camera keeps the square photo's horizontal field of view in any render frame (sensor fit
        # HORIZONTAL): the photo lines up when it spans the frame's width, cropped in a landscape frame
        # and letterboxed in a portrait one; the scene's render size is the artist's and stays as it is
        r = scene.render
        bg.frame_method = "CROP" if r.resolution_x * r.pixel_aspect_x >= r.resolution_y * r.pixel_aspect_y else "FIT"
        cam.data.show_background_images = True
        obj = made["object"]
        single_photo.tag_result(obj, self.model_dir, self.mode, result.latent)
        if context.view_layer is not None:
            results_import.select_only(context.view_layer, [obj])
        metrics = result.metrics or {}
        iou = f", input-view IoU {metrics['input_iou']:.3f}" if "input_iou" in metrics else ""
        took = self.job.finished - self.job.started if self.job.finished else 0.0
        saved = f"; saved to {self.written}" if self.written else ""
        if self.write_error:
            saved = f"; the result folder could not be written ({self.write_error})"
        return {"INFO"}, f"TexForge: '{obj.name}' ({self.mode}) reconstructed in {took:.0f} s{iou}{saved}"


def prepare_single(context, image_path: str = "", model_dir: str = "", mode: str = "", preset: str = "",
                   max_image_size: int = 0) -> tuple[SingleImageRun, list[str]]:
    """Main thread: the photo, model and settings of a run (InputError / RuntimeError with a clear message)."""
    from texforge.models.category_model import read_model
    from texforge.pipelines.inversion.config import preset as inversion_preset
    from texforge.runtime.errors import InputError

    scene = context.scene
    props = scene.texforge
    model_dir = bpy.path.abspath(model_dir or props.single_model_dir)
    if not model_dir:
        raise InputError("choose a category model folder (made by scripts/train_category.py)")
    model_dir = os.path.normpath(model_dir)
    read_model(model_dir)   # a missing or foreign folder is reported now, before the photo is read
    mode = mode or props.single_mode
    from texforge.pipelines.inversion.single_image import MODES
    if mode not in MODES:
        raise InputError(f"mode must be one of {MODES}, not {mode!r}")
    image_path = image_path or props.single_image_path
    camera = None if image_path else single_photo.photo_camera(context)
    photo, warnings = single_photo.read_photo(scene, image_path, camera, props.mask_source,
                                              max_image_size or props.max_image_size)
    stem = os.path.splitext(os.path.basename(bpy.path.abspath(image_path)))[0] if image_path else camera.name
    config = inversion_preset(preset or props.preset)
    folder = results_import.result_folder(scene, prefix="single")
    if folder:
        from texforge.results import check_out_dir
        check_out_dir(folder, overwrite_hint="choose another Output Folder")
    device = preferences.job_device(context)
    return SingleImageRun(scene, photo, stem, model_dir, mode, config, device, folder), warnings


class TEXFORGE_OT_reconstruct_single_image(JobOperator, bpy.types.Operator):
    """Reconstruct a textured object and its camera from one photo (an image file, or the active camera's
    background image) with a trained category model"""

    bl_idname = "texforge.reconstruct_single_image"
    bl_label = "Reconstruct from One Image"
    bl_options = {"UNDO"}

    image_path: StringProperty(name="Image", default="", subtype="FILE_PATH", options={"SKIP_SAVE", "HIDDEN"},
                               description="Override the scene's image file; empty: the scene's")
    model_dir: StringProperty(name="Model", default="", subtype="DIR_PATH", options={"SKIP_SAVE", "HIDDEN"},
                              description="Override the scene's category model folder; empty: the scene's")
    mode: StringProperty(name="Mode", default="", options={"SKIP_SAVE", "HIDDEN"},
                         description="Override the scene's mode ('inversion' or 'encoder'); empty: the scene's")
    preset: StringProperty(name="Preset", default="", options={"SKIP_SAVE", "HIDDEN"},
                           description="Override the scene's preset (e.g. 'tiny' for tests); empty: the scene's")
    max_image_size: IntProperty(name="Max Image Size", default=0, min=0, options={"SKIP_SAVE", "HIDDEN"},
                                description="Override the scene's working image size (0: the scene's)")

    def prepare_job(self, context) -> SingleImageRun | None:
        try:
            run, warnings = prepare_single(context, self.image_path, self.model_dir, self.mode, self.preset,
                                           self.max_image_size)
        except (ValueError, RuntimeError, ImportError, AttributeError, OSError) as exc:
            self.report({"ERROR"}, f"TexForge: {job_mod.error_text(exc)}")
            return None
        for w in warnings:
            self.report({"WARNING"}, f"TexForge: {w}")
        return run


CLASSES = (TEXFORGE_OT_reconstruct_single_image,)
register, unregister = bpy.utils.register_classes_factory(CLASSES)
