"""texforge.reconstruct: selected cameras + photos -> textured mesh and corrected cameras.

The run has three parts, and only the middle one leaves the main thread:
1. ``prepare_run`` (main thread): read cameras and pixels into a ``MultiViewDataset``, pick the
   preset and device. Errors here are reported before anything starts.
2. the pipeline (``run_multiview``) as a ``job.Job``, run by the ``JobOperator`` base: on a worker
   thread polled by a timer, Esc or the panel's Cancel button stopping it within one iteration; in
   background mode (``blender -b``, the bpy module) synchronously, with progress lines on stdout.
3. ``ReconstructionRun.finish`` (main thread): build the new collection (mesh, material, packed
   texture, corrected cameras) and the per-view figures, or report the error / cancellation.
   Nothing in ``bpy.data`` changes before this point, so a cancelled or failed run leaves the scene
   exactly as it was.

texforge.apply_corrected_cameras copies the corrected poses (and focal lengths, when refined) back onto the
original cameras (undoable).
"""

from __future__ import annotations

import os

import bpy
from bpy.props import IntProperty, StringProperty

from ..runtime import job as job_mod
from ..runtime.job_operator import JobOperator
from ..convert import results_import, scene_inputs
from ..ui import preferences


class ReconstructionRun:
    """One reconstruction from gathered inputs to imported results (see the module docstring)."""

    def __init__(self, scene: bpy.types.Scene, cameras: list, dataset, config, device: str, out_dir: str = ""):
        self.scene_name = scene.name
        self.camera_names = [c.name for c in cameras]
        self.frame_size = scene_inputs.render_size(scene)
        self.dataset = dataset
        self.config = config
        self.device = device
        self.job: job_mod.Job | None = None
        self.made: dict | None = None
        self.out_dir = out_dir
        self.written = ""
        self.write_error = ""

    def _work(self, progress, should_stop):
        import texforge.pipelines.multiview as multiview
        result = multiview.run_multiview(self.dataset, self.config, progress=progress, should_stop=should_stop,
                                         device=self.device)
        if self.out_dir:
            from texforge.runtime.progress import check_stop
            check_stop(should_stop)
            try:
                import texforge.pipelines.multiview.result_io as result_io
                progress(1.0, "writing the result folder")
                result_io.write_result(result, self.out_dir)
                self.written = self.out_dir
            except (ImportError, OSError, ValueError) as exc:  # the scene still gets the result
                self.write_error = f"{type(exc).__name__}: {exc}"
        return result

    def make_job(self, extra_stop=None, echo=None) -> job_mod.Job:
        self.job = job_mod.Job("reconstruct", self._work, extra_stop=extra_stop, echo=echo)
        return self.job

    def finish(self, context) -> tuple[set, str]:
        """Main thread, after the job is done: build results. Returns (report type, message)."""
        job = self.job
        try:
            if job.cancelled:
                return {"WARNING"}, "TexForge reconstruction cancelled; the scene is unchanged"
            if job.error is not None:
                print(f"[TexForge] reconstruction failed:\n{job.error_traceback}")
                return {"ERROR"}, f"TexForge reconstruction failed: {job_mod.error_text(job.error)}"
            scene = bpy.data.scenes.get(self.scene_name)
            if scene is None:
                return {"ERROR"}, f"TexForge: scene '{self.scene_name}' no longer exists; result discarded"
            try:
                return self._build(context, scene, job.result)
            except Exception as exc:  # noqa: BLE001 - e.g. an invalid mesh: report it, leave nothing behind
                import traceback
                print(f"[TexForge] importing the result failed:\n{traceback.format_exc()}")
                if self.made is not None:
                    results_import.remove_created(self.made)
                    self.made = None
                scene.texforge.views.clear()
                return {"ERROR"}, f"TexForge: the result could not be added to the scene: {job_mod.error_text(exc)}"
        finally:
            job.release()
            self.dataset = None
            job_mod.release_device_memory(self.device)

    def _build(self, context, scene, result) -> tuple[set, str]:
        pruned = {p["name"]: p.get("reason", "") for p in (result.pruned or [])}
        keep = [i for i, n in enumerate(result.names) if n not in pruned]
        # the input cameras by name (the view names); a camera deleted or renamed meanwhile is just missing
        # views left out before the fit (unusable photo or pose) are not in result.names: list them too
        listed = list(result.names) + [n for n in pruned if n not in result.names]
        sources = {n: o for n in listed if (o := bpy.data.objects.get(n)) is not None and o.type == "CAMERA"}
        cameras = result.cameras[keep] if keep else None
        self.made = results_import.import_textured_result(
            scene, result.mesh, cameras, [result.names[i] for i in keep], name="TexForge Result",
            source_cameras=sources, frame_size=self.frame_size)
        props = scene.texforge
        props.views.clear()
        per_view = {v["name"]: v for v in (result.per_view or [])}
        corrected = dict(self.made["cameras"])
        for name in listed:
            item = props.views.add()
            item.name = name
            item.camera = sources.get(name)
            item.corrected = corrected.get(name)
            v = per_view.get(name, {})
            item.iou = float(v.get("iou", -1.0) if v.get("iou") is not None else -1.0)
            item.psnr = float(v.get("psnr", -1.0) if v.get("psnr") is not None else -1.0)
            item.pruned = name in pruned
            item.reason = str(pruned.get(name, ""))
        if self.written:  # where later steps (texture variations) find the pseudo-GT textures
            results_import.mark_result_folder(self.made["object"], os.path.abspath(self.written))
        props.result_object = self.made["object"]
        props.result_collection = self.made["collection"]
        obj = self.made["object"]
        ious = [v.iou for v in props.views if not v.pruned and v.iou >= 0]
        mean_iou = f", mean IoU {sum(ious) / len(ious):.3f}" if ious else ""
        props.result_summary = (f"{len(obj.data.polygons)} faces, {len(keep)} views used, "
                                f"{len(pruned)} pruned{mean_iou}, {self.config.camera_trust} cameras")
        if context.view_layer is not None:
            results_import.select_only(context.view_layer, [obj])
        took = self.job.finished - self.job.started if self.job.finished else 0.0
        saved = f"; saved to {self.written}" if self.written else ""
        if not self.out_dir and scene.texforge.output_dir:
            saved = f"; {results_import.UNSAVED_NOTE}"
        if self.write_error:
            print(f"[TexForge] could not write the result folder {self.out_dir}: {self.write_error}")
            saved = f"; the result folder could not be written ({self.write_error})"
        return {"INFO"}, f"TexForge: '{obj.name}' reconstructed in {took:.0f} s ({props.result_summary}){saved}"


