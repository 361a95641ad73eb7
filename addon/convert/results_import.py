"""Backend results -> new Blender data: mesh object with UVs, packed texture, material, cameras.

Everything is created new, in a new collection, so an artist's scene is only ever added to; the
functions return what they made so that a caller can remove it again (``remove_created``).
Main thread only.
"""

from __future__ import annotations

import os
import time

import bpy
import numpy as np

from texforge_blender import camera as blender_camera
from texforge_blender.objects import mesh_object, texture_image, textured_material  # noqa: F401  (used by operators)

from . import roles


def unique_name(base: str, existing) -> str:
    """``base``, or ``base.001``-style variants not in ``existing`` (a bpy collection or a set)."""
    if base not in existing:
        return base
    i = 1
    while f"{base}.{i:03d}" in existing:
        i += 1
    return f"{base}.{i:03d}"


def select_only(view_layer, objects: list) -> None:
    """Make ``objects`` the selection (the first one active). Syncs the view layer first: objects
    linked to a new collection are not in ``view_layer.objects`` until it is updated."""
    view_layer.update()
    for o in view_layer.objects:
        if o is not None and o.select_get():
            o.select_set(False)
    for o in objects:
        if o.name in view_layer.objects:
            o.select_set(True)
    if objects and objects[0].name in view_layer.objects:
        view_layer.objects.active = objects[0]


def new_collection(scene: bpy.types.Scene, name: str) -> bpy.types.Collection:
    coll = bpy.data.collections.new(unique_name(name, bpy.data.collections))
    scene.collection.children.link(coll)
    return coll


def copy_background(src_cam: bpy.types.Object | None, dst_cam: bpy.types.Object) -> None:
    """Show the source camera's photo behind the new camera too, with its mask image when it has one
    (the images are shared, not copied), so that a run from corrected cameras sees the same inputs."""
    if src_cam is None or src_cam.type != "CAMERA":
        return
    photo_done = mask_done = False
    for bg in src_cam.data.background_images:
        if bg.source != "IMAGE" or bg.image is None:
            continue
        is_mask = roles.role(bg.image) == roles.MASK
        if (mask_done if is_mask else photo_done):
            continue
        new = dst_cam.data.background_images.new()
        new.image = bg.image
        new.alpha = bg.alpha
        new.frame_method = bg.frame_method
        new.use_flip_x, new.use_flip_y = bg.use_flip_x, bg.use_flip_y
        new.show_background_image = bg.show_background_image
        dst_cam.data.show_background_images = True
        mask_done, photo_done = mask_done or is_mask, photo_done or not is_mask


def scale_intrinsics(K, src_size: tuple[int, int], dst_size: tuple[int, int]) -> np.ndarray:
    """K for an image rescaled from src (W, H) to dst (W, H)."""
    return np.diag([dst_size[0] / src_size[0], dst_size[1] / src_size[1], 1.0]) @ np.asarray(K, dtype=np.float64)


def import_textured_result(scene: bpy.types.Scene, mesh, cameras=None, camera_names=None, name: str = "TexForge",
                           source_cameras: dict | None = None, frame_size: tuple[int, int] | None = None) -> dict:
    """Build a result in a new collection: one mesh object (UV map, material with packed texture) and,
    when ``cameras`` (backend ``Cameras``) are given, one new camera object per view.

    ``camera_names`` label the cameras (the source camera names); ``source_cameras`` maps those names
    to existing camera objects whose background images the new cameras show; ``frame_size`` (W, H) is
    the scene's render frame that the new cameras' intrinsics are scaled to (the backend worked at a
    smaller size). Returns {"collection", "object", "material", "image", "cameras": [(name, obj)]}.
    Nothing is left behind when it fails half-way."""
    made = {"collection": None, "object": None, "material": None, "image": None, "cameras": []}
    try:
        coll = made["collection"] = new_collection(scene, name)
        image = None
        if mesh.texture is not None:
            image = made["image"] = texture_image(unique_name(f"{name} Texture", bpy.data.images), mesh.texture)
        mat = made["material"] = textured_material(unique_name(f"{name} Material", bpy.data.materials), image)
        made["object"] = mesh_object(unique_name(f"{name} Mesh", bpy.data.objects), mesh, coll, mat)
        if cameras is not None:
            K = cameras.K.detach().cpu().double().numpy()
            R = cameras.R.detach().cpu().double().numpy()
            t = cameras.t.detach().cpu().double().numpy()
            size = (cameras.width, cameras.height)
            dst = frame_size or size
            cam_coll = bpy.data.collections.new(unique_name(f"{name} Cameras", bpy.data.collections))
            coll.children.link(cam_coll)
            for i in range(len(cameras)):
                label = camera_names[i] if camera_names else f"view {i}"
                obj = blender_camera.new_camera(scene, unique_name(f"{label} (corrected)", bpy.data.objects),
                                                scale_intrinsics(K[i], size, dst), R[i], t[i], dst[0], dst[1],
                                                collection=cam_coll, set_render_size=False)
                roles.tag(obj, roles.CORRECTED)  # the next run over "all cameras" leaves it out
                made["cameras"].append((label, obj))
                src = (source_cameras or {}).get(label)
                if src is not None:
                    obj.data.sensor_width = src.data.sensor_width
                    blender_camera.apply_krt(scene, obj, scale_intrinsics(K[i], size, dst), R[i], t[i], dst[0],
                                             dst[1], set_render_size=False)
                    copy_background(src, obj)
    except BaseException:
        remove_created(made)
        raise
    return made


