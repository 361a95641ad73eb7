"""Category reconstruction network (issue 11): trains on a tiny collection the test renders itself, beats
the template on its own training views, resumes bit-for-bit, survives Cancel, and its model folder
gives clear errors."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

from category_scene import make_collection
from texforge.nets.category_recon import turn_maps_about_z
from texforge.models.category_config import CategoryConfig
from texforge.pipelines.category.data import load_collection_views
from texforge.pipelines.category.evaluate import evaluate_reconstructor, mean_texture_of
from texforge.models.category_model import MODEL_JSON, build_template, load_maps, load_reconstructor, read_model
from texforge.pipelines.category.pseudo_maps import build_pseudo_maps
from texforge.pipelines.category.reconstructor import run_train_reconstructor
from texforge.runtime.errors import Cancelled, InputError

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    return make_collection(tmp_path_factory.mktemp("collection"))


@pytest.fixture(scope="module")
def views(collection):
    return load_collection_views(collection, collection.train, 32)


@pytest.fixture(scope="module")
def trained(collection, views):
    return run_train_reconstructor(collection, CategoryConfig.preset("tiny", iterations=300), views=views)


def test_turning_maps_turns_the_mesh_about_z():
    """A whole-texel shift of a deformation map (and its x, y channels rotated) is the same mesh turned
    about +Z: what lets the network predict in the input view's frame."""
    template = build_template(CategoryConfig.preset("tiny"))
    g = torch.Generator().manual_seed(0)
    maps = torch.nn.functional.interpolate(0.3 * torch.randn(1, 3, 4, 4, generator=g), size=(32, 32),
                                           mode="bilinear", align_corners=False)
    az = 3 * 360.0 / 32
    turned = template.vertices_of(turn_maps_about_z(maps, torch.tensor([az]), vector=True))[0]
    a = math.radians(az)
    rz = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
    rotated = template.vertices_of(maps)[0] @ rz.T
    assert torch.cdist(turned, rotated, compute_mode="donot_use_mm_for_euclid_dist").min(1).values.max() < 1e-5
    assert (turned - template.vertices_of(maps)[0]).abs().max() > 0.05   # it did move
    tex = torch.rand(1, 3, 8, 32, generator=g)
    assert torch.allclose(turn_maps_about_z(tex, torch.tensor([360.0 / 32 * 5]), vector=False),
                          torch.roll(tex, 5, dims=-1), atol=1e-6)


def test_training_beats_the_template_on_its_own_training_views(collection, views, trained):
    maps = build_pseudo_maps(trained.network, trained.template, views, (32, 64))
    ev = evaluate_reconstructor(trained.network, trained.template, collection, mean_texture_of(maps),
                                split="train", views=views)
    net, ref = ev["network"], ev["template"]
    assert net["input_iou"] > 0.8 and net["input_iou"] > ref["input_iou"] + 0.2, ev
    assert net["heldout_iou"] > 0.75 and net["heldout_iou"] > ref["heldout_iou"] + 0.2, ev
    assert net["input_l1"] < 0.8 * ref["input_l1"] and net["heldout_l1"] < 0.8 * ref["heldout_l1"], ev
    assert net["chamfer_l1"] < ref["chamfer_l1"], ev
    assert net["elevation_error_deg"] < 15 and net["distance_error"] < 0.3, ev
    # the pseudo maps: the spec's shapes, textures in [0, 1], most of each object's surface seen
    assert maps["deformation"].shape == (4, 3, 32, 32) and maps["texture"].shape == (4, 3, 32, 64)
    assert maps["visibility"].shape == (4, 1, 32, 64) and maps["object_ids"] == collection.train
    assert 0 <= float(maps["texture"].min()) and float(maps["texture"].max()) <= 1
    assert float((maps["visibility"] > 0).float().mean()) > 0.4
    from texforge.pipelines.category.figures import reconstruction_sheet
    assert reconstruction_sheet(trained.network, trained.template, views, [0, 2]).shape == (64, 6 * 32, 3)


def test_resume_after_cancel_gives_the_weights_of_an_uninterrupted_run(collection, views, tmp_path):
    cfg = CategoryConfig.preset("tiny", iterations=12, checkpoint_every=5)
    whole = run_train_reconstructor(collection, cfg, views=views)
    calls = {"n": 0}

    def stop_after_7():
        calls["n"] += 1
        return calls["n"] > 7

    ckpt = tmp_path / "ck.safetensors"
    with pytest.raises(Cancelled):
        run_train_reconstructor(collection, cfg, should_stop=stop_after_7, checkpoint=ckpt, views=views)
    from texforge.training.checkpoint import checkpoint_header
    assert checkpoint_header(ckpt)["step"] == 7        # Cancel saved the last finished step, not the periodic 5
    resumed = run_train_reconstructor(collection, cfg, checkpoint=ckpt, resume=True, views=views)
    a, b = whole.network.state_dict(), resumed.network.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["iteration"] for r in resumed.log] == [r["iteration"] for r in whole.log]
    with pytest.raises(InputError, match="another configuration"):
        run_train_reconstructor(collection, CategoryConfig.preset("tiny", iterations=12, channels=8),
                                checkpoint=ckpt, resume=True, views=views)