def prepare_run(context, cameras=None, preset: str = "", max_image_size: int = 0,
                camera_trust: str = "") -> ReconstructionRun:
    """Main thread: gather the inputs of a run (raises InputError / RuntimeError with a clear message)."""
    scene = context.scene
    props = scene.texforge
    cameras = scene_inputs.selected_cameras(context) if cameras is None else list(cameras)
    problem = scene_inputs.cameras_problem(scene, cameras)
    if problem:
        from texforge.runtime.errors import InputError
        raise InputError(problem)
    folder = results_import.result_folder(scene)
    if folder:  # before any pixels are read: a result that cannot be written is found out now
        from texforge.results import check_out_dir
        check_out_dir(folder, overwrite_hint="choose another Output Folder")
    max_size = max_image_size or props.max_image_size
    dataset = scene_inputs.gather_dataset(scene, cameras, props.mask_source, max_size=max_size)
    device = preferences.job_device(context)
    import texforge.pipelines.multiview as multiview
    config = multiview.MultiviewConfig.preset(preset or props.preset, camera_trust=camera_trust or props.camera_trust,
                                              refine_focal=props.refine_focal)
    return ReconstructionRun(scene, cameras, dataset, config, device, folder)


class TEXFORGE_OT_reconstruct(JobOperator, bpy.types.Operator):
    """Reconstruct a textured mesh from the selected cameras' background photos (and correct the cameras)"""

    bl_idname = "texforge.reconstruct"
    bl_label = "Reconstruct"
    bl_options = {"UNDO"}  # no REGISTER: a redo panel would silently re-run the whole optimisation

    preset: StringProperty(name="Preset", default="", options={"SKIP_SAVE", "HIDDEN"},
                           description="Override the scene's preset (e.g. 'tiny' for tests); empty: the scene's")
    max_image_size: IntProperty(name="Max Image Size", default=0, min=0, options={"SKIP_SAVE", "HIDDEN"},
                                description="Override the scene's working image size (0: the scene's)")
    camera_trust: StringProperty(name="Camera Trust", default="", options={"SKIP_SAVE", "HIDDEN"},
                                 description="Override the scene's camera trust ('calibrated', 'approximate' or "
                                             "'rough'); empty: the scene's")

    @classmethod
    def poll(cls, context):
        if not super().poll(context):
            return False
        problem = scene_inputs.selection_problem(context)
        if problem:
            cls.poll_message_set(problem)
            return False
        return True

    def prepare_job(self, context) -> ReconstructionRun | None:
        try:
            run = prepare_run(context, preset=self.preset, max_image_size=self.max_image_size,
                              camera_trust=self.camera_trust)
        except (ValueError, RuntimeError, ImportError, AttributeError) as exc:
            self.report({"ERROR"}, f"TexForge: {job_mod.error_text(exc)}")
            return None
        skipped = scene_inputs.skipped_cameras_warning(scene_inputs.skipped_corrected_cameras(context))
        for w in ([skipped] if skipped else []) + list(run.dataset.warnings):
            self.report({"WARNING"}, f"TexForge: {w}")
        return run


