"""Multi-view workflow inputs with real bpy: cameras with photos -> dataset, bad input, turntable rig,
transforms.json export / import, and the worker-thread job runner (progress, cancel, errors)."""

import math
import threading
import time

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import addon  # noqa: E402
from addon.runtime import job as job_mod  # noqa: E402
from addon.convert import scene_inputs
from addon.operators import turntable as ops_turntable  # noqa: E402
from texforge_blender import camera as blender_camera  # noqa: E402
from texforge.data.images import write_png  # noqa: E402
from texforge.runtime.errors import Cancelled, InputError  # noqa: E402




def _disc_image(w: int, h: int, seed: int = 0, alpha: bool = True) -> np.ndarray:
    """(h, w, 4) RGBA: a coloured disc on transparent (or grey) background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    inside = ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) < (0.3 * min(w, h)) ** 2
    img = np.zeros((h, w, 4), np.float32)
    img[..., :3] = 0.5
    img[inside, :3] = rng.uniform(0.1, 1.0, 3)
    img[..., 3] = inside.astype(np.float32) if alpha else 1.0
    return img


def _image(name: str, arr: np.ndarray) -> "bpy.types.Image":
    h, w = arr.shape[:2]
    img = bpy.data.images.new(name, w, h, alpha=True)
    img.pixels.foreach_set(arr[::-1].ravel())
    return img


def _camera(scene, name: str, loc, image=None, lens: float = 50.0, shift=(0.0, 0.0)):
    data = bpy.data.cameras.new(name)
    data.lens = lens
    data.shift_x, data.shift_y = shift
    obj = bpy.data.objects.new(name, data)
    scene.collection.objects.link(obj)
    obj.location = loc
    obj.rotation_mode = "QUATERNION"
    obj.rotation_quaternion = ops_turntable.look_at_rotation(obj.location, (0, 0, 0))
    if image is not None:
        bg = data.background_images.new()
        bg.image = image
    obj.select_set(True)
    return obj


def _ring(scene, n: int, size=(64, 64), sizes=None, **kw):
    scene.render.resolution_x, scene.render.resolution_y = size
    cams = []
    for i in range(n):
        w, h = sizes[i] if sizes else size
        img = _image(f"photo{i}", _disc_image(w, h, i))
        a = 2 * math.pi * i / n
        cams.append(_camera(scene, f"Cam{i:02d}", (4 * math.cos(a), 4 * math.sin(a), 1.0), img, **kw))
    return cams


def _counts():
    d = bpy.data
    return (len(d.objects), len(d.meshes), len(d.images), len(d.materials), len(d.cameras), len(d.collections))


# ------------------------------------------------------------------------------------------------
# scene -> dataset
# ------------------------------------------------------------------------------------------------

def test_gather_dataset_reads_cameras_and_photos(tf):
    scene = tf
    cams = _ring(scene, 4, size=(96, 64))
    ds = scene_inputs.gather_dataset(scene, scene_inputs.selected_cameras(bpy.context), "AUTO", max_size=48)
    assert ds.names == [c.name for c in cams]
    assert ds.images.shape == (4, 32, 48, 3) and ds.masks.shape == (4, 32, 48)
    assert ds.cameras.width == 48 and ds.cameras.height == 32
    # intrinsics scaled from the 96x64 render frame to the 48x32 working size; pose as Blender says
    K, R, t, w, h = blender_camera.camera_krt(scene, cams[1])
    np.testing.assert_allclose(ds.cameras.K[1].numpy(), np.diag([0.5, 0.5, 1]) @ K, rtol=1e-5)
    np.testing.assert_allclose(ds.cameras.R[1].numpy(), R, atol=1e-6)
    # the mask is the photo's alpha: the disc covers ~ pi * 0.3^2 * 32^2 / (48 * 32) of the frame
    frac = ds.masks[0].mean()
    assert abs(frac - math.pi * (0.3 * 32) ** 2 / (48 * 32)) < 0.02
    # row 0 on top: the photo's top-left corner colour (background) lands in images[0, 0, 0]
    assert np.allclose(ds.images[0, 0, 0], 0.0)  # composited on black where alpha = 0


def test_background_colour_masks(tf):
    scene = tf
    scene.render.resolution_x = scene.render.resolution_y = 64
    for i in range(3):
        img = _image(f"p{i}", _disc_image(64, 64, i, alpha=False))
        _camera(scene, f"C{i}", (4 * math.cos(i), 4 * math.sin(i), 0.5), img)
    cams = scene_inputs.selected_cameras(bpy.context)
    ds = scene_inputs.gather_dataset(scene, cams, "BACKGROUND", max_size=64)
    assert abs(ds.masks[0].mean() - math.pi * (0.3 * 64) ** 2 / 64 ** 2) < 0.02
    np.testing.assert_allclose(ds.background, [0.5, 0.5, 0.5], atol=0.01)
    with pytest.raises(InputError, match="C0.*alpha"):  # opaque photos have no alpha mask
        scene_inputs.gather_dataset(scene, cams, "ALPHA", max_size=64)


# ------------------------------------------------------------------------------------------------
# bad input: operator disabled with a reason, or a clear error; the scene unchanged
# ------------------------------------------------------------------------------------------------

def test_reconstruct_disabled_without_selection(tf):
    assert not bpy.ops.texforge.reconstruct.poll()
    assert "Select the cameras" in scene_inputs.selection_problem(bpy.context)
    before = _counts()
    with pytest.raises(RuntimeError, match="Select the cameras"):
        bpy.ops.texforge.reconstruct()
    assert _counts() == before


def test_reconstruct_disabled_for_camera_without_image(tf):
    scene = tf
    _ring(scene, 3)
    _camera(scene, "Bare", (0, -4, 0))
    assert not bpy.ops.texforge.reconstruct.poll()
    assert "Camera 'Bare' has no background image" in scene_inputs.selection_problem(bpy.context)


def test_reconstruct_disabled_for_too_few_views(tf):
    _ring(tf, 2)
    assert "at least 3 cameras" in scene_inputs.selection_problem(bpy.context)
    assert not bpy.ops.texforge.reconstruct.poll()


def test_reconstruct_disabled_for_mixed_aspect_ratios(tf):
    _ring(tf, 3, size=(64, 64), sizes=[(64, 64), (64, 64), (64, 48)])
    problem = scene_inputs.selection_problem(bpy.context)
    assert "Cam02" in problem and "64x48" in problem and "aspect ratio" in problem
    assert not bpy.ops.texforge.reconstruct.poll()


def test_reconstruct_reports_empty_mask(tf):
    scene = tf
    cams = _ring(scene, 3)
    empty = _disc_image(64, 64)
    empty[..., 3] = 0.0
    empty[0, 0, 3] = 0.5  # some transparency, but no object
    cams[1].data.background_images[0].image = _image("empty", empty)
    before = _counts()
    with pytest.raises(RuntimeError, match="Cam01.*no object found"):
        bpy.ops.texforge.reconstruct()
    assert _counts() == before


# ------------------------------------------------------------------------------------------------
# turntable rig
# ------------------------------------------------------------------------------------------------

def test_turntable_rig(tf, tmp_path):
    scene = tf
    for i in (3, 1, 0, 2, 5, 4):  # written out of order: cameras follow the sorted names
        write_png(tmp_path / f"shot_{i:02d}.png", _disc_image(80, 60, i))
    cube = bpy.data.objects.new("Existing", bpy.data.meshes.new("Existing"))
    scene.collection.objects.link(cube)
    cube.location = (1, 2, 3)
    n_before = len(bpy.data.objects)
    result = bpy.ops.texforge.create_turntable_rig(directory=str(tmp_path), radius=5.0, elevation=20.0,
                                                   start_azimuth=-90.0, direction="CCW", focal_length=35.0)
    assert result == {"FINISHED"}
    assert len(bpy.data.objects) == n_before + 6 and tuple(cube.location) == (1, 2, 3)
    coll = bpy.data.collections["Turntable Rig"]
    cams = sorted(coll.objects, key=lambda o: o.name)
    assert [scene_inputs.camera_image(c).name for c in cams] == [f"shot_{i:02d}.png" for i in range(6)]
    assert (scene.render.resolution_x, scene.render.resolution_y) == (80, 60)
    for i, cam in enumerate(cams):
        p = np.array(cam.matrix_world.translation)
        assert abs(np.linalg.norm(p) - 5.0) < 1e-5
        assert abs(math.degrees(math.asin(p[2] / 5.0)) - 20.0) < 1e-4
        az = math.degrees(math.atan2(p[1], p[0]))
        assert abs((az - (-90.0 + 60.0 * i) + 180) % 360 - 180) < 1e-4  # counter-clockwise from -Y
        K, R, t, w, h = blender_camera.camera_krt(scene, cam)
        uvw = K @ t  # the world origin projects to the image centre
        np.testing.assert_allclose(uvw[:2] / uvw[2], [40, 30], atol=1e-3)
        assert abs(K[0, 0] - 35.0 / 36.0 * 80) < 1e-4
    assert bpy.ops.texforge.reconstruct.poll()  # the new cameras are selected and usable


def test_turntable_rig_rejects_mixed_aspect_ratios(tf, tmp_path):
    write_png(tmp_path / "a.png", _disc_image(64, 64))
    write_png(tmp_path / "b.png", _disc_image(64, 32))
    before = _counts()
    with pytest.raises(RuntimeError, match="b.png.*aspect ratio"):
        bpy.ops.texforge.create_turntable_rig(directory=str(tmp_path))
    assert _counts() == before


# ------------------------------------------------------------------------------------------------
# transforms.json round trip
# ------------------------------------------------------------------------------------------------

def test_export_then_import_transforms_round_trip(tf, tmp_path):
    scene = tf
    rng = np.random.default_rng(3)
    scene.render.resolution_x, scene.render.resolution_y = 120, 90
    photo_dir = tmp_path / "photos"
    originals = {}
    for i in range(4):
        arr = _disc_image(120, 90, i)
        if i % 2 == 0:  # a photo on disk, and a packed / generated one (exported as a new PNG)
            write_png(photo_dir / f"p{i}.png", arr)
            img = bpy.data.images.load(str(photo_dir / f"p{i}.png"))
        else:
            img = _image(f"gen{i}", arr)
        cam = _camera(scene, f"View{i}", tuple(rng.uniform(-5, 5, 3)), img, lens=float(rng.uniform(20, 80)),
                      shift=tuple(rng.uniform(-0.1, 0.1, 2)))
        cam.rotation_quaternion = tuple(rng.normal(size=4))
    bpy.context.view_layer.update()
    for cam in scene_inputs.selected_cameras(bpy.context):
        originals[cam.name] = blender_camera.camera_krt(scene, cam)
    out = tmp_path / "export" / "transforms.json"
    assert bpy.ops.texforge.export_transforms(filepath=str(out)) == {"FINISHED"}
    assert (tmp_path / "export" / "images" / "gen1.png").is_file()
    with pytest.raises(RuntimeError, match="already exists"):  # never overwritten without the user's say
        bpy.ops.texforge.export_transforms(filepath=str(out))

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    assert bpy.ops.texforge.import_transforms(filepath=str(out)) == {"FINISHED"}
    assert (scene.render.resolution_x, scene.render.resolution_y) == (120, 90)
    for name, (K0, R0, t0, w0, h0) in originals.items():
        cam = bpy.data.objects[name]
        K, R, t, w, h = blender_camera.camera_krt(scene, cam)
        assert (w, h) == (w0, h0)
        np.testing.assert_allclose(K, K0, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(R, R0, atol=1e-5)
        np.testing.assert_allclose(t, t0, atol=1e-5)
        img = scene_inputs.camera_image(cam)
        assert tuple(img.size) == (120, 90)
    # the imported set is a valid reconstruction input, and the photos came back intact
    ds = scene_inputs.gather_dataset(scene, scene_inputs.selected_cameras(bpy.context), "AUTO", max_size=None)
    assert ds.images.shape == (4, 90, 120, 3)


def test_import_transforms_keeps_scene_resolution_when_asked(tf, tmp_path):
    scene = tf
    scene.render.resolution_x, scene.render.resolution_y = 64, 64
    for i in range(3):
        write_png(tmp_path / f"f{i}.png", _disc_image(64, 48, i))
    import texforge.data.transforms_io as tio
    K = np.array([[60.0, 0, 32], [0, 60.0, 24], [0, 0, 1]])
    tio.write_transforms(tmp_path / "transforms.json", np.stack([K] * 3), np.stack([np.eye(3)] * 3),
                         np.array([[0, 0, 4.0]] * 3), 64, 48, [f"f{i}.png" for i in range(3)])
    before = _counts()
    with pytest.raises(RuntimeError, match="f0.png.*aspect ratio"):
        bpy.ops.texforge.import_transforms(filepath=str(tmp_path / "transforms.json"), resolution="KEEP")
    assert _counts() == before and scene.render.resolution_y == 64


# ------------------------------------------------------------------------------------------------
# worker-thread job runner
# ------------------------------------------------------------------------------------------------

def _looping_work(steps: int, step_s: float = 0.01):
    def work(progress, should_stop):
        for i in range(steps):
            if should_stop():
                raise Cancelled("stopped")
            time.sleep(step_s)
            progress((i + 1) / steps, f"step {i + 1}")
        return "done"
    return work


def test_job_runs_on_a_worker_thread_and_reports_progress():
    seen = {}

    def work(progress, should_stop):
        seen["thread"] = threading.current_thread()
        return _looping_work(20)(progress, should_stop)

    job = job_mod.Job("test", work).start()
    assert job_mod.active_job() is job
    with pytest.raises(RuntimeError, match="another TexForge job"):
        job_mod.Job("second", _looping_work(1)).start()
    assert job.wait(10)
    assert seen["thread"] is not threading.main_thread()
    assert job.result == "done" and job.fraction == 1.0 and job.message == "step 20" and not job.cancelled
    job.release()
    assert job_mod.active_job() is None


def test_job_cancel_stops_within_a_step():
    job = job_mod.Job("test", _looping_work(10_000, 0.005)).start()
    while job.progress_calls < 5:
        time.sleep(0.005)
    calls_at_cancel = job.progress_calls
    job.cancel()
    assert job.wait(10.0)
    # the work polls should_stop before each step: at most the step under way when Cancel came finishes
    assert job.progress_calls - calls_at_cancel <= 1
    assert job.cancelled and job.result is None and job.error is None
    assert job.status_text()
    job.release()


def test_job_carries_errors_to_the_main_thread():
    def bad(progress, should_stop):
        progress(0.1, "reading")
        raise InputError("frame img_007.png: no foreground")

    job = job_mod.Job("test", bad).start()
    job.wait(5)
    assert isinstance(job.error, InputError) and "img_007" in str(job.error)
    assert "Traceback" in job.error_traceback and not job.cancelled
    job.release()


def test_job_extra_stop_and_sync_run():
    job = job_mod.Job("test", _looping_work(100), extra_stop=lambda: job.progress_calls >= 3)
    job.run_sync()
    assert job.cancelled and job.progress_calls == 3
    job.release()


def test_import_transforms_keeps_a_matching_resolution(tf, tmp_path):
    """AUTO changes the render resolution only when the photos' aspect ratio needs it."""
    scene = tf
    scene.render.resolution_x, scene.render.resolution_y = 128, 96  # 4:3, twice the photos' size
    for i in range(3):
        write_png(tmp_path / f"f{i}.png", _disc_image(64, 48, i))
    import texforge.data.transforms_io as tio
    K = np.array([[60.0, 0, 31], [0, 60.0, 25], [0, 0, 1]])
    tio.write_transforms(tmp_path / "transforms.json", np.stack([K] * 3), np.stack([np.eye(3)] * 3),
                         np.array([[0, 0, 4.0]] * 3), 64, 48, [f"f{i}.png" for i in range(3)])
    assert bpy.ops.texforge.import_transforms(filepath=str(tmp_path / "transforms.json")) == {"FINISHED"}
    assert (scene.render.resolution_x, scene.render.resolution_y) == (128, 96)
    cam = scene_inputs.selected_cameras(bpy.context)[0]
    K2, R, t, w, h = blender_camera.camera_krt(scene, cam)
    np.testing.assert_allclose(K2, np.diag([2.0, 2.0, 1.0]) @ K, rtol=1e-5)
    ds = scene_inputs.gather_dataset(scene, scene_inputs.selected_cameras(bpy.context), "AUTO", max_size=None)
    np.testing.assert_allclose(ds.cameras.K[0].numpy(), np.diag([2.0, 2.0, 1.0]) @ K, rtol=1e-5)
    assert ds.images.shape == (3, 96, 128, 3)  # photos upscaled to the working frame
    # non-square pixels (fl_x != fl_y) need the scene's pixel aspect: AUTO sets the frame then
    K[1, 1] = 62.0
    tio.write_transforms(tmp_path / "t2.json", np.stack([K] * 3), np.stack([np.eye(3)] * 3),
                         np.array([[0, 0, 4.0]] * 3), 64, 48, [f"f{i}.png" for i in range(3)])
    assert bpy.ops.texforge.import_transforms(filepath=str(tmp_path / "t2.json")) == {"FINISHED"}
    assert (scene.render.resolution_x, scene.render.resolution_y) == (64, 48)
    K3 = blender_camera.camera_krt(scene, scene_inputs.selected_cameras(bpy.context)[0])[0]
    np.testing.assert_allclose(K3, K, rtol=1e-5)


