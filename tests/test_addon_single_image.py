"""The single-image workflow in real Blender: texforge.reconstruct_single_image (a photo file or a camera
with a background photo, encoder and inversion modes) adds one textured object and one camera and nothing
else; swap texture / shape and interpolation make new objects with valid materials and leave the selected
ones untouched; bad photos and bad models fail clearly and change nothing; Cancel leaves the scene as it was.
The category model is a tiny one trained by the module fixture on the tests' own tiny collection."""

import json
import shutil

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import addon  # noqa: E402
from addon.convert import single_photo  # noqa: E402
from addon.operators import reconstruct_single  # noqa: E402
from category_scene import make_collection  # noqa: E402
from texforge_blender import camera as blender_camera  # noqa: E402
from texforge.data.images import write_png  # noqa: E402
from texforge.data.transforms_io import read_frames  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from texforge.pipelines.category.train import train_category_model

    root = tmp_path_factory.mktemp("single_image")
    collection = make_collection(root / "collection")
    out = train_category_model(collection.root, root / "model", preset="tiny", iterations=40, gan_iterations=20,
                               evaluate=False, log=lambda *a: None)
    return {"model": str(out), "collection": collection.root, "root": root}


@pytest.fixture
def scene(model):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.register()
    sc = bpy.context.scene
    sc.texforge.single_model_dir = model["model"]
    sc.texforge.output_dir = ""           # results stay in the scene: no files in the test's way
    yield sc
    addon.unregister()


def _photo(model, name="mid", view=0) -> str:
    return str(model["collection"] / "objects" / name / "images" / f"{view:03d}.png")


def _counts() -> dict:
    d = bpy.data
    return {k: len(getattr(d, k)) for k in ("objects", "meshes", "images", "materials", "cameras", "collections")}


def _state() -> dict:
    """Everything a run could change about existing objects: names, materials, vertex positions."""
    out = {}
    for o in bpy.data.objects:
        verts = np.zeros(3 * len(o.data.vertices), np.float32) if o.type == "MESH" else np.zeros(0, np.float32)
        if o.type == "MESH":
            o.data.vertices.foreach_get("co", verts)
        out[o.name] = (o.type, [m.name for m in getattr(o.data, "materials", [])], verts.round(6).tobytes(),
                       tuple(np.array(o.matrix_world).round(6).ravel()), sorted(o.keys()))
    return out


def _reconstruct(photo: str, mode: str) -> bpy.types.Object:
    before = set(bpy.data.objects)
    assert bpy.ops.texforge.reconstruct_single_image(image_path=photo, mode=mode, preset="tiny") == {"FINISHED"}
    new = set(bpy.data.objects) - before
    meshes = [o for o in new if o.type == "MESH"]
    cams = [o for o in new if o.type == "CAMERA"]
    assert len(meshes) == 1 and len(cams) == 1 and len(new) == 2, sorted(o.name for o in new)
    return meshes[0], cams[0]


def _check_material(obj, image=None):
    """A valid textured material: an Image Texture node with a (packed, non-empty) image linked to the
    Principled BSDF's Base Color, and the mesh has its UV map."""
    assert obj.data.uv_layers.active is not None and len(obj.data.uv_layers.active.data) == 3 * len(obj.data.polygons)
    mat = obj.data.materials[0]
    bsdf = next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    links = bsdf.inputs["Base Color"].links
    assert len(links) == 1 and links[0].from_node.type == "TEX_IMAGE"
    img = links[0].from_node.image
    assert img is not None and img.size[0] > 0 and img.packed_file is not None
    if image is not None:
        assert img == image
    return img


def test_encoder_and_inversion_add_one_object_and_one_camera(scene, model):
    n0 = _counts()
    obj, cam = _reconstruct(_photo(model), "encoder")
    _check_material(obj)
    assert obj[single_photo.MODEL_KEY] == model["model"] and obj[single_photo.MODE_KEY] == "encoder"
    assert single_photo.LATENT_KEY not in obj          # the encoder's preview has no latent
    bg = cam.data.background_images
    assert len(bg) == 1 and bg[0].image is not None and bg[0].image.size[0] == bg[0].image.size[1]  # framed: square
    # the photo lines up with the camera in the scene's (landscape) frame: spanning its width, centred
    n = bg[0].image.size[0]
    r = scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = n, n, 100
    K0 = blender_camera.camera_krt(scene, cam)[0]
    r.resolution_x, r.resolution_y = 160, 90
    K1 = blender_camera.camera_krt(scene, cam)[0]
    s = 160 / n
    expected = np.diag([s, s, 1.0]) @ K0
    expected[1, 2] += (90 - s * n) / 2
    assert bg[0].frame_method == "CROP"
    np.testing.assert_allclose(K1, expected, atol=1e-3)
    # one new collection holding them; one mesh, texture + photo images, one material, one camera data
    assert _counts() == {**n0, "objects": n0["objects"] + 2, "meshes": n0["meshes"] + 1, "images": n0["images"] + 2,
                         "materials": n0["materials"] + 1, "cameras": n0["cameras"] + 1,
                         "collections": n0["collections"] + 1}
    from texforge.models.category_prior import load_category_prior
    inv, inv_cam = _reconstruct(_photo(model), "inversion")
    _check_material(inv)
    assert len(single_photo.latent_of(inv)) == load_category_prior(model["model"]).latent_dim
    # the fitted camera looks at the object (the category's canonical frame: the object at the world origin)
    K, R, t, w, h = blender_camera.camera_krt(scene, inv_cam)
    centre = R @ np.zeros(3) + t
    assert centre[2] > 1.0 and abs(K[0, 0] * centre[0] / centre[2]) < 0.25 * w


