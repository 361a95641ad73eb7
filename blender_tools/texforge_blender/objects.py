"""TexturedMesh arrays -> new Blender datablocks: a packed texture image, a textured material, a mesh
object with its UV map. The one way TexForge builds objects, shared by the add-on (results import) and
the headless Blender tools (collection rendering). Main thread only.
"""

from __future__ import annotations

import bpy
import numpy as np


def texture_image(name: str, texture: np.ndarray, pack: bool = True) -> bpy.types.Image:
    """A new image datablock from texture (H, W, 3|4) float in [0, 1], row 0 on top; packed as PNG so
    that the .blend and exported GLBs embed it."""
    tex = np.clip(np.asarray(texture, dtype=np.float32), 0.0, 1.0)
    if tex.ndim == 2:
        tex = tex[..., None].repeat(3, axis=-1)
    h, w, c = tex.shape
    if not np.all(np.isfinite(tex)):
        raise ValueError(f"texture for '{name}' holds NaN or infinite values")
    rgba = np.ones((h, w, 4), dtype=np.float32)
    rgba[..., :min(c, 4)] = tex[..., :4]
    img = bpy.data.images.new(name, width=w, height=h, alpha=c == 4, float_buffer=False)
    img.pixels.foreach_set(rgba[::-1].ravel())  # Blender stores the bottom row first
    img.file_format = "PNG"
    if pack:
        img.pack()
    return img


def textured_material(name: str, image: bpy.types.Image | None) -> bpy.types.Material:
    """A material whose Principled BSDF Base Color comes from an Image Texture node holding ``image``."""
    mat = bpy.data.materials.new(name)
    if mat.node_tree is None:  # Blender < 5.0 made materials without nodes
        mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = next((n for n in nodes if n.type == "BSDF_PRINCIPLED"), None)
    if bsdf is None:
        bsdf = nodes.new("ShaderNodeBsdfPrincipled")
        out = next((n for n in nodes if n.type == "OUTPUT_MATERIAL"), None) or nodes.new("ShaderNodeOutputMaterial")
        links.new(bsdf.outputs[0], out.inputs[0])
    # Photo textures already hold the lighting; a rough, non-metallic surface shows them as they are.
    bsdf.inputs["Roughness"].default_value = 0.9
    if image is not None:
        tex = nodes.new("ShaderNodeTexImage")
        tex.image = image
        tex.location = (bsdf.location.x - 400, bsdf.location.y)
        links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    return mat


def mesh_object(name: str, mesh, collection: bpy.types.Collection, material: bpy.types.Material | None = None,
                smooth: bool = True) -> bpy.types.Object:
    """A new object from a ``TexturedMesh`` (vertices (V, 3) world coords, faces (F, 3), uvs (T, 2) v-up,
    face_uvs (F, 3)); identity transform, so world coordinates map 1:1."""
    verts = np.asarray(mesh.vertices, dtype=np.float32).reshape(-1, 3)
    faces = np.asarray(mesh.faces, dtype=np.int64).reshape(-1, 3)
    if len(faces) == 0:
        raise ValueError(f"mesh '{name}' has no faces")
    if not np.all(np.isfinite(verts)):
        raise ValueError(f"mesh '{name}' holds NaN or infinite vertex positions")
    if faces.min() < 0 or faces.max() >= len(verts):
        raise ValueError(f"mesh '{name}' has face indices outside its {len(verts)} vertices")
    me = bpy.data.meshes.new(name)
    me.vertices.add(len(verts))
    me.vertices.foreach_set("co", verts.ravel())
    me.loops.add(3 * len(faces))
    me.loops.foreach_set("vertex_index", faces.ravel().astype(np.int32))
    me.polygons.add(len(faces))
    me.polygons.foreach_set("loop_start", np.arange(0, 3 * len(faces), 3, dtype=np.int32))
    if mesh.uvs is not None and mesh.face_uvs is not None:
        uv_layer = me.uv_layers.new(name="UVMap")
        corner_uvs = np.asarray(mesh.uvs, dtype=np.float32)[np.asarray(mesh.face_uvs).reshape(-1)]
        uv_layer.data.foreach_set("uv", corner_uvs.ravel())
    me.update()
    if me.validate(clean_customdata=False):
        print(f"[TexForge] mesh '{name}': Blender fixed invalid geometry on import")
    if smooth:
        me.shade_smooth()
    if material is not None:
        me.materials.append(material)
    obj = bpy.data.objects.new(name, me)
    collection.objects.link(obj)
    return obj
