"""texforge.generate_texture_variations: a reconstructed object -> a texture GAN's best texture and K
variations, as new materials on the object.

1. ``prepare_run`` (main thread): the active object's result folder (recorded on the object by
   Reconstruct, ``results_import.result_folder_of``) and the scene's texture-GAN settings.
2. the job (worker thread, or synchronously under ``blender -b``):
   ``texforge.pipelines.texture_gan.run_folder.texture_variations`` trains the GAN on the result's
   pseudo-GT textures -- or resumes / reuses the GAN of an earlier run with the same settings -- searches
   the best texture and samples the variations, writing a new folder next to the result (the trained
   GAN is kept there as safetensors).
3. ``finish`` (main thread): one new packed image and one new material per texture, appended to the
   object as extra material slots. The faces keep their material, the original material and image are
   never changed; nothing in ``bpy.data`` changes before this point, so Cancel or an error leaves the
   .blend as it was.
"""

from __future__ import annotations

import bpy
from bpy.props import IntProperty, StringProperty

from ..runtime import job as job_mod
from ..runtime.job_operator import JobOperator
from ..convert import results_import
from ..runtime.job import error_text
from ..ui.preferences import job_device


class TextureVariationsRun:
    """One texture-GAN run on one object (see the module docstring)."""

    def __init__(self, obj: bpy.types.Object, result_dir: str, preset: str, iterations: int, variations: int,
                 seed: int, device: str):
        self.object_name = obj.name
        self.result_dir = result_dir
        self.preset, self.iterations, self.variations, self.seed = preset, iterations, variations, seed
        self.device = device
        self.job: job_mod.Job | None = None

    def _work(self, progress, should_stop):
        from texforge.data.images import read_image
        from texforge.pipelines.texture_gan.run_folder import texture_variations

        folder, reused = texture_variations(self.result_dir, preset=self.preset, iterations=self.iterations or None,
                                            variations=self.variations, variation_seed=self.seed,
                                            device=self.device, progress=progress, should_stop=should_stop,
                                            log=lambda m: print(f"[TexForge] {m}"))
        names = ["best_texture"] + [f"variation_{i + 1:02d}" for i in range(self.variations)]
        textures = [(n, read_image(folder / f"{n}.png")[..., :3]) for n in names]
        return folder, reused, textures

    def make_job(self, extra_stop=None, echo=None) -> job_mod.Job:
        self.job = job_mod.Job("texture variations", self._work, extra_stop=extra_stop, echo=echo)
        return self.job

    def finish(self, context) -> tuple[set, str]:
        job = self.job
        try:
            if job.cancelled:
                return {"WARNING"}, ("TexForge texture variations cancelled; the scene is unchanged (the GAN's "
                                     "checkpoint is kept next to the result, and the next run resumes it)")
            if job.error is not None:
                print(f"[TexForge] texture variations failed:\n{job.error_traceback}")
                return {"ERROR"}, f"TexForge texture variations failed: {error_text(job.error)}"
            obj = bpy.data.objects.get(self.object_name)
            if obj is None or obj.type != "MESH":
                return {"ERROR"}, f"TexForge: object '{self.object_name}' no longer exists; textures discarded"
            folder, reused, textures = job.result
            made = results_import.add_texture_materials(obj, textures, label="GAN", source=str(folder))
            how = "reused the trained GAN" if reused else "trained the GAN"
            return {"INFO"}, (f"TexForge: {how}; added {len(made)} materials to '{obj.name}' "
                              f"(best texture and {len(made) - 1} variations, from {folder})")
        finally:
            job.release()
            job_mod.release_device_memory(self.device)


def prepare_run(context, obj=None, preset: str = "", iterations: int = -1) -> TextureVariationsRun:
    """Main thread: the object's result folder and the settings (InputError with what to do)."""
    from texforge.runtime.errors import InputError

    obj = context.active_object if obj is None else obj
    if obj is None or obj.type != "MESH":
        raise InputError("select the reconstructed mesh object (the active object is not a mesh)")
    folder = results_import.result_folder_of(obj)
    if not folder:
        raise InputError(f"'{obj.name}' records no result folder: texture variations need a reconstruction "
                         f"saved to disk (set an Output Folder, save the .blend, and run Reconstruct)")
    props = context.scene.texforge
    return TextureVariationsRun(obj, folder, preset or props.texture_gan_preset,
                                props.texture_gan_iterations if iterations < 0 else iterations,
                                props.texture_gan_variations, props.texture_gan_seed, job_device(context))


class TEXFORGE_OT_generate_texture_variations(JobOperator, bpy.types.Operator):
    """Train a texture GAN on the active reconstruction's per-view textures (or reuse its trained GAN) and add
    its best texture and variations as new materials"""

    bl_idname = "texforge.generate_texture_variations"
    bl_label = "Generate Texture Variations"
    bl_options = {"UNDO"}  # no REGISTER: a redo panel would train again

    preset: StringProperty(name="Preset", default="", options={"SKIP_SAVE", "HIDDEN"},
                           description="Override the scene's texture-GAN preset (e.g. 'tiny' for tests)")
    iterations: IntProperty(name="Iterations", default=-1, min=-1, options={"SKIP_SAVE", "HIDDEN"},
                            description="Override the scene's iterations (-1: the scene's; 0: the preset's)")

    @classmethod
    def poll(cls, context):
        if not super().poll(context):
            return False
        obj = context.active_object
        if obj is None or obj.type != "MESH" or not results_import.result_folder_of(obj):
            cls.poll_message_set("Select a reconstructed mesh saved to a result folder")
            return False
        return True

    def prepare_job(self, context) -> TextureVariationsRun | None:
        try:
            return prepare_run(context, preset=self.preset, iterations=self.iterations)
        except (ValueError, RuntimeError, ImportError) as exc:
            self.report({"ERROR"}, f"TexForge: {error_text(exc)}")
            return None


CLASSES = (TEXFORGE_OT_generate_texture_variations,)
register, unregister = bpy.utils.register_classes_factory(CLASSES)
