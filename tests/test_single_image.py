"""The single-image command line (scripts/reconstruct_single.py) on a tiny category model trained here:
both modes write a complete result folder whose camera puts the mesh on the photo's silhouette, and bad
input or Ctrl-C leave nothing but the run's log."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from category_scene import make_collection
from texforge.data.images import read_image, write_png
from texforge.data.transforms_io import read_frames, write_transforms
from texforge.mesh.io import load_mesh
from texforge.metrics.image import hard_iou
from texforge.render import render_mesh
from texforge.render.camera import cameras_from_arrays

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import reconstruct_single  # noqa: E402

FILES = {"mesh.glb", "texture.png", "input.png", "transforms.json", "result.json"}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from texforge.pipelines.category.train import train_category_model

    root = tmp_path_factory.mktemp("single")
    collection = make_collection(root / "collection")
    return train_category_model(collection.root, root / "model", preset="tiny", iterations=150, gan_iterations=40,
                                evaluate=False, log=lambda msg: None), collection


def _photo(collection):
    """A held-out object's first view (RGBA, the object on alpha) and its exact camera."""
    folder = collection.root / "objects" / collection.heldout[0]
    return folder / "images" / "000.png", folder / "transforms.json"


def _one_frame_camera(collection, tmp_path):
    image, transforms = _photo(collection)
    frame = read_frames(transforms)[0][0]
    out = tmp_path / "camera"
    out.mkdir()
    (out / "000.png").write_bytes(image.read_bytes())
    write_transforms(out, frame.K[None], frame.R[None], frame.t[None], *frame.size, ["000.png"])
    return out / "transforms.json"


def _silhouette_iou(result: Path) -> float:
    """IoU of the written mesh rendered with the written camera against input.png's object."""
    mesh = load_mesh(result / "mesh.glb")
    frame = read_frames(result / "transforms.json")[0][0]
    w, h = frame.size
    cams = cameras_from_arrays(frame.K[None], frame.R[None], frame.t[None], w, h)
    with torch.no_grad():
        out = render_mesh(torch.as_tensor(mesh.vertices, dtype=torch.float32), torch.as_tensor(mesh.faces), cams,
                          soft_mask=False)
    photo = read_image(result / "input.png")[..., :3]
    target = torch.as_tensor(photo.max(-1) > 0.02, dtype=torch.float32)[None]  # black outside the object
    return float(hard_iou(out.hard_mask.float(), target))


@pytest.mark.parametrize("mode,camera", [("encoder", False), ("inversion", True)])
def test_cli_writes_a_result_whose_camera_fits_the_photo(model, tmp_path, mode, camera):
    model_dir, collection = model
    image, _ = _photo(collection)
    args = [str(image), "--model", str(model_dir), "--out", str(tmp_path / "out"), "--mode", mode,
            "--preset", "tiny", "--device", "cpu"]
    if camera:
        args += ["--camera", str(_one_frame_camera(collection, tmp_path))]
    assert reconstruct_single.main(args) == 0
    out = tmp_path / "out"
    assert FILES <= {p.name for p in out.iterdir()}
    info = json.loads((out / "result.json").read_text())
    assert info["pipeline"] == "single_image" and info["model"]["name"] == model_dir.name
    assert info["model"]["mode"] == mode and info["model"]["camera_given"] == camera
    iou = _silhouette_iou(out)
    assert iou >= 0.6, iou
    assert abs(iou - info["metrics"]["input_iou"]) < 0.1


def _fails_cleanly(args, tmp_path, capsys, *words, should_stop=None):
    out = tmp_path / "out"
    code = reconstruct_single.main([*args, "--out", str(out), "--preset", "tiny", "--device", "cpu"],
                                   should_stop=should_stop)
    text = capsys.readouterr()
    assert not out.exists() or {p.name for p in out.iterdir()} <= {"reconstruct.log"}
    assert not list(tmp_path.glob(".*out*")), "a temporary folder was left behind"
    message = text.out + text.err
    for word in words:
        assert word in message, message
    return code


def test_photo_without_foreground(model, tmp_path, capsys):
    model_dir, _ = model
    blank = tmp_path / "blank.png"
    write_png(blank, np.zeros((32, 32, 4), np.float32))
    code = _fails_cleanly([str(blank), "--model", str(model_dir)], tmp_path, capsys, "blank.png", "no object")
    assert code == 2


def test_image_that_is_not_an_image(model, tmp_path, capsys):
    model_dir, _ = model
    fake = tmp_path / "photo.png"
    fake.write_text("not a picture")
    assert _fails_cleanly([str(fake), "--model", str(model_dir)], tmp_path, capsys, "photo.png", "not a readable image") == 2


def test_corrupt_and_foreign_models(model, tmp_path, capsys):
    model_dir, collection = model
    image, _ = _photo(collection)
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for f in model_dir.iterdir():
        if f.is_file():
            (corrupt / f.name).write_bytes(f.read_bytes())
    (corrupt / "gan.safetensors").write_bytes(b"\x00garbage" * 50)
    (corrupt / "reconstructor.safetensors").write_bytes(b"\x00garbage" * 50)
    for m in ("encoder", "inversion"):
        assert _fails_cleanly([str(image), "--model", str(corrupt), "--mode", m], tmp_path, capsys,
                              "safetensors") == 2
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "model.json").write_text(json.dumps({"format": "something-else", "version": 1}))
    assert _fails_cleanly([str(image), "--model", str(foreign)], tmp_path, capsys, "model.json",
                          "not a TexForge category model") == 2
    other_layout = tmp_path / "layout"
    other_layout.mkdir()
    header = json.loads((model_dir / "model.json").read_text())
    (other_layout / "model.json").write_text(json.dumps({**header, "deformation_size": [16, 16]}))
    assert _fails_cleanly([str(image), "--model", str(other_layout)], tmp_path, capsys, "deformation maps") == 2


@pytest.mark.parametrize("mode", ["encoder", "inversion"])
def test_ctrl_c_writes_nothing(model, tmp_path, capsys, mode):
    model_dir, collection = model
    image, _ = _photo(collection)
    code = _fails_cleanly([str(image), "--model", str(model_dir), "--mode", mode], tmp_path, capsys, "cancelled",
                          should_stop=lambda: True)
    assert code == 130