def test_packed_photos_read_like_files(tf, tmp_path):
    """Photos without a file on disk come from Blender's pixel buffer (bottom row first): same values."""
    arr = np.random.default_rng(0).random((20, 30, 4)).astype(np.float32)
    arr[..., 3] = arr[..., 3] > 0.5
    write_png(tmp_path / "p.png", arr)
    img = bpy.data.images.load(str(tmp_path / "p.png"))
    img.pack()
    (tmp_path / "p.png").unlink()
    np.testing.assert_allclose(scene_inputs.image_pixels(img), np.round(arr * 255) / 255, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# one gathering rule, unusable views, output folder
# ------------------------------------------------------------------------------------------------

def test_scene_cameras_and_transforms_json_give_the_same_dataset(tf, tmp_path):
    """The same frames through both paths (load_dataset on the file; Import transforms, then the
    cameras' background photos): same pixels, masks, cameras, background and pruned frames."""
    from ball_scene import ball_photo, c2w_looking_at_origin, write_ball_dataset
    from texforge.data.transforms_io import load_dataset

    empty = ball_photo(0.5)
    empty[..., 3] = 0
    root = write_ball_dataset(tmp_path / "ds", n=8, extra={"zz_empty.png": (empty, c2w_looking_at_origin(0.2, 0.0))})
    lib = load_dataset(root, max_size=32)
    assert bpy.ops.texforge.import_transforms(filepath=str(root / "transforms.json")) == {"FINISHED"}
    cams = scene_inputs.selected_cameras(bpy.context)
    ours = scene_inputs.gather_dataset(tf, cams, "AUTO", max_size=32)
    assert [n + ".png" for n in ours.names] == lib.names and len(lib) == 8
    assert [p["name"] + ".png" for p in ours.pruned] == [p["name"] for p in lib.pruned] == ["zz_empty.png"]
    assert [p["reason"] for p in ours.pruned] == [p["reason"] for p in lib.pruned]
    np.testing.assert_array_equal(ours.images, lib.images)
    np.testing.assert_array_equal(ours.masks, lib.masks)
    np.testing.assert_array_equal(ours.background, lib.background)
    assert (ours.cameras.width, ours.cameras.height) == (lib.cameras.width, lib.cameras.height) == (32, 32)
    for a, b in ((ours.cameras.K, lib.cameras.K), (ours.cameras.R, lib.cameras.R), (ours.cameras.t, lib.cameras.t)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
    assert any(w.startswith("camera 'zz_empty' (image 'zz_empty.png') left out: no object found")
               for w in ours.warnings)


def test_unusable_view_is_pruned_and_an_unsaved_file_writes_nothing(tf, tmp_path, monkeypatch):
    """One empty photo among good ones is left out and listed; with an unsaved .blend and the default
    (relative) Output Folder nothing is written, least of all into the working directory."""
    from ball_scene import quick_config
    from addon.convert import results_import
    from addon.operators import reconstruct as ops_reconstruct

    scene = tf
    cams = _ring(scene, 6)
    empty = _disc_image(64, 64)
    empty[..., 3] = 0.0
    empty[0, 0, 3] = 0.5
    cams[2].data.background_images[0].image = _image("empty", empty)
    assert not bpy.data.filepath and scene.texforge.output_dir.startswith("//")
    monkeypatch.chdir(tmp_path)
    run = ops_reconstruct.prepare_run(bpy.context, preset="tiny", max_image_size=48)
    assert run.out_dir == ""
    assert run.dataset.names == ["Cam00", "Cam01", "Cam03", "Cam04", "Cam05"]
    assert any(w.startswith("camera 'Cam02' (image 'empty') left out: no object found") for w in run.dataset.warnings)
    run.config = quick_config()
    run.make_job().run_sync()
    level, message = run.finish(bpy.context)
    assert level == {"INFO"}, message
    assert results_import.UNSAVED_NOTE in message
    assert list(tmp_path.iterdir()) == []
    views = {v.name: v for v in scene.texforge.views}
    assert sorted(views) == [c.name for c in cams]
    assert views["Cam02"].pruned and views["Cam02"].reason.startswith("no object found")
    assert views["Cam02"].camera == cams[2] and views["Cam02"].corrected is None
    assert not any(v.pruned for n, v in views.items() if n != "Cam02")


def test_refine_focal_lengths_reaches_the_run(tf):
    from addon.operators import reconstruct as ops_reconstruct

    _ring(tf, 4)
    assert ops_reconstruct.prepare_run(bpy.context, preset="tiny", max_image_size=48).config.refine_focal is False
    tf.texforge.refine_focal = True
    assert ops_reconstruct.prepare_run(bpy.context, preset="tiny", max_image_size=48).config.refine_focal is True


def test_reconstruct_refuses_an_unwritable_output_folder_before_starting(tf):
    scene = tf
    _ring(scene, 3)
    scene.texforge.output_dir = "/proc/texforge-test/"  # accepts no new entries, for root too
    before = _counts()
    with pytest.raises(RuntimeError, match=r"cannot write to output folder /proc/texforge-test/multiview-.*"
                                           r"does not accept new files"):
        bpy.ops.texforge.reconstruct(preset="tiny", max_image_size=48)
    assert _counts() == before and len(scene.texforge.views) == 0