def test_the_active_cameras_photo_and_pose_are_used(scene, model):
    """No image file: the active camera's background image is the photo and its pose the photo's camera."""
    folder = model["collection"] / "objects" / "spot"
    frame = read_frames(folder / "transforms.json")[0][1]
    K, R, t, (w, h) = frame.K, frame.R, frame.t, frame.size
    src = blender_camera.new_camera(scene, "Photo Camera", K, R, t, w, h, set_render_size=True)
    slot = src.data.background_images.new()
    slot.image = bpy.data.images.load(_photo(model, "spot", 1))
    bpy.context.view_layer.objects.active = src
    _, cam = _reconstruct("", "encoder")
    K2, R2, t2, _, _ = blender_camera.camera_krt(scene, cam)
    # the encoder keeps a given camera: the new camera sits where the photo's camera is
    np.testing.assert_allclose(R2, R, atol=1e-4)
    np.testing.assert_allclose(t2, t, atol=1e-4)


def test_swaps_give_valid_materials_on_new_objects_and_leave_the_originals(scene, model):
    a, _ = _reconstruct(_photo(model, "mid", 0), "encoder")
    b, _ = _reconstruct(_photo(model, "spot", 2), "encoder")
    tex_a, tex_b = _check_material(a), _check_material(b)
    before = _state()
    mats_before = {m.name for m in bpy.data.materials}
    for op, shape_of, texture in ((bpy.ops.texforge.swap_texture, a, tex_b), (bpy.ops.texforge.swap_shape, b, tex_a)):
        for o in bpy.data.objects:
            o.select_set(o in (a, b))
        bpy.context.view_layer.objects.active = a
        objects_before = set(bpy.data.objects)
        assert op() == {"FINISHED"}
        new = list(set(bpy.data.objects) - objects_before)
        assert len(new) == 1
        obj = new[0]
        _check_material(obj, texture)
        assert obj.data != shape_of.data and obj.data.materials[0].name not in mats_before
        got, want = (np.zeros(3 * len(o.data.vertices), np.float32) for o in (obj, shape_of))
        obj.data.vertices.foreach_get("co", got)
        shape_of.data.vertices.foreach_get("co", want)
        np.testing.assert_array_equal(got, want)
        assert obj[single_photo.MODE_KEY] == "swap"
    after = _state()
    assert {k: after[k] for k in before} == before       # the originals are untouched
    # the encoder previews have no latents: interpolation says so and makes nothing
    for o in bpy.data.objects:
        o.select_set(o in (a, b))
    n = _counts()
    with pytest.raises(RuntimeError, match="no latent.*Inversion"):
        bpy.ops.texforge.interpolate_reconstructions(steps=2)
    assert _counts() == n


def test_interpolation_between_two_inversions(scene, model):
    a, _ = _reconstruct(_photo(model, "mid", 0), "inversion")
    b, _ = _reconstruct(_photo(model, "tall", 1), "inversion")
    before = _state()
    for o in bpy.data.objects:
        o.select_set(o in (a, b))
    bpy.context.view_layer.objects.active = a
    objects_before = set(bpy.data.objects)
    assert bpy.ops.texforge.interpolate_reconstructions(steps=3) == {"FINISHED"}
    new = set(bpy.data.objects) - objects_before
    assert len(new) == 3 and all(o.type == "MESH" for o in new)
    za, zb = single_photo.latent_of(a), single_photo.latent_of(b)
    for o in new:
        _check_material(o)
        z = single_photo.latent_of(o)
        assert not np.allclose(z, za) and not np.allclose(z, zb)
    after = _state()
    assert {k: after[k] for k in before} == before


def _bad(scene, match, **kw):
    n, state = _counts(), _state()
    with pytest.raises(RuntimeError, match=match):
        bpy.ops.texforge.reconstruct_single_image(preset="tiny", **kw)
    assert _counts() == n and _state() == state


