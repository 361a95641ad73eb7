"""texforge.generate_texture_variations with real bpy: a reconstructed object (a result folder with pseudo-GT
textures, imported the way Reconstruct imports it) gets the texture GAN's best texture and variations as
new materials and packed images; the original material and image stay byte-identical; Cancel and bad input
(no result folder, no pseudo-GT, a corrupt GAN checkpoint) leave the .blend as it was."""

import json
import time

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import addon  # noqa: E402
from addon.convert import results_import, roles  # noqa: E402
from addon.operators import texture_variations as ops_variations  # noqa: E402
from texforge.runtime.errors import InputError  # noqa: E402
from texforge.pipelines.texture_gan.run_folder import gan_folders  # noqa: E402

from test_texture_gan import _result_folder  # noqa: E402  (a reconstruct-like folder with synthetic pseudo-GT)

ITERATIONS = 30


@pytest.fixture
def result_dir(tmp_path):
    return _result_folder(tmp_path / "result")


def _import_object(scene, folder, mark=True):
    from texforge.mesh.io import load_mesh

    made = results_import.import_textured_result(scene, load_mesh(folder / "mesh.glb"), name="TexForge Result")
    if mark:
        results_import.mark_result_folder(made["object"], str(folder))
    bpy.context.view_layer.objects.active = made["object"]
    return made


@pytest.fixture
def scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.register()
    scene = bpy.context.scene
    scene.texforge.texture_gan_variations = 2
    yield scene
    addon.unregister()


def _counts() -> dict:
    d = bpy.data
    return {k: len(getattr(d, k)) for k in ("objects", "meshes", "images", "materials", "collections")}


def _snapshot(made) -> dict:
    """Everything of the original result an artist could see change: pixels, node tree, slots, faces."""
    img, mat, obj = made["image"], made["material"], made["object"]
    pixels = np.empty(len(img.pixels), np.float32)
    img.pixels.foreach_get(pixels)
    nodes = sorted((n.name, n.bl_idname, getattr(getattr(n, "image", None), "name", None),
                    tuple((i.name, tuple(i.default_value) if hasattr(i.default_value, "__len__") else i.default_value)
                          for i in n.inputs if hasattr(i, "default_value")))
                   for n in mat.node_tree.nodes)
    links = sorted((lk.from_node.name, lk.from_socket.identifier, lk.to_node.name, lk.to_socket.identifier)
                   for lk in mat.node_tree.links)
    indices = np.empty(len(obj.data.polygons), np.int32)
    obj.data.polygons.foreach_get("material_index", indices)
    return {"pixels": pixels, "packed": bytes(img.packed_file.data), "size": tuple(img.size), "nodes": nodes,
            "links": links, "image_name": img.name, "material_name": mat.name, "first_slot": obj.data.materials[0].name,
            "indices": indices}


def _assert_unchanged(before: dict, after: dict) -> None:
    before, after = dict(before), dict(after)
    np.testing.assert_array_equal(before.pop("pixels"), after.pop("pixels"))
    np.testing.assert_array_equal(before.pop("indices"), after.pop("indices"))
    assert before == after


def test_variations_are_added_as_new_materials_and_the_originals_stay_identical(scene, result_dir):
    made = _import_object(scene, result_dir)
    obj = made["object"]
    before, counts = _snapshot(made), _counts()
    assert bpy.ops.texforge.generate_texture_variations(preset="tiny", iterations=ITERATIONS) == {"FINISHED"}

    after = _counts()
    assert after["images"] == counts["images"] + 3 and after["materials"] == counts["materials"] + 3
    assert after["objects"] == counts["objects"] and after["meshes"] == counts["meshes"]
    _assert_unchanged(before, _snapshot(made))
    new = list(obj.data.materials)[1:]
    assert len(obj.data.materials) == 4 and [roles.role(m) for m in new] == [results_import.GAN_TEXTURE] * 3
    images = [next(n.image for n in m.node_tree.nodes if n.type == "TEX_IMAGE") for m in new]
    assert all(i.packed_file is not None and tuple(i.size) == (32, 16) for i in images)  # the tiny preset's
    pix = [np.array(i.pixels[:]).reshape(16, 32, 4)[..., :3] for i in images]
    assert not np.allclose(pix[1], pix[2])                                  # two different variations
    assert float(np.abs(pix[0] - 0.5).max()) > 0.05                         # not the flat original

    (folder,) = gan_folders(result_dir)
    assert folder.name == "result-texture-gan" and (folder / "checkpoints" / "texture_gan.safetensors").is_file()
    assert images[0][results_import.SOURCE_KEY] == str(folder)
    assert json.loads((folder / "texture_gan.json").read_text())["iterations"] == ITERATIONS

    # another seed: the trained GAN is reused (no training), new variations, a new folder beside the first
    scene.texforge.texture_gan_seed = 7
    assert bpy.ops.texforge.generate_texture_variations(preset="tiny", iterations=ITERATIONS) == {"FINISHED"}
    first, second = gan_folders(result_dir)
    assert second.name == "result-texture-gan-2"
    summary = json.loads((second / "texture_gan.json").read_text())
    assert summary["timings"]["train_iterations"] == 0 and summary["iterations"] == ITERATIONS
    newer = [next(n.image for n in m.node_tree.nodes if n.type == "TEX_IMAGE") for m in list(obj.data.materials)[4:]]
    assert len(newer) == 3
    assert not np.allclose(np.array(newer[1].pixels[:]), np.array(images[1].pixels[:]))
    _assert_unchanged(before, _snapshot(made))

    # Shown Slot switches what the faces show, and back; materials and images stay as they are
    scene.texforge.texture_shown_slot = 2
    indices = np.empty(len(obj.data.polygons), np.int32)
    obj.data.polygons.foreach_get("material_index", indices)
    assert set(indices.tolist()) == {2}
    scene.texforge.texture_shown_slot = 0
    _assert_unchanged(before, _snapshot(made))


