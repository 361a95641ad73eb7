"""Swaps and interpolation between two single-image reconstructions of one category model (seed 004's
shape / texture swaps, seed 002's latent space): every reconstruction of a model lies on the model's one
template, so their UV maps align and a texture fits any of their shapes.

* texforge.swap_texture: a new object with the active object's shape and the other one's texture;
* texforge.swap_shape: the reverse (the other one's shape with the active object's texture);
* texforge.interpolate_reconstructions: new objects from the model's generator along the great circle
  between the two latents (inversion results only: the encoder's preview has no latent).

Each creates new objects, meshes and materials; the selected objects are never modified.
"""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import IntProperty

from ..convert import results_import, single_photo
from ..runtime import job as job_mod

SPACING = 1.5   # new objects are placed this many object sizes beside their source, to be seen side by side


def selected_pair(context) -> tuple[list, str | None]:
    """([active object, the other selected object], why they cannot be swapped or None)."""
    selected = [o for o in context.selected_objects if o.type == "MESH"]
    active = context.active_object
    if active in selected:
        selected.remove(active)
        selected.insert(0, active)
    return selected, single_photo.pair_problem(selected)


def _beside(src: bpy.types.Object, obj: bpy.types.Object, steps: float = 1.0) -> None:
    obj.matrix_world = src.matrix_world.copy()
    obj.location.x += steps * SPACING * max(max(src.dimensions), 1e-3)


def textured_copy(scene, shape_of: bpy.types.Object, texture_of: bpy.types.Object, name: str) -> bpy.types.Object:
    """A new object: ``shape_of``'s mesh (copied) with a new material using ``texture_of``'s texture image."""
    image = single_photo.texture_image_of(texture_of)
    if image is None:
        raise ValueError(f"'{texture_of.name}' has no texture image in its material")
    mesh = shape_of.data.copy()
    mat = None
    try:
        mesh.name = results_import.unique_name(name, bpy.data.meshes)
        mesh.materials.clear()
        mat = results_import.textured_material(results_import.unique_name(f"{name} Material", bpy.data.materials),
                                               image)
        mesh.materials.append(mat)
        obj = bpy.data.objects.new(results_import.unique_name(name, bpy.data.objects), mesh)
    except BaseException:
        bpy.data.meshes.remove(mesh)
        if mat is not None:
            bpy.data.materials.remove(mat)
        raise
    (shape_of.users_collection[0] if shape_of.users_collection else scene.collection).objects.link(obj)
    _beside(shape_of, obj)
    single_photo.tag_result(obj, shape_of[single_photo.MODEL_KEY], "swap")
    return obj


class _PairOperator:
    @classmethod
    def poll(cls, context):
        _, problem = selected_pair(context)
        if problem:
            cls.poll_message_set(problem)
            return False
        return True


class _Swap(_PairOperator):
    swap_shape = False

    def execute(self, context):
        objects, problem = selected_pair(context)
        if problem:
            self.report({"ERROR"}, f"TexForge: {problem}")
            return {"CANCELLED"}
        a, b = objects
        shape_of, texture_of = (b, a) if self.swap_shape else (a, b)
        try:
            obj = textured_copy(context.scene, shape_of, texture_of,
                                f"{shape_of.name} shape + {texture_of.name} texture")
        except ValueError as exc:
            self.report({"ERROR"}, f"TexForge: {exc}")
            return {"CANCELLED"}
        results_import.select_only(context.view_layer, [obj])
        self.report({"INFO"}, f"TexForge: made '{obj.name}'")
        return {"FINISHED"}


class TEXFORGE_OT_swap_texture(_Swap, bpy.types.Operator):
    """New object: the active reconstruction's shape with the other selected reconstruction's texture"""

    bl_idname = "texforge.swap_texture"
    bl_label = "Swap Texture"
    bl_options = {"REGISTER", "UNDO"}


class TEXFORGE_OT_swap_shape(_Swap, bpy.types.Operator):
    """New object: the other selected reconstruction's shape with the active reconstruction's texture"""

    bl_idname = "texforge.swap_shape"
    bl_label = "Swap Shape"
    bl_options = {"REGISTER", "UNDO"}

    swap_shape = True


