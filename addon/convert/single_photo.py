"""One photo for single-image reconstruction, from an image file or from a camera with a background image,
and the record a single-image result keeps on its object (what the swap and interpolate operators read).

Both sources become one ``texforge.data.gather.Frame`` and go through ``gather_frames``, so the mask rule
(mask file, alpha, plain backdrop) is the multi-view workflow's. A camera's K, R, t become the photo's
camera, in the category's canonical frame (the object at the world origin); a file has no camera and the
model's encoder or a search over the category's views finds one. Main thread only.
"""

from __future__ import annotations

import os

import bpy
import numpy as np

from . import scene_inputs

# custom properties on a single-image result object
MODEL_KEY = "texforge_model"        # absolute path of the category model folder
MODE_KEY = "texforge_mode"          # "inversion", "encoder", "swap" or "interpolation"
LATENT_KEY = "texforge_latent"      # the generator's latent (inversion and interpolation results only)


def _input_error(message: str) -> Exception:
    from texforge.runtime.errors import InputError
    return InputError(message)


def _file_frame(path: str):
    from texforge.data.gather import Frame
    from texforge.data.images import read_image
    from texforge.data.mask_files import find_mask_file, mask_reader

    label = f"photo {path}"
    pixels = read_image(path)   # InputError naming the file when it is not an image; read once, here
    h, w = pixels.shape[:2]
    mask_file = find_mask_file(path)
    # no camera comes with a file: K, R, t are placeholders the caller drops (the model finds the camera)
    return Frame(os.path.basename(path), np.eye(3), np.eye(3), np.zeros(3), (w, h), lambda: pixels,
                 mask_reader(mask_file, label) if mask_file else None, label=label, path=path,
                 mask_path=str(mask_file or ""))


def camera_photo_problem(cam_obj) -> str | None:
    """Why ``cam_obj`` cannot give the photo (None when it can); cheap, for poll and draw."""
    if cam_obj is None or cam_obj.type != "CAMERA":
        return "No image file given and no active camera"
    if scene_inputs.camera_image(cam_obj) is None:
        return f"Camera '{cam_obj.name}' has no background image: give an image file or add the photo to the camera"
    return None


def photo_camera(context):
    """The camera that gives the photo when no file is given: the active object when it is a camera, else
    the scene camera."""
    obj = getattr(context, "active_object", None)
    return obj if obj is not None and obj.type == "CAMERA" else context.scene.camera


def read_photo(scene: bpy.types.Scene, path: str = "", camera=None, mask_source: str = "AUTO",
               max_size: int = 512):
    """-> (SinglePhoto, warnings). ``path``: an image file (wins); else ``camera``'s background photo with
    its camera. The photo is scaled to at most ``max_size`` pixels on its longest side. InputError naming
    the file or camera when it is unreadable or shows no object."""
    from texforge.data.gather import gather_frames
    from texforge.data.masks import mask_problem
    from texforge.data.working_size import working_size
    from texforge.pipelines.inversion import SinglePhoto

    if path:
        path = bpy.path.abspath(path)
        frame, size = _file_frame(path), None
    else:
        problem = camera_photo_problem(camera)
        if problem:
            raise _input_error(problem)
        frame = scene_inputs.scene_frames(scene, [camera])[0]
        size = frame.size
    target = working_size(size or frame.size, max_size)
    mask_source = "AUTO" if mask_source == "SEGMENT" else mask_source   # segmentation needs several views
    data = gather_frames([frame], target, mask_source, min_views=1, prune=False)
    image, mask = data.images[0], data.masks[0]
    problem = mask_problem(mask)
    if problem:
        raise _input_error(f"{frame.label}: {problem}; single-image reconstruction needs the object's silhouette "
                           "(a photo with a cut-out alpha channel, a mask file, or the object on a plain backdrop)")
    camera_krt = None
    if not path:
        cams = data.cameras
        camera_krt = tuple(a[0].detach().cpu().double().numpy() for a in (cams.K, cams.R, cams.t))
    return SinglePhoto(np.asarray(image), np.asarray(mask), frame.label, camera_krt), list(data.warnings)


# ---------------------------------------------------------------------------------------------
# The record on a result object
# ---------------------------------------------------------------------------------------------

def tag_result(obj: bpy.types.Object, model_dir: str, mode: str, latent=None) -> None:
    obj[MODEL_KEY] = str(model_dir)
    obj[MODE_KEY] = mode
    if latent is not None and len(latent):
        obj[LATENT_KEY] = [float(v) for v in np.asarray(latent).ravel()]


def is_result(obj) -> bool:
    return obj is not None and obj.type == "MESH" and MODEL_KEY in obj


def latent_of(obj) -> np.ndarray | None:
    value = obj.get(LATENT_KEY)
    return None if value is None else np.asarray(list(value), dtype=np.float32)


def texture_image_of(obj) -> bpy.types.Image | None:
    """The image of the first Image Texture node of the object's first material."""
    mat = obj.active_material or (obj.data.materials[0] if obj.data.materials else None)
    if mat is None or mat.node_tree is None:
        return None
    return next((n.image for n in mat.node_tree.nodes if n.type == "TEX_IMAGE" and n.image is not None), None)


def pair_problem(objects: list) -> str | None:
    """Why ``objects`` are not two single-image results of one model whose UV maps align (None when they are)."""
    if len(objects) != 2:
        return f"Select two single-image reconstructions ({len(objects)} selected)"
    for o in objects:
        if not is_result(o):
            return f"'{o.name}' is not a TexForge single-image reconstruction"
    a, b = objects
    if os.path.normpath(a[MODEL_KEY]) != os.path.normpath(b[MODEL_KEY]):
        return (f"'{a.name}' and '{b.name}' come from different category models, so their UV maps do not "
                "align")
    if (len(a.data.vertices), len(a.data.polygons)) != (len(b.data.vertices), len(b.data.polygons)):
        return f"'{a.name}' and '{b.name}' no longer share the template's topology (edited meshes?)"
    return None
