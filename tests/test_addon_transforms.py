"""Import/Export transforms: they work in a Blender without PyTorch, and a frame's ``mask_path`` survives
the trip into Blender (a hidden mask image on the camera), so that Reconstruct uses the mask files
exactly as the command line does, and Export transforms writes them back."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import addon  # noqa: E402
from addon.convert import roles, scene_inputs  # noqa: E402
from addon.operators import reconstruct as ops_reconstruct  # noqa: E402
from texforge_blender import dataset_render  # noqa: E402
from texforge.data.images import read_image, write_png  # noqa: E402
from texforge.runtime.errors import InputError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "tests" / "blender_scripts"
VIEWS, SIZE = 6, 48


def test_import_and_export_transforms_without_torch(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPTS / "transforms_no_torch.py"), str(ROOT), str(tmp_path / "ds")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=180)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT: ")]
    assert proc.returncode == 0 and lines, f"{proc.stdout}\n{proc.stderr}"
    r = json.loads(lines[-1][len("RESULT: "):])
    assert r["errors"] == [], "\n".join(r["errors"])
    assert r["attempts"] == [] and r["torch_modules"] == []  # torch was never even asked for
    assert r["import"] == ["FINISHED"] and r["export"] == ["FINISHED"] and r["cameras"] == 3
    assert r["photos"] == ["f0.png", "f1.png", "f2.png"]
    assert r["masks"] == ["f0_mask.png", "f1_mask.png", "f2_mask.png"]
    assert r["exported_masks"] == r["expected_masks"]  # mask_path written back, pointing at the same files
    with open(tmp_path / "ds" / "transforms.json", encoding="utf-8") as f:
        original = [fr["transform_matrix"] for fr in json.load(f)["frames"]]
    np.testing.assert_allclose(r["exported_matrices"], original, atol=1e-6)


def _cluttered(h: int, w: int, seed: int) -> np.ndarray:
    """A busy backdrop (random coloured blocks), so no plain-background colour model can find the object."""
    rng = np.random.default_rng(seed)
    blocks = rng.uniform(0.0, 1.0, (h // 4 + 1, w // 4 + 1, 3)).astype(np.float32)
    return np.repeat(np.repeat(blocks, 4, axis=0), 4, axis=1)[:h, :w]


@pytest.fixture(scope="module")
def masked_spot(tmp_path_factory, test_data):
    """spot on a cluttered backdrop: RGB photos without alpha plus mask files named by mask_path."""
    folder = tmp_path_factory.mktemp("masks") / "spot"
    spec = dataset_render.DatasetSpec(views=VIEWS, size=(SIZE, SIZE), holdout=0, seed=5, samples=4,
                                      elevations=(0.0, 35.0))
    dataset_render.render_dataset(str(test_data / "spot" / "spot.obj"), folder, spec, log=lambda *a: None)
    meta = json.loads((folder / "transforms.json").read_text())
    alphas = {}
    for i, frame in enumerate(meta["frames"]):
        photo = folder / frame["file_path"]
        rgba = read_image(photo)
        alpha = rgba[..., 3:4]
        write_png(photo, rgba[..., :3] * alpha + _cluttered(*rgba.shape[:2], seed=i) * (1.0 - alpha))
        mask = Path(frame["file_path"]).with_name(Path(frame["file_path"]).stem + "_mask.png")
        write_png(folder / mask, alpha[..., 0])
        frame["mask_path"] = mask.as_posix()
        alphas[Path(frame["file_path"]).stem] = alpha[..., 0]
    (folder / "transforms.json").write_text(json.dumps(meta))
    return folder, alphas


@pytest.fixture
def masked_scene(masked_spot, tmp_path):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.register()
    assert bpy.ops.texforge.import_transforms(filepath=str(masked_spot[0] / "transforms.json")) == {"FINISHED"}
    bpy.context.scene.texforge.output_dir = str(tmp_path / "results")
    yield bpy.context.scene
    addon.unregister()


def test_imported_mask_files_are_the_masks_reconstruct_uses(masked_scene, masked_spot):
    _, alphas = masked_spot
    cams = scene_inputs.selected_cameras(bpy.context)
    assert len(cams) == VIEWS
    for cam in cams:
        mask_img = scene_inputs.camera_mask_image(cam)
        assert mask_img is not None and roles.role(mask_img) == roles.MASK
        assert scene_inputs.camera_image(cam) is not mask_img  # the photo stays the photo
        slots = [bg for bg in cam.data.background_images if bg.image is mask_img]
        assert len(slots) == 1 and not slots[0].show_background_image  # hidden: the photo stays visible
    def photo_alpha(camera_name):
        return alphas[scene_inputs.camera_image(bpy.data.objects[camera_name]).name.rsplit(".", 1)[0]]

    dataset = ops_reconstruct.prepare_run(bpy.context, preset="tiny", max_image_size=SIZE).dataset
    for name, mask in zip(dataset.names, dataset.masks):
        np.testing.assert_allclose(mask, photo_alpha(name), atol=1.5 / 255)
    assert not [w for w in dataset.warnings if "background-colour" in w], dataset.warnings

    # the same photos without their mask slots: the colour model cannot separate spot from the clutter
    for cam in cams:
        for bg in list(cam.data.background_images):
            if bg.image is scene_inputs.camera_mask_image(cam):
                cam.data.background_images.remove(bg)
    try:
        unmasked = ops_reconstruct.prepare_run(bpy.context, preset="tiny", max_image_size=SIZE).dataset
    except InputError as exc:
        print(f"without mask files: {exc}")
        return
    ious = [_iou(m > 0.5, photo_alpha(n) > 0.5) for n, m in zip(unmasked.names, unmasked.masks)]
    print(f"without mask files: mask IoU {np.round(ious, 3).tolist()}")
    assert np.mean(ious) < 0.7, "the test scene must need its mask files"


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_a_dataset_with_mask_files_reconstructs_from_blender(masked_scene):
    assert bpy.ops.texforge.reconstruct(preset="tiny", max_image_size=SIZE) == {"FINISHED"}
    views = masked_scene.texforge.views
    assert len(views) == VIEWS
    kept = [v for v in views if not v.pruned]
    assert len(kept) >= VIEWS - 1
    print(f"training IoU with mask files: {[round(v.iou, 3) for v in views]}")
    assert np.mean([v.iou for v in kept]) > 0.8, [round(v.iou, 3) for v in views]
    # the corrected cameras carry the mask too, so a run from them sees the same inputs
    assert all(scene_inputs.camera_mask_image(v.corrected) is scene_inputs.camera_mask_image(v.camera)
               for v in kept)