def remove_created(made: dict) -> None:
    """Delete everything ``import_textured_result`` made (used on failure and by tests)."""
    for _label, cam in made.get("cameras", []):
        data = cam.data
        bpy.data.objects.remove(cam, do_unlink=True)
        bpy.data.cameras.remove(data)
    obj = made.get("object")
    if obj is not None:
        data = obj.data
        bpy.data.objects.remove(obj, do_unlink=True)
        bpy.data.meshes.remove(data)
    for key, coll in (("material", bpy.data.materials), ("image", bpy.data.images), ("photo", bpy.data.images)):
        if made.get(key) is not None:
            coll.remove(made[key])
    coll = made.get("collection")
    if coll is not None:
        for child in list(coll.children):
            bpy.data.collections.remove(child)
        bpy.data.collections.remove(coll)


# ------------------------------------------------------------------------------------------------
# the result folder behind an object, and extra textures for it
# ------------------------------------------------------------------------------------------------

# ID custom property (saved in the .blend, shown under Object Properties > Custom Properties): the
# absolute result folder a reconstruction wrote for this object, where later steps (the texture GAN)
# find its pseudo-GT textures
RESULT_DIR_KEY = "texforge_result_dir"
# on the materials / images add_texture_materials makes: the folder their texture came from
SOURCE_KEY = "texforge_source"
GAN_TEXTURE = "gan_texture"  # roles.tag value of those materials and images


def mark_result_folder(obj: bpy.types.Object, folder: str) -> None:
    obj[RESULT_DIR_KEY] = str(folder)


def result_folder_of(obj: bpy.types.Object | None) -> str:
    """The result folder recorded on ``obj`` ('' for objects TexForge did not reconstruct to disk)."""
    if obj is None:
        return ""
    value = obj.get(RESULT_DIR_KEY, "")
    return value if isinstance(value, str) else ""


def add_texture_materials(obj: bpy.types.Object, textures: list, label: str, source: str = "") -> list:
    """For each (name, (H, W, 3) texture) a new packed image and a new material showing it on the object's
    UV map, appended as extra material slots of ``obj`` (the faces keep their material, so the object looks
    as before until the artist assigns a slot). Returns the materials; all or nothing."""
    base = obj.name
    made_images, made_materials = [], []
    slots_before = len(obj.data.materials)
    try:
        for name, tex in textures:
            title = f"{base} {label} {name.replace('_', ' ')}"
            img = texture_image(unique_name(title, bpy.data.images), tex)
            made_images.append(img)
            mat = textured_material(unique_name(title, bpy.data.materials), img)
            made_materials.append(mat)
            for id_data in (img, mat):
                roles.tag(id_data, GAN_TEXTURE)
                id_data[SOURCE_KEY] = source
            obj.data.materials.append(mat)
    except BaseException:
        while len(obj.data.materials) > slots_before:
            obj.data.materials.pop()
        for mat in made_materials:
            bpy.data.materials.remove(mat)
        for img in made_images:
            bpy.data.images.remove(img)
        raise
    return made_materials
UNSAVED_NOTE = ("not written to disk: the .blend is unsaved and the Output Folder is relative to it; save the "
                "file or choose an absolute Output Folder")


def result_folder(scene: bpy.types.Scene, prefix: str = "multiview") -> str:
    """A new folder under the scene's Output Folder for this run's files, or '' when nothing is to be
    written: no Output Folder, or one relative to an unsaved .blend. Relative paths are never
    resolved against the process's working directory (for Blender that is wherever it was started
    from), so an unsaved file keeps its result in the scene only."""
    base = scene.texforge.output_dir
    if not base:
        return ""
    path = bpy.path.abspath(base)
    if not os.path.isabs(path):
        return ""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = os.path.join(path, f"{prefix}-{stamp}")
    i = 1
    while os.path.exists(folder):  # never reuse (or overwrite) an earlier run's folder
        folder = os.path.join(path, f"{prefix}-{stamp}-{i}")
        i += 1
    return folder
