"""The category-model operators in real Blender (issue 11): Train Category Model renders a tiny source
in a separate process and trains on the worker thread (Cancel keeps a resumable checkpoint, Resume
finishes it); Generate Objects adds textured objects side by side and changes nothing else; corrupt or
foreign models and empty or unreadable sources are reported clearly and change nothing."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import addon  # noqa: E402
from addon.operators import train_category as ops_train  # noqa: E402
from addon.runtime import category_models  # noqa: E402
from category_scene import make_collection  # noqa: E402

TINY = dict(preset="tiny", iterations=24, gan_iterations=4)


@pytest.fixture(scope="module")
def models_root(tmp_path_factory) -> Path:
    """A models folder with one tiny model ('tiny', all three stages) trained by the library itself."""
    from texforge.pipelines.category.train import train_category_model

    root = tmp_path_factory.mktemp("models")
    collection = make_collection(tmp_path_factory.mktemp("collection"), heldout=())
    train_category_model(collection.root, root / "tiny", preset="tiny", iterations=20, gan_iterations=6,
                         evaluate=False, log=lambda m: None)
    return root


def _use_models(folder) -> None:
    """Give the registered add-on its preferences entry, pointing its Models Folder at ``folder``."""
    addons = bpy.context.preferences.addons
    entry = addons.get("addon") or addons.new()
    entry.module = "addon"
    entry.preferences.models_dir = str(folder)


@pytest.fixture
def tfm(tf, tmp_path):
    """The ``tf`` scene with an empty Models Folder of its own."""
    models = tmp_path / "models"
    models.mkdir()
    _use_models(models)
    yield tf, models
    addon_entry = bpy.context.preferences.addons.get("addon")
    if addon_entry is not None:
        bpy.context.preferences.addons.remove(addon_entry)


def _datablocks() -> dict:
    return {kind: sorted(b.name for b in getattr(bpy.data, kind))
            for kind in ("objects", "meshes", "materials", "images", "collections", "cameras", "lights")}


def _user_cube(scene):
    bpy.ops.mesh.primitive_cube_add(size=1.0, location=(0.0, -3.0, 0.0))
    cube = bpy.context.active_object
    cube.data.materials.append(bpy.data.materials.new("user material"))
    return cube


def _cube_state(cube) -> tuple:
    co = np.empty(3 * len(cube.data.vertices), dtype=np.float32)
    cube.data.vertices.foreach_get("co", co)
    return (tuple(cube.location), [c.name for c in cube.users_collection], co.tobytes(),
            cube.data.materials[0].name)


# ---------------------------------------------------------------------------------------------
# Generate Objects
# ---------------------------------------------------------------------------------------------

def test_generate_adds_textured_objects_side_by_side_and_changes_nothing_else(tf, models_root):
    _use_models(models_root)
    cube = _user_cube(tf)
    before, cube_before = _datablocks(), _cube_state(cube)
    props = tf.texforge
    props.generate_model, props.generate_seed, props.generate_count = "tiny", 5, 3
    assert bpy.ops.texforge.generate_object() == {"FINISHED"}

    after = _datablocks()
    for kind, names in before.items():
        assert set(names) <= set(after[kind]), f"existing {kind} disappeared"
    assert _cube_state(cube) == cube_before, "the user's object changed"
    new_colls = [bpy.data.collections[n] for n in set(after["collections"]) - set(before["collections"])]
    assert len(new_colls) == 1 and new_colls[0].name in [c.name for c in tf.collection.children]
    objs = sorted(new_colls[0].objects, key=lambda o: o.location.x)
    assert len(objs) == 3 and len(set(after["objects"]) - set(before["objects"])) == 3
    assert sorted(o.name for o in objs) == sorted(f"tiny seed_{s:06d}" for s in (5, 6, 7))
    for obj in objs:
        me = obj.data
        assert len(me.polygons) > 100 and len(me.uv_layers) == 1
        uv = np.empty(2 * len(me.loops), dtype=np.float32)
        me.uv_layers[0].data.foreach_get("uv", uv)
        assert np.isfinite(uv).all() and uv.min() >= 0.0 and uv.max() <= 1.0 and np.ptp(uv) > 0.5
        mat = me.materials[0]
        images = [n.image for n in mat.node_tree.nodes if n.type == "TEX_IMAGE"]
        assert len(images) == 1 and images[0].packed_file is not None and tuple(images[0].size) == (64, 32)
        bsdf = next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
        assert bsdf.inputs["Base Color"].links[0].from_node.image == images[0]
    # side by side: world bounding boxes along X do not overlap
    spans = []
    for obj in objs:
        xs = [(obj.matrix_world @ v.co).x for v in obj.data.vertices]
        spans.append((min(xs), max(xs)))
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:]))


def test_interpolation_ends_are_the_two_seeds_objects(tf, models_root):
    _use_models(models_root)
    props = tf.texforge
    props.generate_model, props.generate_seed, props.generate_count = "tiny", 2, 1
    assert bpy.ops.texforge.generate_object() == {"FINISHED"}
    single = bpy.data.objects["tiny seed_000002"]
    props.generate_interpolate, props.generate_seed_to, props.generate_steps = True, 9, 4
    assert bpy.ops.texforge.generate_object() == {"FINISHED"}
    path = [bpy.data.objects[f"tiny interp_2_9_{i:03d}"] for i in range(4)]

    def co(o):
        a = np.empty(3 * len(o.data.vertices), dtype=np.float32)
        o.data.vertices.foreach_get("co", a)
        return a

    assert np.allclose(co(path[0]), co(single), atol=1e-5)
    assert not np.allclose(co(path[1]), co(path[0]), atol=1e-4)
    assert len({o.users_collection[0].name for o in path}) == 1 != single.users_collection[0].name


@pytest.mark.parametrize("damage", ["corrupt model.json", "corrupt gan", "other layout", "no gan stage"])
def test_a_damaged_model_is_reported_and_changes_nothing(tf, models_root, tmp_path, damage):
    models = tmp_path / "models"
    shutil.copytree(models_root / "tiny", models / "bad")
    header = json.loads((models / "bad" / "model.json").read_text())
    if damage == "corrupt model.json":
        (models / "bad" / "model.json").write_text('{"format": "texforge-category-model", "vers')
        expect = "unreadable category-model header"
    elif damage == "corrupt gan":
        (models / "bad" / "gan.safetensors").write_bytes(b"\x00" * 64)
        expect = "gan.safetensors"
    elif damage == "other layout":
        header["deformation_size"] = [64, 64]
        (models / "bad" / "model.json").write_text(json.dumps(header))
        expect = "deformation maps of \\[64, 64\\]"
    else:
        del header["stages"]["gan"]
        (models / "bad" / "model.json").write_text(json.dumps(header))
        expect = "no 'gan' stage"
    _use_models(models)
    tf.texforge.generate_model = "bad"
    before = _datablocks()
    files = sorted(p.name for p in (models / "bad").iterdir())
    with pytest.raises(RuntimeError, match=expect):
        bpy.ops.texforge.generate_object()
    assert _datablocks() == before and sorted(p.name for p in (models / "bad").iterdir()) == files


# ---------------------------------------------------------------------------------------------
# Train Category Model
# ---------------------------------------------------------------------------------------------

def _procedural(props, name="vases"):
    props.category_source, props.category_generator = "PROCEDURAL", "vase"
    props.category_objects, props.category_views, props.category_size = 4, 3, 32
    props.category_model_name = name


def test_cancel_during_training_keeps_a_resumable_checkpoint_and_resume_finishes(tfm):
    from texforge.models.category_model import read_model
    from texforge.training.checkpoint import checkpoint_header

    scene, models = tfm
    _procedural(scene.texforge)
    run = ops_train.prepare_run(bpy.context, **TINY)
    assert not run.resume
    # as in the UI: the job on a worker thread, the main thread free, Cancel pressed once training runs
    job = run.make_job().start()
    while not job.done and job.fraction <= ops_train.RENDER_SHARE + 0.1:
        job.wait(0.05)
    assert not job.done, "the job ended before training was under way"
    assert bpy.ops.texforge.cancel_job() == {"FINISHED"}
    assert job.wait(120), "training did not stop after Cancel"
    level, message = run.finish(bpy.context)
    assert level == {"WARNING"} and "cancelled" in message and "Resume" in message

    # the renderer ran as a process and finished every object; training stopped part-way with a checkpoint
    collection = models / ".work" / "vases" / "collection"
    assert len(list((collection / "objects").glob("*/transforms.json"))) == 4
    model = read_model(models / "vases")
    assert model.stages == {}
    ckpt = models / "vases" / "checkpoints" / "reconstructor_train.safetensors"
    step = checkpoint_header(ckpt)["step"]
    assert 0 < step < TINY["iterations"]
    assert [m.name for m in category_models.list_models(str(models))] == ["vases"]

    # a second run on the same name without Resume refuses and changes nothing
    listing = sorted(str(p.relative_to(models)) for p in models.rglob("*"))
    with pytest.raises(RuntimeError, match="tick Resume"):
        bpy.ops.texforge.train_category_model(**TINY)
    assert sorted(str(p.relative_to(models)) for p in models.rglob("*")) == listing

    scene.texforge.category_resume = True
    assert bpy.ops.texforge.train_category_model(**TINY) == {"FINISHED"}
    model = read_model(models / "vases")
    assert set(model.stages) == {"reconstructor", "maps", "gan"}
    assert model.stages["reconstructor"]["iterations"] == TINY["iterations"]
    assert scene.texforge.generate_model == "vases"
    assert category_models.list_models(str(models))[0].can_generate


def test_train_from_a_scene_collection_exports_its_objects_and_leaves_them(tfm):
    from texforge.models.category_model import read_model

    scene, models = tfm
    coll = bpy.data.collections.new("Examples")
    scene.collection.children.link(coll)
    image = bpy.data.images.new("stripes", 8, 8)
    px = np.zeros((8, 8, 4), np.float32)
    px[:, ::2] = (1.0, 0.2, 0.1, 1.0)
    px[:, 1::2] = (0.1, 0.3, 1.0, 1.0)
    image.pixels.foreach_set(px.ravel())
    from texforge_blender.objects import textured_material
    material = textured_material("striped", image)
    for i, add in enumerate((bpy.ops.mesh.primitive_uv_sphere_add, bpy.ops.mesh.primitive_cylinder_add,
                             bpy.ops.mesh.primitive_cube_add)):
        add(location=(3.0 * i, 0.0, 0.0))
        obj = bpy.context.active_object
        obj.data.materials.append(material)
        for c in obj.users_collection:
            c.objects.unlink(obj)
        coll.objects.link(obj)
    before = _datablocks()
    props = scene.texforge
    props.category_source, props.category_collection = "COLLECTION", coll
    props.category_views, props.category_size, props.category_model_name = 2, 32, "mine"
    assert bpy.ops.texforge.train_category_model(preset="tiny", iterations=4, gan_iterations=0) == {"FINISHED"}
    assert _datablocks() == before
    from texforge.mesh.io import load_mesh
    glbs = sorted((models / ".work" / "mine" / "meshes").glob("*.glb"))
    assert len(glbs) == 3
    sphere = load_mesh(glbs[2])  # by object name: Cube, Cylinder, Sphere
    assert len(sphere.faces) == 2 * len(bpy.data.objects["Sphere"].data.polygons) - 2 * 32  # triangulated fans
    tex = sphere.texture.reshape(-1, 3)
    assert (tex[:, 0] > 0.9).mean() > 0.3 and (tex[:, 2] > 0.9).mean() > 0.3, "the stripes did not come along"
    assert set(read_model(models / "mine").stages) == {"reconstructor", "maps"}
    entry = category_models.list_models(str(models))[0]
    assert entry.name == "mine" and not entry.can_generate and entry.stages == ("reconstructor", "maps")


@pytest.mark.parametrize("case", ["empty folder", "missing folder", "a file", "empty collection"])
def test_an_empty_or_unreadable_source_is_reported_and_changes_nothing(tfm, tmp_path, case):
    scene, models = tfm
    props = scene.texforge
    props.category_model_name = "nothing"
    props.category_source = "FOLDER"
    if case == "empty folder":
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "notes.txt").write_text("no meshes here")
        props.category_folder, expect = str(tmp_path / "empty"), "no mesh files"
    elif case == "missing folder":
        props.category_folder, expect = str(tmp_path / "absent"), "absent: not a folder"
    elif case == "a file":
        (tmp_path / "mesh.obj").write_text("v 0 0 0\n")
        props.category_folder, expect = str(tmp_path / "mesh.obj"), "mesh.obj: not a folder"
    else:
        coll = bpy.data.collections.new("Empty")
        scene.collection.children.link(coll)
        props.category_source, props.category_collection, expect = "COLLECTION", coll, "holds no mesh objects"
    before = _datablocks()
    with pytest.raises(RuntimeError, match=expect):
        bpy.ops.texforge.train_category_model(**TINY)
    assert _datablocks() == before and list(models.iterdir()) == []


def test_an_unreadable_mesh_fails_the_render_with_its_name(tfm, tmp_path):
    scene, models = tfm
    folder = tmp_path / "meshes"
    folder.mkdir()
    (folder / "broken.glb").write_bytes(b"glTF not really")
    props = scene.texforge
    props.category_source, props.category_folder, props.category_model_name = "FOLDER", str(folder), "broken"
    props.category_views, props.category_size = 2, 32
    with pytest.raises(RuntimeError, match="failed: rendering the collection failed .exit code 2.: .*broken.glb: "
                                           "cannot render this mesh"):
        bpy.ops.texforge.train_category_model(**TINY)
    assert not (models / "broken").exists()


def test_bad_model_names_are_refused(tfm):
    scene, models = tfm
    _procedural(scene.texforge, name="../escape")
    with pytest.raises(RuntimeError, match="model name"):
        bpy.ops.texforge.train_category_model(**TINY)
    assert list(models.iterdir()) == []


def test_addon_lists_match_the_library():
    from addon.ui.properties import CATEGORY_PRESET_ITEMS, PROCEDURAL_ITEMS
    from texforge.mesh.procedural import GENERATORS
    from texforge.models import category_model

    assert tuple(k for k, *_ in PROCEDURAL_ITEMS) == GENERATORS
    assert category_models.MODEL_JSON == category_model.MODEL_JSON
    assert category_models.MODEL_FORMAT == category_model.MODEL_FORMAT
    from texforge.models.category_config import CategoryConfig
    for key, *_ in CATEGORY_PRESET_ITEMS:
        assert CategoryConfig.preset(key).preset_name == key


def test_cancel_while_rendering_stops_the_renderer_process(tfm):
    scene, models = tfm
    _procedural(scene.texforge, name="stopped")
    scene.texforge.category_objects = 40
    run = ops_train.prepare_run(bpy.context, **TINY)
    job = run.make_job(extra_stop=lambda: run.process is not None and run._rendered() >= 1)
    job.run_sync()
    level, message = run.finish(bpy.context)
    assert level == {"WARNING"} and "cancelled" in message
    assert run.process.poll() is not None, "the renderer process still runs"
    rendered = list((models / ".work" / "stopped" / "collection" / "objects").glob("*/transforms.json"))
    assert 1 <= len(rendered) < 40 and not (models / "stopped").exists()

    # Resume with other render settings is refused with what to do; without Resume the model starts anew
    props = scene.texforge
    props.category_objects, props.category_views, props.category_resume = 3, 2, True
    with pytest.raises(RuntimeError, match="other settings.*untick Resume"):
        bpy.ops.texforge.train_category_model(preset="tiny", iterations=4, gan_iterations=0)
    props.category_resume = False
    assert bpy.ops.texforge.train_category_model(preset="tiny", iterations=4, gan_iterations=0) == {"FINISHED"}
    plan = json.loads((models / ".work" / "stopped" / "collection" / "render.json").read_text())
    assert (plan["objects"], plan["views"]) == (3, 2)


def test_panel_lists_the_models_with_their_stages_and_shows_a_running_job(tf, models_root):
    import sys
    import threading
    from types import SimpleNamespace

    from addon.runtime import job as job_mod
    from addon.ui import panels_category

    sys.path.insert(0, str(Path(__file__).resolve().parent / "blender_scripts"))
    from _common import RecordingLayout

    def draw():
        layout = RecordingLayout()
        panels_category.TEXFORGE_PT_category.draw(SimpleNamespace(layout=layout), bpy.context)
        return layout

    _use_models(models_root)
    idle = draw()
    texts = idle.texts()
    assert "tiny" in texts and "reconstructor, maps, gan" in texts and "Models (1)" in texts
    assert ("operator", "texforge.train_category_model", "") in idle.items
    assert ("operator", "texforge.generate_object", "") in idle.items

    release = threading.Event()

    def work(progress, should_stop):
        progress(0.3, "training the reconstructor")
        release.wait(30)

    job = job_mod.Job("train category model", work).start()
    try:
        while job.progress_calls == 0:
            release.wait(0.01)
        bars = [item for item in draw().items if item[0] == "progress"]
        assert len(bars) == 1 and "training the reconstructor (30%" in bars[0][1]
        assert not bpy.ops.texforge.generate_object.poll()
    finally:
        release.set()
        job.wait(30)
        job.release()
