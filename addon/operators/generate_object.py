"""Generate Objects (``texforge.generate_object``): new objects from a trained category model.

Main thread: find the model in the Models Folder and check it (its model.json and its GAN's header:
a corrupt file or a model of another layout is reported before anything runs). Worker thread: the GAN
makes the objects (``texforge.pipelines.category.generate.generate_objects``: ``count`` seeds from
``seed``, or an interpolation between two seeds). Main thread: each object becomes a mesh with its UV
map, a material and a packed texture (``texforge_blender.objects``), side by side along X from the 3D
cursor in a new collection. Nothing that existed is changed; a failure removes what was made.
"""

from __future__ import annotations

import os

import bpy
import numpy as np
from bpy.props import StringProperty

from ..convert import results_import
from ..runtime import category_models
from ..runtime import job as job_mod
from ..runtime.job_operator import JobOperator
from ..runtime.job import error_text
from ..ui.preferences import job_device

GAP = 0.25  # between neighbours, as a fraction of the widest object


class GenerationRun:
    def __init__(self, name: str, gan_path: str, scene_name: str, origin, device: str, count: int = 1,
                 seed: int = 0, interpolate: tuple[int, int, int] | None = None):
        self.name = name
        self.gan_path = gan_path
        self.scene_name = scene_name
        self.origin = np.asarray(origin, dtype=np.float64)
        self.device = device
        self.count, self.seed, self.interpolate = count, seed, interpolate
        self.job: job_mod.Job | None = None

    def _work(self, progress, should_stop):
        from texforge.pipelines.category.generate import generate_objects
        from texforge.runtime.progress import check_stop

        progress(0.05, f"generating from '{self.name}'")
        check_stop(should_stop)
        meshes, names = generate_objects(self.gan_path, count=None if self.interpolate else self.count,
                                         seed=self.seed, interpolate=self.interpolate, device=self.device,
                                         return_names=True)
        check_stop(should_stop)
        progress(1.0, f"generated {len(meshes)} objects")
        return meshes, names

    def make_job(self, extra_stop=None, echo=None) -> job_mod.Job:
        self.job = job_mod.Job("generate objects", self._work, extra_stop=extra_stop, echo=echo)
        return self.job

    def finish(self, context) -> tuple[set, str]:
        job = self.job
        try:
            if job.cancelled:
                return {"WARNING"}, "TexForge: generation cancelled; the scene is unchanged"
            if job.error is not None:
                print(f"[TexForge] generation failed:\n{job.error_traceback}")
                return {"ERROR"}, f"TexForge: generating from '{self.name}' failed: {error_text(job.error)}"
            scene = bpy.data.scenes.get(self.scene_name)
            if scene is None:
                return {"ERROR"}, f"TexForge: scene '{self.scene_name}' no longer exists; objects discarded"
            meshes, names = job.result
            made: list = []
            try:
                objects = build_objects(scene, self.name, meshes, names, self.origin, made)
            except Exception as exc:  # noqa: BLE001 - an invalid mesh or texture: leave nothing behind
                remove_made(made)
                return {"ERROR"}, f"TexForge: the objects could not be added: {error_text(exc)}"
            if context.view_layer is not None:
                results_import.select_only(context.view_layer, objects)
            return {"INFO"}, f"TexForge: {len(objects)} objects from '{self.name}' in collection '{made[0].name}'"
        finally:
            job.release()
            job_mod.release_device_memory(self.device)


def build_objects(scene, model_name: str, meshes, names, origin, made: list) -> list:
    """New collection with one textured object per mesh, side by side along X; ``made`` collects every
    datablock as it is created (the collection first)."""
    from texforge_blender.objects import mesh_object, texture_image, textured_material

    coll = results_import.new_collection(scene, f"TexForge {model_name}")
    made.append(coll)
    widths = [float(np.ptp(np.asarray(m.vertices)[:, 0])) for m in meshes]
    gap = GAP * max(widths + [1e-3])
    x = 0.0
    objects = []
    for mesh, label, width in zip(meshes, names, widths):
        base = f"{model_name} {label}"
        image = texture_image(f"{base} texture", mesh.texture)
        made.append(image)
        material = textured_material(f"{base} material", image)
        made.append(material)
        obj = mesh_object(base, mesh, coll, material)
        made.extend([obj.data, obj])
        centre = 0.5 * (np.asarray(mesh.vertices)[:, 0].min() + np.asarray(mesh.vertices)[:, 0].max())
        obj.location = tuple(origin + np.array([x + 0.5 * width - centre, 0.0, 0.0]))
        x += width + gap
        objects.append(obj)
    return objects


def remove_made(made: list) -> None:
    """Remove what ``build_objects`` made, newest first (objects before their meshes, and so on)."""
    pools = ((bpy.types.Object, bpy.data.objects), (bpy.types.Mesh, bpy.data.meshes),
             (bpy.types.Material, bpy.data.materials), (bpy.types.Image, bpy.data.images),
             (bpy.types.Collection, bpy.data.collections))
    for block in reversed(made):
        pool = next(p for t, p in pools if isinstance(block, t))
        pool.remove(block)
    made.clear()


def prepare_run(context, model: str = "") -> GenerationRun:
    """Main thread: the chosen model, checked (InputError naming the file for a corrupt or foreign one)."""
    from texforge.models.category_model import read_gan_header, read_model
    from texforge.runtime.errors import InputError

    props = context.scene.texforge
    name = (model or props.generate_model).strip()
    if not name:
        raise InputError("choose a category model to generate from (train one first)")
    folder = category_models.model_path(category_models.models_folder(context), name)
    if not os.path.isdir(folder):
        raise InputError(f"no category model '{name}' in {os.path.dirname(folder)}")
    gan = read_model(folder).part("gan")
    read_gan_header(gan)
    interpolate = None
    if props.generate_interpolate:
        interpolate = (props.generate_seed, props.generate_seed_to, props.generate_steps)
    return GenerationRun(name, str(gan), context.scene.name, context.scene.cursor.location, job_device(context),
                         count=props.generate_count, seed=props.generate_seed, interpolate=interpolate)


class TEXFORGE_OT_generate_object(JobOperator, bpy.types.Operator):
    """New textured objects from the chosen category model, side by side in a new collection"""

    bl_idname = "texforge.generate_object"
    bl_label = "Generate Objects"
    bl_options = {"UNDO"}

    model: StringProperty(name="Model", default="", options={"SKIP_SAVE", "HIDDEN"},
                          description="Override the scene's chosen model; empty: the scene's")

    def prepare_job(self, context) -> GenerationRun | None:
        try:
            return prepare_run(context, self.model)
        except (ValueError, RuntimeError, ImportError, OSError) as exc:
            self.report({"ERROR"}, f"TexForge: {error_text(exc)}")
            return None


CLASSES = (TEXFORGE_OT_generate_object,)
register, unregister = bpy.utils.register_classes_factory(CLASSES)
