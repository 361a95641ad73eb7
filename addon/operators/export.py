"""texforge.export_game_asset: a textured mesh object -> a GLB that game engines take as is.

What engines expect (see DESIGN.md): Y-up metres (Blender's exporter converts), transforms applied,
power-of-two textures embedded in the file, one clean Image Texture -> Principled material, a
triangle budget. The export works on temporary copies (object, mesh, material, image) that are
removed afterwards, so the user's data is never modified: a texture is resized on a copy, a
Decimate modifier lives on the copied object and is applied by the exporter.
"""

from __future__ import annotations

import os

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty
from bpy_extras.io_utils import ExportHelper
from mathutils import Matrix

from texforge.atomic import atomic_path

TEXTURE_SIZE_ITEMS = (
    ("AUTO", "Nearest Power of Two", "Each side rounded to the nearest power of two (at most 8192)"),
    ("256", "256", "Longest side 256 px"),
    ("512", "512", "Longest side 512 px"),
    ("1024", "1024", "Longest side 1024 px"),
    ("2048", "2048", "Longest side 2048 px"),
    ("4096", "4096", "Longest side 4096 px"),
)


def nearest_pow2(n: float, lo: int = 1, hi: int = 8192) -> int:
    """The power of two closest to n (in log scale), clamped to [lo, hi]."""
    p = 1
    while p * 2 <= n:
        p *= 2
    best = p * 2 if (p * 2) / n < n / p else p
    return int(min(max(best, lo), hi))


def pow2_size(width: int, height: int, longest: int | None) -> tuple[int, int]:
    """Power-of-two (W, H) keeping the aspect ratio roughly; ``longest`` fixes the longest side."""
    if longest:
        s = longest / max(width, height)
        width, height = width * s, height * s
    return nearest_pow2(width), nearest_pow2(height)


def base_color_image(obj: bpy.types.Object):
    """(material, image node, image) feeding Base Color of the object's first Principled BSDF, or Nones."""
    for slot in obj.material_slots:
        mat = slot.material
        if mat is None or mat.node_tree is None:
            continue
        for node in mat.node_tree.nodes:
            if node.type != "BSDF_PRINCIPLED":
                continue
            sock = node.inputs.get("Base Color")
            if sock is None or not sock.is_linked:
                continue
            src = sock.links[0].from_node
            if src.type == "TEX_IMAGE" and src.image is not None:
                return mat, src, src.image
    return None, None, None


def triangle_count(obj: bpy.types.Object) -> int:
    """Triangles of the object as evaluated (modifiers applied)."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    eval_obj = obj.evaluated_get(depsgraph)
    mesh = eval_obj.to_mesh()
    try:
        mesh.calc_loop_triangles()
        return len(mesh.loop_triangles)
    finally:
        eval_obj.to_mesh_clear()


def linear_to_srgb(rgb: np.ndarray) -> np.ndarray:
    """The sRGB transfer function (IEC 61966-2-1) on linear Rec.709 values, clipped to [0, 1]."""
    rgb = np.clip(rgb, 0.0, 1.0)
    return np.where(rgb <= 0.0031308, 12.92 * rgb, 1.055 * np.power(rgb, 1 / 2.4) - 0.055).astype(np.float32)


def export_texture(image: bpy.types.Image, longest: int | None = None) -> bpy.types.Image:
    """A new packed PNG image with the pixels of ``image`` at power-of-two sides (see pow2_size), for
    the exporter.

    Every texture takes this one path, resized or not: the pixels are read from the user's image
    (packed, on disk or generated alike) into a new image that owns its buffer. A copy of a packed
    image is not enough: packing a copy that has no modified buffer and no file drops its data, and
    Blender's glTF exporter then silently leaves the texture out."""
    w, h = image.size
    if w == 0 or h == 0:
        raise ValueError(f"texture '{image.name}' has no pixels (missing file?)")
    size = pow2_size(w, h, longest)
    ch = image.channels
    px = np.empty(w * h * ch, np.float32)
    image.pixels.foreach_get(px)
    px = px.reshape(h, w, ch)
    if ch < 3:  # grey (+ alpha) -> RGB(A)
        px = np.concatenate([np.repeat(px[..., :1], 3, axis=-1), px[..., 1:]], axis=-1)
    alpha = px.shape[-1] == 4
    rgba = px if alpha else np.concatenate([px, np.ones((h, w, 1), np.float32)], axis=-1)
    if image.is_float:
        # Float buffers hold scene-linear values and would be packed as EXR, which the exporter re-encodes
        # through the scene's view transform; a glTF base colour is an 8-bit sRGB image, so encode it here.
        rgba = np.concatenate([linear_to_srgb(rgba[..., :3]), rgba[..., 3:]], axis=-1)
    img = bpy.data.images.new(f"{image.name} {size[0]}x{size[1]}", width=w, height=h, alpha=alpha,
                              float_buffer=False)
    try:
        if not image.is_float:
            img.colorspace_settings.name = image.colorspace_settings.name
        img.pixels.foreach_set(rgba.ravel())
        if (w, h) != tuple(size):
            img.scale(*size)
        img.file_format = "PNG"
        img.pack()
    except BaseException:
        bpy.data.images.remove(img)
        raise
    if img.packed_file is None:
        bpy.data.images.remove(img)
        raise RuntimeError(f"texture '{image.name}' could not be packed for export")
    return img