def interpolated_meshes(model_dir: str, z1: np.ndarray, z2: np.ndarray, count: int, device: str = "cpu"):
    """``count`` TexturedMeshes strictly between the latents z1 and z2 (slerp) from the model's generator."""
    import torch

    from texforge.mesh.types import TexturedMesh
    from texforge.models.category_prior import load_category_prior
    from texforge.pipelines.category.generate import interpolation_latents
    from texforge.runtime.errors import InputError

    prior = load_category_prior(model_dir, device)
    for z in (z1, z2):
        if len(z) != prior.latent_dim:
            raise InputError(f"a recorded latent has {len(z)} values; the model in {model_dir} expects "
                             f"{prior.latent_dim} (was it retrained?)")
    zs = interpolation_latents(torch.as_tensor(z1), torch.as_tensor(z2), count + 2)[1:-1]
    tpl = prior.template
    faces, uvs, face_uvs = tpl.faces.cpu().numpy(), tpl.uvs.cpu().numpy().astype(np.float32), tpl.face_uvs.cpu().numpy()
    meshes = []
    with torch.no_grad():
        for z in zs:   # one at a time: each object on its own, as the generator makes them
            deformation, texture = prior.maps(z[None].to(device))
            verts = tpl.vertices_of(deformation)[0]
            meshes.append(TexturedMesh(verts.cpu().numpy().astype(np.float32), faces, uvs, face_uvs,
                                       texture[0].permute(1, 2, 0).clamp(0, 1).cpu().numpy().astype(np.float32)))
    return meshes, zs.cpu().numpy()


class TEXFORGE_OT_interpolate_reconstructions(_PairOperator, bpy.types.Operator):
    """New objects between the two selected inversion results, along the model's latent space"""

    bl_idname = "texforge.interpolate_reconstructions"
    bl_label = "Interpolate"
    bl_options = {"REGISTER", "UNDO"}

    steps: IntProperty(name="Objects", default=3, min=1, max=32,
                       description="How many new objects between the two reconstructions")

    def execute(self, context):
        (objects, problem) = selected_pair(context)
        if problem:
            self.report({"ERROR"}, f"TexForge: {problem}")
            return {"CANCELLED"}
        a, b = objects
        latents = [single_photo.latent_of(o) for o in (a, b)]
        missing = [o.name for o, z in zip((a, b), latents) if z is None or len(z) == 0]
        if missing:
            self.report({"ERROR"}, f"TexForge: {', '.join(repr(n) for n in missing)} has no latent: interpolation "
                                   "needs two inversion results (the encoder preview and swaps have none); "
                                   "reconstruct in Inversion mode")
            return {"CANCELLED"}
        model_dir = a[single_photo.MODEL_KEY]
        try:
            meshes, zs = interpolated_meshes(model_dir, latents[0], latents[1], self.steps)
        except (ValueError, RuntimeError, ImportError, OSError) as exc:
            self.report({"ERROR"}, f"TexForge: {job_mod.error_text(exc)}")
            return {"CANCELLED"}
        scene = context.scene
        made = {"collection": results_import.new_collection(scene, f"TexForge {a.name} to {b.name}"), "items": []}
        try:
            for i, (mesh, z) in enumerate(zip(meshes, zs)):
                name = f"{a.name} to {b.name} {i + 1}"
                image = results_import.texture_image(results_import.unique_name(f"{name} Texture", bpy.data.images),
                                                     mesh.texture)
                made["items"].append(image)
                mat = results_import.textured_material(
                    results_import.unique_name(f"{name} Material", bpy.data.materials), image)
                made["items"].append(mat)
                obj = results_import.mesh_object(results_import.unique_name(name, bpy.data.objects), mesh,
                                                 made["collection"], mat)
                made["items"].append(obj)
                _beside(a, obj, i + 1)
                single_photo.tag_result(obj, model_dir, "interpolation", z)
        except BaseException:
            for item in reversed(made["items"]):
                if isinstance(item, bpy.types.Object):
                    data = item.data
                    bpy.data.objects.remove(item, do_unlink=True)
                    bpy.data.meshes.remove(data)
                elif isinstance(item, bpy.types.Material):
                    bpy.data.materials.remove(item)
                else:
                    bpy.data.images.remove(item)
            bpy.data.collections.remove(made["collection"])
            raise
        objs = [o for o in made["items"] if isinstance(o, bpy.types.Object)]
        results_import.select_only(context.view_layer, objs)
        self.report({"INFO"}, f"TexForge: made {len(objs)} objects between '{a.name}' and '{b.name}'")
        return {"FINISHED"}


CLASSES = (TEXFORGE_OT_swap_texture, TEXFORGE_OT_swap_shape, TEXFORGE_OT_interpolate_reconstructions)
register, unregister = bpy.utils.register_classes_factory(CLASSES)
