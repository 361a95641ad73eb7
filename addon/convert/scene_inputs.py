"""Selected Blender cameras with background images -> a backend ``MultiViewDataset``.

The usual way to attach a photo to a camera in Blender is the camera's background image
(``camera.data.background_images[i].image``); each selected camera with such an image is one view.
Main thread only: this module reads ``bpy`` data and returns plain numpy arrays / backend objects.

Checks come in two weights:
* ``selection_problem(context)`` is cheap (no pixels are read) and used by operator ``poll()`` to
  grey out buttons with a reason;
* ``gather_dataset(...)`` reads the pixels and raises ``InputError`` naming the camera / image /
  setting at fault (empty masks, unreadable files, mixed aspect ratios ...).
"""

from __future__ import annotations

import os

import bpy
import numpy as np

from texforge.blender import camera as blender_camera

from . import roles

MIN_VIEWS = 3
_ASPECT_TOLERANCE = 0.01  # relative; photos and the render frame must agree to 1 %


def _input_error(message: str) -> Exception:
    from texforge.runtime.errors import InputError
    return InputError(message)


# ---------------------------------------------------------------------------------------------
# Cheap queries (safe in poll / draw)
# ---------------------------------------------------------------------------------------------

def _image_slots(cam_obj: bpy.types.Object, want_mask: bool):
    if cam_obj is None or cam_obj.type != "CAMERA":
        return
    for bg in cam_obj.data.background_images:
        if bg.source == "IMAGE" and bg.image is not None and (roles.role(bg.image) == roles.MASK) == want_mask:
            yield bg


def camera_background(cam_obj: bpy.types.Object):
    """The first background-image slot of a camera that holds a photo (not a mask image), or None."""
    return next(_image_slots(cam_obj, want_mask=False), None)


def camera_image(cam_obj: bpy.types.Object) -> bpy.types.Image | None:
    bg = camera_background(cam_obj)
    return bg.image if bg is not None else None


def camera_mask_image(cam_obj: bpy.types.Object) -> bpy.types.Image | None:
    """The frame's mask image (a background slot whose image is tagged roles.MASK), or None."""
    bg = next(_image_slots(cam_obj, want_mask=True), None)
    return bg.image if bg is not None else None


def _selected_camera_objects(context) -> list[bpy.types.Object]:
    objs = getattr(context, "selected_objects", None) or []
    return sorted((o for o in objs if o.type == "CAMERA"), key=lambda o: o.name)


def selected_cameras(context) -> list[bpy.types.Object]:
    """Selected camera objects, in name order (stable, and the order of the views).

    Cameras an earlier reconstruction created (tagged roles.CORRECTED) show the same photos as their
    originals, so they are left out when other cameras are selected too; selecting only corrected
    cameras uses them on purpose."""
    cams = _selected_camera_objects(context)
    own = [c for c in cams if roles.role(c) != roles.CORRECTED]
    return own or cams


def skipped_corrected_cameras(context) -> list[str]:
    """Names of the selected corrected cameras that ``selected_cameras`` leaves out (for a warning)."""
    kept = {c.name for c in selected_cameras(context)}
    return [c.name for c in _selected_camera_objects(context) if c.name not in kept]


def skipped_cameras_warning(names: list[str]) -> str:
    """The warning for ``skipped_corrected_cameras`` ('' when none)."""
    if not names:
        return ""
    more = f" and {len(names) - 1} more" if len(names) > 1 else ""
    return (f"left out '{names[0]}'{more}: cameras created by an earlier reconstruction (their photos are "
            f"the originals'); select only corrected cameras to use them")


def render_size(scene: bpy.types.Scene) -> tuple[int, int]:
    r = scene.render
    return (max(1, int(r.resolution_x * r.resolution_percentage / 100)),
            max(1, int(r.resolution_y * r.resolution_percentage / 100)))


def _aspect_differs(a: tuple[int, int], b: tuple[int, int]) -> bool:
    ra, rb = a[0] / a[1], b[0] / b[1]
    return abs(ra - rb) > _ASPECT_TOLERANCE * rb


RESOLUTION_ITEMS = (
    ("AUTO", "Only When Needed", "Keep the scene's render resolution when it has the photos' aspect ratio "
                                 "(intrinsics are scaled to it); otherwise set it to the photos' size"),
    ("SET", "Set to Photos", "Set the render resolution to the photos' size"),
    ("KEEP", "Keep", "Never change the render resolution; the photos must have its aspect ratio"),
)