def export_game_asset(context, obj: bpy.types.Object, filepath: str, triangle_budget: int = 0,
                      texture_size: str = "AUTO", draco: bool = False, overwrite: bool = False) -> dict:
    """Export ``obj`` to ``filepath`` (.glb); returns {path, triangles, texture_size (W, H) or None, bytes}.

    Never overwrites an existing file unless ``overwrite``; the file appears atomically (written to a
    temporary name, then renamed) with ordinary permissions. Raises ValueError / FileExistsError with
    the reason."""
    if obj is None or obj.type != "MESH":
        raise ValueError("select the mesh object to export (a mesh, e.g. a TexForge result)")
    if len(obj.data.polygons) == 0:
        raise ValueError(f"object '{obj.name}' has no faces")
    filepath = os.path.abspath(filepath)
    if not filepath.lower().endswith(".glb"):
        raise ValueError(f"'{filepath}': the file name must end in .glb")
    exists = f"'{filepath}' already exists (enable Overwrite to replace it)"
    if os.path.exists(filepath) and not overwrite:
        raise FileExistsError(exists)
    scene = context.scene
    view_layer = context.view_layer
    temp = {"collection": None, "object": None, "mesh": None, "material": None, "image": None}
    view_layer.update()  # objects in new collections join view_layer.objects only after a sync
    selected = [o for o in view_layer.objects if o is not None and o.select_get()]
    active = view_layer.objects.active
    try:
        coll = temp["collection"] = bpy.data.collections.new("TexForge Export (temporary)")
        scene.collection.children.link(coll)
        copy = temp["object"] = obj.copy()
        copy.data = temp["mesh"] = obj.data.copy()
        # The GLB node takes the object's name: give it to the copy (not "Name.001") while exporting.
        temp["name"] = obj.name
        obj.name = f"{temp['name']} (exporting)"
        copy.name = temp["name"]
        copy.animation_data_clear()
        copy.parent = None
        coll.objects.link(copy)
        # Apply the object transform to the vertices: engines get an identity node.
        m = obj.matrix_world.copy()
        copy.data.transform(m)
        if m.determinant() < 0:
            copy.data.flip_normals()
        copy.matrix_world = Matrix.Identity(4)
        tex_size = None
        mat, node, image = base_color_image(obj)
        if image is not None:
            img = temp["image"] = export_texture(image, None if texture_size == "AUTO" else int(texture_size))
            tex_size = tuple(img.size)
            new_mat = temp["material"] = mat.copy()
            new_mat.node_tree.nodes[node.name].image = img
            for slot in copy.material_slots:
                if slot.material == mat:
                    slot.material = new_mat
        tris = triangle_count(copy)
        if triangle_budget and tris > triangle_budget:
            mod = copy.modifiers.new("TexForge Decimate", "DECIMATE")
            mod.decimate_type = "COLLAPSE"
            mod.use_collapse_triangulate = True
            mod.ratio = triangle_budget / tris
            tris = triangle_count(copy)
        view_layer.update()
        for o in selected:
            o.select_set(False)
        copy.select_set(True)
        view_layer.objects.active = copy
        try:
            with atomic_path(filepath, overwrite=overwrite, suffix=".glb") as tmp_path:
                result = bpy.ops.export_scene.gltf(
                    filepath=str(tmp_path), check_existing=False, export_format="GLB", use_selection=True,
                    export_yup=True, export_apply=True, export_materials="EXPORT", export_image_format="AUTO",
                    export_draco_mesh_compression_enable=draco, export_cameras=False, export_lights=False,
                    export_animations=False, export_extras=False)
                if "FINISHED" not in result:
                    raise RuntimeError(f"Blender's glTF exporter returned {sorted(result)}")
        except FileExistsError:  # appeared while exporting
            raise FileExistsError(exists) from None
        return {"path": filepath, "triangles": tris, "texture_size": tex_size, "bytes": os.path.getsize(filepath)}
    finally:
        if temp["object"] is not None:
            bpy.data.objects.remove(temp["object"], do_unlink=True)
        if temp.get("name"):
            obj.name = temp["name"]
        for key, coll in (("mesh", bpy.data.meshes), ("material", bpy.data.materials), ("image", bpy.data.images),
                          ("collection", bpy.data.collections)):
            if temp[key] is not None:
                coll.remove(temp[key])
        for o in selected:
            if o.name in view_layer.objects:
                o.select_set(True)
        if active is not None and active.name in view_layer.objects:
            view_layer.objects.active = active


