"""Selected Blender cameras with background images -> a backend ``MultiViewDataset``.

The usual way to attach a photo to a camera in Blender is the camera's background image
(``camera.data.background_images[i].image``); each selected camera with such an image is one view.
Main thread only: this module reads ``bpy`` data and returns plain numpy arrays / backend objects.

Checks come in two weights:
* ``selection_problem(context)`` is cheap (no pixels are read) and used by operator ``poll()`` to
  grey out buttons with a reason;
* ``gather_dataset(...)`` reads the pixels by the library's one gathering rule: it raises
  ``InputError`` naming the camera / image / setting at fault (unreadable files, mixed aspect
  ratios ...), and leaves out, with a warning, views whose masks are unusable.
"""

from __future__ import annotations

import os

import bpy
import numpy as np

from texforge_blender import camera as blender_camera
from texforge.data.working_size import DEFAULT_MAX_SIZE, working_size

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


def _reader(img: bpy.types.Image, flip_x: bool, flip_y: bool, label: str, as_mask: bool = False):
    """The photo's (or its mask image's) pixels as the camera shows them (the background image's flips
    applied to both, so they stay aligned); an unreadable file is reported with the camera that shows it."""
    def read() -> np.ndarray:
        from texforge.runtime.errors import InputError
        try:
            arr = image_pixels(img)
        except InputError as e:
            raise _input_error(f"{label}: {e}") from e
        arr = arr[::-1 if flip_y else 1, ::-1 if flip_x else 1]
        if as_mask:  # a transforms.json mask_path kept by Import transforms: read_mask's rule on pixels
            from texforge.data.masks import mask_from_image
            return mask_from_image(arr)
        return arr
    return read


def scene_frames(scene: bpy.types.Scene, cameras: list[bpy.types.Object]) -> list:
    """Cameras with background photos -> ``texforge.data.gather.Frame`` list (pixels read later).
    Raises InputError naming the camera whose settings cannot be a view."""
    from texforge.data.gather import Frame
    frames = []
    for cam in cameras:
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
        mask_image = camera_mask_image(cam)
        read_mask = (_reader(mask_image, bg_slot.use_flip_x, bg_slot.use_flip_y, label, as_mask=True)
                     if mask_image is not None else None)
        frames.append(Frame(cam.name, K, R, t, (w, h), _reader(img, bg_slot.use_flip_x, bg_slot.use_flip_y, label),
                            read_mask, label=label))
    return frames


def gather_dataset(scene: bpy.types.Scene, cameras: list[bpy.types.Object], mask_source: str = "AUTO",
                   max_size: int | None = DEFAULT_MAX_SIZE, min_views: int = MIN_VIEWS, device=None):
    """Read cameras and their photos into a ``MultiViewDataset`` at the working size, by the same
    rule as transforms.json datasets (``texforge.data.gather.gather_frames``: masks, unusable
    frames left out with a warning, background colour).

    The working size is the render frame scaled so that its longest side is at most ``max_size``
    (the default is the command line's too; None or 0: no cap). View names are the camera object names.
    Raises InputError naming the camera at fault. Main thread only."""
    problem = cameras_problem(scene, cameras, min_views)
    if problem:
        raise _input_error(problem)
    from texforge.data.gather import gather_frames
    target = working_size(render_size(scene), max_size)
    return gather_frames(scene_frames(scene, cameras), target, mask_source, min_views=min_views, device=device)