def test_bad_photos_and_models_fail_clearly_and_change_nothing(scene, model, tmp_path):
    empty = tmp_path / "empty.png"
    write_png(empty, np.zeros((32, 32, 3), np.float32))          # a plain black photo: no object on it
    _bad(scene, "empty.png.*(empty|no object|foreground|silhouette)", image_path=str(empty), mode="encoder")
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    _bad(scene, "notes.png.*not a readable image", image_path=str(text), mode="encoder")
    _bad(scene, "no such category-model folder", image_path=_photo(model), model_dir=str(tmp_path / "none"))
    # a corrupt network file: found when the job loads it; still nothing in the scene
    corrupt = tmp_path / "corrupt"
    shutil.copytree(model["model"], corrupt)
    (corrupt / "reconstructor.safetensors").write_bytes(b"\x00garbage" * 10)
    _bad(scene, "reconstructor.safetensors", image_path=_photo(model), model_dir=str(corrupt), mode="encoder")
    corrupt_gan = tmp_path / "corrupt_gan"
    shutil.copytree(model["model"], corrupt_gan)
    (corrupt_gan / "gan.safetensors").write_bytes(b"\x00garbage" * 10)
    _bad(scene, "gan.safetensors.*corrupt", image_path=_photo(model), model_dir=str(corrupt_gan), mode="inversion")
    # a model of another layout
    foreign = tmp_path / "foreign"
    shutil.copytree(model["model"], foreign)
    header = json.loads((foreign / "model.json").read_text())
    header["template"] = "some_other_template"
    (foreign / "model.json").write_text(json.dumps(header))
    _bad(scene, "template", image_path=_photo(model), model_dir=str(foreign), mode="encoder")


def test_cancel_leaves_the_scene_unchanged(scene, model):
    n, state = _counts(), _state()
    scene.texforge.single_image_path = _photo(model)
    run, _ = reconstruct_single.prepare_single(bpy.context, mode="inversion", preset="tiny")
    calls = {"n": 0}

    def stop_soon() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    job = run.make_job(extra_stop=stop_soon)
    job.start()   # the modal path: a worker thread, polled from the main thread
    assert job.wait(60)
    level, message = run.finish(bpy.context)
    assert level == {"WARNING"} and "cancelled" in message
    assert _counts() == n and _state() == state
    from addon.runtime import job as job_mod
    assert job_mod.active_job() is None


def test_the_single_image_panel_offers_settings_and_operators(scene, model):
    import sys
    from pathlib import Path
    from types import SimpleNamespace

    from addon.ui import panels_single_image

    sys.path.insert(0, str(Path(__file__).resolve().parent / "blender_scripts"))
    from _common import RecordingLayout

    def draw():
        layout = RecordingLayout()
        panels_single_image.TEXFORGE_PT_single_image.draw(SimpleNamespace(layout=layout), bpy.context)
        return layout

    layout = draw()
    for op in ("texforge.reconstruct_single_image", "texforge.swap_texture", "texforge.swap_shape",
               "texforge.interpolate_reconstructions"):
        assert any(item[:2] == ("operator", op) for item in layout.items), op
    assert {("prop", p) for p in ("single_image_path", "single_model_dir", "single_mode")} <= set(layout.items)
    assert any("no active camera" in t for t in layout.texts())   # no file, no camera: says what is missing
    # the swaps stay greyed out until two reconstructions of one model are selected
    assert not bpy.ops.texforge.swap_texture.poll()
    scene.texforge.single_image_path = _photo(model)
    assert not any("no active camera" in t for t in draw().texts())


def test_an_unknown_mode_is_refused_before_anything_runs(scene, model):
    _bad(scene, "mode must be one of", image_path=_photo(model), mode="fast")


def test_the_reconstruction_runs_on_the_one_job_base():
    """Worker thread, progress, time left, Esc / Cancel: all from JobOperator, nothing of its own."""
    from addon.runtime.job_operator import JobOperator
    cls = reconstruct_single.TEXFORGE_OT_reconstruct_single_image
    assert issubclass(cls, JobOperator)
    for name in ("modal", "invoke", "execute", "cancel"):
        assert name not in vars(cls), name


def test_an_absolute_output_folder_gets_a_result_folder(scene, model, tmp_path):
    scene.texforge.output_dir = str(tmp_path / "results")
    obj, _ = _reconstruct(_photo(model), "inversion")
    folders = list((tmp_path / "results").glob("single-*"))
    assert len(folders) == 1
    got = {p.name for p in folders[0].iterdir()}
    assert {"mesh.glb", "texture.png", "input.png", "transforms.json", "result.json"} <= got
    record = json.loads((folders[0] / "result.json").read_text())
    assert record["model"]["path"] == model["model"] and record["model"]["mode"] == "inversion"
    np.testing.assert_allclose(record["latent"], single_photo.latent_of(obj), atol=1e-6)