def summary_text(info: dict) -> str:
    tex = f"{info['texture_size'][0]}x{info['texture_size'][1]} texture" if info["texture_size"] else "no texture"
    size = info["bytes"]
    human = f"{size / 1e6:.2f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"
    return f"{info['triangles']} triangles, {tex}, {human}"


class TEXFORGE_OT_export_game_asset(bpy.types.Operator, ExportHelper):
    """Export the active mesh as a game-ready GLB (Y-up metres, applied transforms, power-of-two texture)"""

    bl_idname = "texforge.export_game_asset"
    bl_label = "Export Game Asset"
    bl_options = {"REGISTER"}

    filename_ext = ".glb"
    filter_glob: StringProperty(default="*.glb", options={"HIDDEN"})
    check_existing: BoolProperty(default=True, options={"HIDDEN"})
    overwrite: BoolProperty(name="Overwrite", default=False, description="Replace an existing file")
    triangle_budget: IntProperty(name="Triangle Budget", default=0, min=0,
                                 description="Decimate to at most this many triangles (0: keep all)")
    texture_size: EnumProperty(name="Texture Size", items=TEXTURE_SIZE_ITEMS, default="AUTO")
    draco: BoolProperty(name="Draco Compression", default=False,
                        description="Compress the geometry with Draco (smaller file; the engine needs a decoder)")

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        if obj is None or obj.type != "MESH":
            cls.poll_message_set("Make the mesh to export the active object")
            return False
        return True

    def invoke(self, context, event):
        if not self.filepath:
            base = os.path.dirname(bpy.data.filepath) if bpy.data.filepath else os.path.expanduser("~")
            self.filepath = os.path.join(base, bpy.path.clean_name(context.active_object.name) + ".glb")
        return ExportHelper.invoke(self, context, event)

    def execute(self, context):
        try:
            info = export_game_asset(context, context.active_object, bpy.path.abspath(self.filepath),
                                     self.triangle_budget, self.texture_size, self.draco, self.overwrite)
        except (ValueError, OSError, RuntimeError) as exc:
            self.report({"ERROR"}, f"TexForge: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"TexForge: exported '{info['path']}': {summary_text(info)}")
        return {"FINISHED"}


CLASSES = (TEXFORGE_OT_export_game_asset,)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