def choose_frame(scene: bpy.types.Scene, photo_size: tuple[int, int], mode: str,
                 fx_over_fy: float = 1.0) -> tuple[tuple[int, int], bool]:
    """The render frame (W, H) new cameras are made for, and whether the scene resolution must be set to it.

    The render resolution is a scene-wide setting the user may care about, so by default ("AUTO") it
    only changes when the photos cannot fit the current frame: another aspect ratio, or non-square
    pixels (``fx_over_fy`` != the scene's pixel aspect)."""
    current = render_size(scene)
    r = scene.render
    ycor = max(r.pixel_aspect_y, 1.0) / max(r.pixel_aspect_x, 1.0)
    pixels_differ = abs(fx_over_fy - ycor) > 1e-6 * ycor
    if mode == "SET" or (mode == "AUTO" and (_aspect_differs(tuple(photo_size), current) or pixels_differ)):
        return (int(photo_size[0]), int(photo_size[1])), True
    return current, False


def set_render_frame(scene: bpy.types.Scene, size: tuple[int, int]) -> None:
    r = scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = int(size[0]), int(size[1]), 100
    r.pixel_aspect_x = r.pixel_aspect_y = 1.0


def cameras_problem(scene: bpy.types.Scene, cameras: list[bpy.types.Object], min_views: int = MIN_VIEWS) -> str | None:
    """Why these cameras cannot be a multi-view input (None when they can). Reads no pixels."""
    if not cameras:
        return "Select the cameras that carry the photos (as background images)"
    missing = [c for c in cameras if camera_image(c) is None]
    clips = [c for c in missing if any(bg.source == "MOVIE_CLIP" for bg in c.data.background_images)]
    if clips:
        return (f"Camera '{clips[0].name}' shows a movie clip; give each camera one still photo as its "
                f"background image (Source: Image)")
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        return f"Camera '{missing[0].name}'{more} has no background image (Camera properties > Background Images)"
    if len(cameras) < min_views:
        return f"Need at least {min_views} cameras with photos, {len(cameras)} selected"
    for c in cameras:
        if c.data.type != "PERSP":
            return f"Camera '{c.name}' is {c.data.type.lower()}; only perspective cameras are supported"
    frame = render_size(scene)
    for c in cameras:
        img = camera_image(c)
        size = tuple(img.size)
        if size[0] == 0 or size[1] == 0:
            if img.source == "FILE" and not img.packed_file and not os.path.isfile(bpy.path.abspath(img.filepath)):
                return f"Camera '{c.name}': image file of '{img.name}' not found ({img.filepath})"
            return f"Camera '{c.name}': image '{img.name}' has no pixels"
        if _aspect_differs(size, frame):
            return (f"Camera '{c.name}': image '{img.name}' is {size[0]}x{size[1]} but the render frame is "
                    f"{frame[0]}x{frame[1]}; photos and the scene resolution must share one aspect ratio")
    return None


def selection_problem(context) -> str | None:
    return cameras_problem(context.scene, selected_cameras(context))


# ---------------------------------------------------------------------------------------------
# Pixels
# ---------------------------------------------------------------------------------------------

def image_pixels(img: bpy.types.Image) -> np.ndarray:
    """An image datablock -> (H, W, C) float32, row 0 on top, C = its channel count (1-4).

    Reads the file from disk with the backend's reader when it exists and the image is neither
    packed nor edited (exact 8-bit values, no colour management); otherwise Blender's own pixel
    buffer (stored bottom row first, hence the flip)."""
    path = bpy.path.abspath(img.filepath, library=img.library) if img.filepath else ""
    if img.source == "FILE" and not img.packed_file and not img.is_dirty and path and os.path.isfile(path):
        try:
            from texforge.data.images import read_image
            return read_image(path)
        except ImportError:  # backend image reader unavailable (no Pillow here): Blender decodes it
            pass
    w, h = img.size
    c = img.channels
    if w == 0 or h == 0:
        raise _input_error(f"image '{img.name}' has no pixels (file missing or unreadable: {img.filepath})")
    buf = np.empty(w * h * c, dtype=np.float32)
    img.pixels.foreach_get(buf)
    return np.ascontiguousarray(buf.reshape(h, w, c)[::-1])


def _mask_for(rgb: np.ndarray, alpha: np.ndarray | None, source: str, label: str, mask_image=None):
    """(mask (H, W), background colour (3,) or None) for one view. A mask image (transforms.json
    ``mask_path``) wins over alpha and the colour model, as in ``load_dataset``."""
    import texforge.data.masks as masks
    if mask_image is not None:
        import texforge.data.images as images_mod
        mask = masks.mask_from_image(image_pixels(mask_image))
        if mask.shape != rgb.shape[:2]:
            mask = images_mod.resize_image(mask, rgb.shape[1], rgb.shape[0])
        outside = mask < 0.5
        if masks.has_useful_alpha(alpha) or not outside.any():
            return mask, None
        return mask, np.median(rgb[outside], axis=0)
    if source == "ALPHA" or (source == "AUTO" and masks.has_useful_alpha(alpha)):
        if not masks.has_useful_alpha(alpha):
            raise _input_error(f"{label} has no transparent pixels, so its alpha channel cannot be the mask; "
                               f"set Mask Source to 'Background Colour' or 'Auto'")
        return masks.mask_from_alpha(alpha), None
    model = masks.estimate_background(rgb)
    return masks.mask_from_background(rgb, model), model.color