def _script():
    sys.path.insert(0, str(SCRIPTS))
    try:
        import train_category
    finally:
        sys.path.remove(str(SCRIPTS))
    return train_category


def test_script_writes_the_model_folder_stage_by_stage_and_resumes_after_cancel(collection, tmp_path, capsys):
    script = _script()
    out = tmp_path / "model"
    calls = {"n": 0}

    def stop_soon():
        calls["n"] += 1
        return calls["n"] > 10

    args = [str(collection.root), "--out", str(out), "--preset", "tiny", "--iterations", "30", "--gan-iterations", "8",
            "--device", "cpu"]
    assert script.main(args, should_stop=stop_soon) == 130
    assert json.loads((out / MODEL_JSON).read_text())["stages"] == {}     # nothing half-finished is listed
    assert (out / "checkpoints" / "reconstructor_train.safetensors").is_file()
    assert script.main(args) == 2                                           # a fresh run refuses the folder
    assert "--resume" in capsys.readouterr().err
    assert script.main(args + ["--resume"]) == 0
    model = read_model(out)
    assert set(model.stages) == {"reconstructor", "maps", "gan"} and model.stages["reconstructor"]["iterations"] == 30
    from texforge.pipelines.category.generate import generate_objects
    objects = generate_objects(out, seeds=[1, 2])                      # the model folder generates new objects
    assert len(objects) == 2 and objects[0].texture.shape[:2] == (32, 64)
    header = json.loads((out / MODEL_JSON).read_text())
    assert header["format"] == "texforge-category-model" and header["template"] == "convmesh_sphere"
    assert header["deformation_size"] == [32, 32] and header["texture_size"] == [32, 64]
    assert header["collection"]["split"]["train"] == collection.train and header["symmetric"] is False
    maps = load_maps(out)
    assert maps["deformation"].dtype == torch.float32 and maps["texture"].shape == (4, 3, 32, 64)
    net, cfg, template = load_reconstructor(model)
    assert cfg.preset_name == "tiny" and net(torch.rand(2, 3, 32, 32))["deformation"].shape == (2, 3, 32, 32)
    ev = json.loads((out / "evaluation.json").read_text())
    assert ev["count"] == 1 and 0 <= ev["network"]["input_iou"] <= 1


def test_bad_models_and_collections_give_clear_errors(collection, tmp_path, capsys):
    script = _script()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert script.main([str(empty), "--out", str(tmp_path / "m0"), "--preset", "tiny"]) == 2
    assert "no collection.json" in capsys.readouterr().out
    assert not (tmp_path / "m0" / MODEL_JSON).exists()

    with pytest.raises(InputError, match="no such category-model folder"):
        read_model(tmp_path / "nothing")
    with pytest.raises(InputError, match="no model.json"):
        read_model(empty)
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    good = {"format": "texforge-category-model", "version": 1, "name": "m", "collection": collection.header(),
            "template": "convmesh_sphere", "symmetric": False, "deformation_size": [32, 32],
            "texture_size": [32, 64], "stages": {"reconstructor": {"file": "reconstructor.safetensors"},
                                                 "maps": {"file": "maps.safetensors"}}}
    for change, message in [({"version": 2}, "version 2"), ({"format": "other"}, "not a TexForge category model"),
                            ({"template": "icosphere"}, "template 'icosphere'"),
                            ({"deformation_size": [64, 64]}, "deformation maps of"),
                            ({"texture_size": "big"}, "malformed")]:
        (model_dir / MODEL_JSON).write_text(json.dumps({**good, **change}))
        with pytest.raises(InputError, match=message):
            read_model(model_dir)
    (model_dir / MODEL_JSON).write_text("{broken")
    with pytest.raises(InputError, match="unreadable"):
        read_model(model_dir)
    (model_dir / MODEL_JSON).write_text(json.dumps(good))
    model = read_model(model_dir)
    with pytest.raises(InputError, match="reconstructor.safetensors is missing"):
        load_reconstructor(model)
    (model_dir / "reconstructor.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(InputError, match="corrupt"):
        load_reconstructor(model)
    (model_dir / "maps.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(InputError, match="corrupt"):
        load_maps(model_dir)
    # a checkpoint of another network (another layout) in the reconstructor's place
    from texforge.training import save_checkpoint
    save_checkpoint(model_dir / "reconstructor.safetensors", {"generator": torch.nn.Linear(2, 2)}, step=1,
                    config=CategoryConfig.preset("tiny").to_dict())
    with pytest.raises(InputError, match="no module 'network'"):
        load_reconstructor(model)
    with pytest.raises(InputError, match="no 'gan' stage"):
        model.part("gan")
