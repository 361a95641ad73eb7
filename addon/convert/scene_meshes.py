"""A collection of the scene -> a folder of GLB files, one per object, for the collection renderer.

Each mesh-like object (mesh, curve, text, surface, metaball) is read as Blender evaluates it (modifiers
applied), triangulated, in world space, with its active UV map and the image of its first material's
Image Texture node (the one feeding Base Color when there is one); an object without an image gets a
small texture of its base colour. Only the first material's image is taken: a category example is one
object with one texture. Main thread only; the objects are only read.
"""

from __future__ import annotations

import os
import re

import bpy
import numpy as np

from . import scene_inputs

MESH_TYPES = {"MESH", "CURVE", "SURFACE", "META", "FONT"}


def _input_error(message: str) -> Exception:
    from texforge.runtime.errors import InputError
    return InputError(message)


def collection_objects(collection: bpy.types.Collection) -> list[bpy.types.Object]:
    """The collection's mesh-like objects, its child collections' included, by name."""
    return sorted((o for o in collection.all_objects if o.type in MESH_TYPES), key=lambda o: o.name)


def _material_image(obj: bpy.types.Object) -> tuple[bpy.types.Image | None, tuple]:
    """(image feeding the first material's Base Color, or its first image node; base colour RGB)."""
    mat = next((s.material for s in obj.material_slots if s.material is not None), None)
    if mat is None or mat.node_tree is None:
        colour = tuple(mat.diffuse_color[:3]) if mat is not None else (0.8, 0.8, 0.8)
        return None, colour
    nodes = mat.node_tree.nodes
    bsdf = next((n for n in nodes if n.type == "BSDF_PRINCIPLED"), None)
    colour = tuple(bsdf.inputs["Base Color"].default_value[:3]) if bsdf is not None else tuple(mat.diffuse_color[:3])
    if bsdf is not None:
        for link in bsdf.inputs["Base Color"].links:
            if link.from_node.type == "TEX_IMAGE" and link.from_node.image is not None:
                return link.from_node.image, colour
    image_node = next((n for n in nodes if n.type == "TEX_IMAGE" and n.image is not None), None)
    return (image_node.image if image_node is not None else None), colour


def object_textured_mesh(obj: bpy.types.Object, depsgraph):
    """The evaluated object as a TexturedMesh in world space (None when it has no faces)."""
    from texforge.mesh.types import TexturedMesh

    evaluated = obj.evaluated_get(depsgraph)
    me = evaluated.to_mesh()
    try:
        me.calc_loop_triangles()
        if len(me.loop_triangles) == 0:
            return None
        co = np.empty(3 * len(me.vertices), dtype=np.float32)
        me.vertices.foreach_get("co", co)
        m = np.asarray(evaluated.matrix_world, dtype=np.float64)
        verts = (co.reshape(-1, 3) @ m[:3, :3].T + m[:3, 3]).astype(np.float32)
        tri_verts = np.empty(3 * len(me.loop_triangles), dtype=np.int32)
        me.loop_triangles.foreach_get("vertices", tri_verts)
        tri_loops = np.empty(3 * len(me.loop_triangles), dtype=np.int32)
        me.loop_triangles.foreach_get("loops", tri_loops)
        faces = tri_verts.reshape(-1, 3).astype(np.int64)
        image, colour = _material_image(obj)
        uv_layer = me.uv_layers.active
        if image is not None and uv_layer is not None:
            uv = np.empty(2 * len(me.loops), dtype=np.float32)
            uv_layer.data.foreach_get("uv", uv)
            uvs = uv.reshape(-1, 2)
            face_uvs = tri_loops.reshape(-1, 3).astype(np.int64)
            pixels = scene_inputs.image_pixels(image)
            # grey (+ alpha) images: the grey channel as RGB; colour images: RGB without alpha
            texture = pixels[..., :3] if pixels.shape[-1] >= 3 else np.repeat(pixels[..., :1], 3, axis=-1)
            uvs = np.mod(uvs, 1.0)  # tiled UVs: the texture repeats, so the wrapped coordinate shows the same
        else:  # a flat colour: every corner at the centre of a tiny texture of it
            uvs = np.full((1, 2), 0.5, dtype=np.float32)
            face_uvs = np.zeros_like(faces)
            texture = np.broadcast_to(np.clip(np.asarray(colour, np.float32), 0, 1), (4, 4, 3)).copy()
        return TexturedMesh(verts, faces, uvs, face_uvs, np.ascontiguousarray(texture, dtype=np.float32))
    finally:
        evaluated.to_mesh_clear()


def _file_name(index: int, name: str) -> str:
    return f"{index:04d}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)[:48]}.glb"


def export_collection(collection: bpy.types.Collection, folder: str, depsgraph) -> list[str]:
    """Write every object of ``collection`` as FOLDER/NNNN_<name>.glb; the folder's earlier GLB files
    (an earlier export of the same model) are replaced. InputError when no object has faces."""
    from texforge.mesh.io import write_glb

    objects = collection_objects(collection)
    if not objects:
        raise _input_error(f"collection '{collection.name}' holds no mesh objects: put the category's example "
                           "objects into it")
    meshes = []
    for obj in objects:
        mesh = object_textured_mesh(obj, depsgraph)
        if mesh is not None:
            meshes.append((obj.name, mesh))
    if not meshes:
        raise _input_error(f"collection '{collection.name}': none of its {len(objects)} objects has faces")
    os.makedirs(folder, exist_ok=True)
    for old in os.listdir(folder):
        if old.endswith(".glb"):
            os.remove(os.path.join(folder, old))
    written = []
    for i, (name, mesh) in enumerate(meshes):
        try:
            written.append(str(write_glb(os.path.join(folder, _file_name(i, name)), mesh, name=name)))
        except ValueError as err:
            raise _input_error(f"object '{name}' of collection '{collection.name}' cannot be exported: {err}") from err
    return written