def gather_dataset(scene: bpy.types.Scene, cameras: list[bpy.types.Object], mask_source: str = "AUTO",
                   max_size: int | None = 256, min_views: int = MIN_VIEWS, device=None):
    """Read cameras and their photos into a ``MultiViewDataset`` at the working resolution.

    The working size is the render frame scaled so that its longest side is at most ``max_size``;
    intrinsics are scaled with it. View names are the camera object names. RGBA photos are
    composited on black (as ``load_dataset`` does). Raises InputError naming the camera at fault.
    Main thread only."""
    problem = cameras_problem(scene, cameras, min_views)
    if problem:
        raise _input_error(problem)
    import texforge.data.images as images_mod
    import texforge.render.camera as cam_mod
    import texforge.data.masks as masks_mod
    frame = render_size(scene)
    target = frame
    if max_size is not None and max(frame) > int(max_size):
        s = int(max_size) / max(frame)
        target = (max(1, int(round(frame[0] * s))), max(1, int(round(frame[1] * s))))
    n = len(cameras)
    images = np.empty((n, target[1], target[0], 3), dtype=np.float32)
    masks = np.empty((n, target[1], target[0]), dtype=np.float32)
    Ks, Rs, ts, names, bgs, warnings = [], [], [], [], [], []
    colour_model = False
    for i, cam in enumerate(cameras):
        bg_slot = camera_background(cam)
        img = bg_slot.image
        label = f"camera '{cam.name}' (image '{img.name}')"
        if bg_slot.rotation != 0.0 or tuple(bg_slot.offset) != (0.0, 0.0) or bg_slot.scale != 1.0:
            raise _input_error(f"{label}: the background image is rotated, offset or scaled in the camera "
                               f"settings, so it does not line up with the camera frame; reset them")
        try:
            K, R, t, w, h = blender_camera.camera_krt(scene, cam)
        except ValueError as e:
            raise _input_error(f"camera '{cam.name}': {e}") from e
        arr = image_pixels(img)
        if bg_slot.use_flip_x:
            arr = arr[:, ::-1]
        if bg_slot.use_flip_y:
            arr = arr[::-1]
        rgb, alpha = images_mod.split_rgb_alpha(arr)
        if not np.all(np.isfinite(rgb)):
            raise _input_error(f"{label}: the image holds NaN or infinite values")
        mask_image = camera_mask_image(cam)
        mask, bg_color = _mask_for(rgb, alpha, mask_source, label, mask_image)
        colour_model = colour_model or (bg_color is not None and mask_image is None)
        if bg_color is not None:
            bgs.append(bg_color)
        elif alpha is not None:
            rgb = rgb * alpha[..., None]  # composite on black, like load_dataset
        if (rgb.shape[1], rgb.shape[0]) != target:
            rgb = images_mod.resize_image(rgb, *target)
            mask = images_mod.resize_image(mask, *target)
        if masks_mod.is_empty_mask(mask, max(1, int(0.0005 * mask.size))):
            raise _input_error(f"{label}: no object found in the photo (its mask is empty); check Mask Source")
        if masks_mod.covers_whole_image(mask):
            raise _input_error(f"{label}: the mask covers the whole photo, so it separates nothing; "
                               f"use photos with a plain backdrop or an alpha channel, or change Mask Source")
        K = np.diag([target[0] / w, target[1] / h, 1.0]) @ K
        images[i] = np.clip(rgb, 0.0, 1.0)
        masks[i] = np.clip(mask, 0.0, 1.0)
        Ks.append(K), Rs.append(R), ts.append(t), names.append(cam.name)
    background = (np.median(np.stack(bgs), axis=0).astype(np.float32) if len(bgs) == n
                  else np.zeros(3, dtype=np.float32))
    if colour_model:
        warnings.append("masks of some views were estimated from a background-colour model")
    cams = cam_mod.cameras_from_arrays(np.stack(Ks), np.stack(Rs), np.stack(ts), target[0], target[1], device=device)
    from texforge.data.dataset import MultiViewDataset as dataset_cls
    return dataset_cls(images, masks, cams, names, background, warnings)