class TEXFORGE_OT_apply_corrected_cameras(bpy.types.Operator):
    """Move the original cameras to the corrected poses of the last reconstruction (undoable)"""

    bl_idname = "texforge.apply_corrected_cameras"
    bl_label = "Apply Corrected Cameras"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        views = context.scene.texforge.views
        if not any(v.camera is not None and v.corrected is not None for v in views):
            cls.poll_message_set("No corrected cameras: run Reconstruct first")
            return False
        return True

    def execute(self, context):
        from texforge_blender import camera as blender_camera
        scene = context.scene
        pairs = [(v.camera, v.corrected) for v in scene.texforge.views
                 if v.camera is not None and v.corrected is not None]
        # Check everything first, so that the cameras are either all moved or none is.
        for src, _ in pairs:
            if src.parent is not None:
                self.report({"ERROR"}, f"TexForge: camera '{src.name}' is parented; clear its parent "
                                       f"(keep transform) before applying corrected cameras")
                return {"CANCELLED"}
            if src.data.users > 1:
                self.report({"ERROR"}, f"TexForge: camera data '{src.data.name}' of '{src.name}' is shared by "
                                       f"{src.data.users} objects; make it single-user first")
                return {"CANCELLED"}
        w, h = scene_inputs.render_size(scene)
        for src, corrected in pairs:
            K, R, t, cw, ch = blender_camera.camera_krt(scene, corrected)
            K = results_import.scale_intrinsics(K, (cw, ch), (w, h))
            blender_camera.apply_krt(scene, src, K, R, t, w, h, set_render_size=False)
        self.report({"INFO"}, f"TexForge: moved {len(pairs)} cameras to their corrected poses")
        return {"FINISHED"}


CLASSES = (TEXFORGE_OT_reconstruct, TEXFORGE_OT_apply_corrected_cameras)
register, unregister = bpy.utils.register_classes_factory(CLASSES)