def test_cancel_leaves_the_blend_unchanged_and_the_next_run_resumes(scene, result_dir):
    made = _import_object(scene, result_dir)
    before, counts = _snapshot(made), _counts()
    run = ops_variations.prepare_run(bpy.context, preset="tiny", iterations=3000)
    stop = {}

    def stop_after_a_few_steps() -> bool:
        if job.progress_calls >= 5:
            stop.setdefault("calls", job.progress_calls)
            return True
        return False

    job = run.make_job(extra_stop=stop_after_a_few_steps)
    job.start()  # the modal path: a worker thread, polled from the main thread
    while not job.done:
        time.sleep(0.05)
    level, message = run.finish(bpy.context)
    assert level == {"WARNING"} and "cancelled" in message
    assert job.progress_calls - stop["calls"] <= 2, "training went on after the cancel"
    assert _counts() == counts and len(made["object"].data.materials) == 1
    _assert_unchanged(before, _snapshot(made))
    from addon.runtime import job as job_mod
    assert job_mod.active_job() is None
    # the cancelled run's checkpoint stays beside the result, and the next run continues it
    (folder,) = gan_folders(result_dir)
    assert (folder / "checkpoints" / "texture_gan.safetensors").is_file() and not (folder / "best_texture.png").exists()
    from texforge.training.checkpoint import checkpoint_header
    done = checkpoint_header(folder / "checkpoints" / "texture_gan.safetensors")["step"]
    assert 0 < done < 3000
    assert bpy.ops.texforge.generate_texture_variations(preset="tiny", iterations=done + 5) == {"FINISHED"}
    summary = json.loads((gan_folders(result_dir)[-1] / "texture_gan.json").read_text())
    assert summary["timings"]["train_iterations"] == 5


def test_an_object_without_a_result_folder_is_a_clear_error(scene, result_dir):
    made = _import_object(scene, result_dir, mark=False)
    counts = _counts()
    assert not bpy.ops.texforge.generate_texture_variations.poll()
    with pytest.raises(InputError, match="records no result folder.*Output Folder"):
        ops_variations.prepare_run(bpy.context, obj=made["object"], preset="tiny")
    assert _counts() == counts


def test_a_result_without_pseudo_gt_is_a_clear_error_and_changes_nothing(scene, result_dir):
    (result_dir / "pseudo_gt.safetensors").unlink()
    made = _import_object(scene, result_dir)
    before, counts = _snapshot(made), _counts()
    with pytest.raises(RuntimeError, match="pseudo_gt.safetensors.*run reconstruct with pseudo-GT saving"):
        bpy.ops.texforge.generate_texture_variations(preset="tiny", iterations=ITERATIONS)
    assert _counts() == counts and gan_folders(result_dir) == []
    _assert_unchanged(before, _snapshot(made))


def test_a_corrupt_gan_checkpoint_is_a_clear_error_and_changes_nothing(scene, result_dir):
    made = _import_object(scene, result_dir)
    assert bpy.ops.texforge.generate_texture_variations(preset="tiny", iterations=ITERATIONS) == {"FINISHED"}
    (folder,) = gan_folders(result_dir)
    ckpt = folder / "checkpoints" / "texture_gan.safetensors"
    data = bytearray(ckpt.read_bytes())
    ckpt.write_bytes(bytes(data[: len(data) // 2]))  # a truncated file, as a crash mid-copy leaves
    before, counts = _snapshot(made), _counts()
    slots = len(made["object"].data.materials)
    with pytest.raises(RuntimeError, match="texture_gan.safetensors.*corrupt"):
        bpy.ops.texforge.generate_texture_variations(preset="tiny", iterations=ITERATIONS)
    assert _counts() == counts and len(made["object"].data.materials) == slots
    assert gan_folders(result_dir) == [folder]  # no new folder left behind
    _assert_unchanged(before, _snapshot(made))
