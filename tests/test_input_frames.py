"""Awkward input on the way into a reconstruction: per-frame problems pruned with a warning naming
the frame, the OpenCV-convention hint, two views, copies of one photo, and the working-size cap,
on a ball seen from a ring of cameras (tests/ball_scene.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from texforge.data.transforms_io import load_dataset
from texforge.data.working_size import DEFAULT_MAX_SIZE
from texforge.pipelines.multiview import run_multiview
from texforge.runtime.errors import InputError

from ball_scene import (FOCAL, SIZE, ball_photo, c2w_looking_at_origin, facing_away, quick_config,  # noqa: E402
                        write_ball_dataset)


def test_one_bad_frame_of_each_kind_is_pruned_and_named(tmp_path):
    empty = ball_photo(3)
    empty[..., 3] = 0
    fills = np.full((SIZE, SIZE, 4), 200, np.uint8)
    fills[0, 0, 3] = 0  # an alpha channel whose object covers the whole frame
    bad = {"away.png": (ball_photo(5.5), facing_away(0.3)),
           "fills.png": (fills, c2w_looking_at_origin(1.0, 0.0)),
           "empty.png": (empty, c2w_looking_at_origin(2.0, 0.0))}
    ds = load_dataset(write_ball_dataset(tmp_path / "ds", extra=bad))
    assert {p["name"]: p["reason"].split(" (")[0] for p in ds.pruned} == {
        "fills.png": "the mask covers the whole image, so it has no outline: the object fills the frame or the "
                     "backdrop was not separated; keep the whole object inside the frame on a plain backdrop",
        "empty.png": "no object found"}
    assert len(ds) == 25 and "away.png" in ds.names
    messages = []
    result = run_multiview(ds, quick_config(), progress=lambda f, m: messages.append(m))
    pruned = {p["name"]: p for p in result.pruned}
    assert set(pruned) == {"away.png", "fills.png", "empty.png"}
    assert all(p["stage"] == "input" for p in pruned.values())
    assert "faces away" in pruned["away.png"]["reason"]
    assert result.names == [f"good_{k:02d}.png" for k in range(24)]
    assert any(m.startswith("pruned frame away.png: the camera faces away") for m in messages)
    assert any(w.startswith("frame fills.png left out: the mask covers") for w in ds.warnings)
    assert any(w.startswith("frame empty.png left out: no object found") for w in ds.warnings)
    assert not any("copies" in w for w in ds.warnings)
    from texforge.pipelines.multiview.result_io import result_dict
    assert {p["name"] for p in result_dict(result)["pruned"]} == set(pruned)  # what result.json records


def test_too_few_frames_left_is_an_error_saying_how_many_are_needed(tmp_path):
    root = write_ball_dataset(tmp_path / "ds", n=3)
    for k in (0, 1):
        img = ball_photo(k)
        img[..., 3] = 0
        Image.fromarray(img).save(root / f"good_{k:02d}.png")
    with pytest.raises(InputError, match=r"only 1 of 3 frames are usable; multi-view reconstruction needs at "
                                         r"least 2\. Left out: good_00\.png: no object found.*good_01\.png"):
        load_dataset(root)


def test_held_out_views_are_all_kept(tmp_path):
    """Evaluation compares view by view: an unusable held-out view is reported, never dropped."""
    root = write_ball_dataset(tmp_path / "ds", n=3)
    (root / "transforms_test.json").write_text((root / "transforms.json").read_text())
    img = ball_photo(1)
    img[..., 3] = 0
    Image.fromarray(img).save(root / "good_01.png")
    test = load_dataset(root, split="test")
    assert test.names == ["good_00.png", "good_01.png", "good_02.png"] and test.pruned == []
    assert any(w.startswith("frame good_01.png: no object found") for w in test.warnings)
    assert load_dataset(root).names == ["good_00.png", "good_02.png"]  # training leaves it out


def test_opencv_poses_get_a_convention_hint(tmp_path):
    """OpenCV camera-to-world (looks down +Z, Y down) read as OpenGL: every camera faces away."""
    root = write_ball_dataset(tmp_path / "ds", n=8)
    meta = json.loads((root / "transforms.json").read_text())
    for f in meta["frames"]:
        m = np.asarray(f["transform_matrix"])
        m[:3, 1:3] *= -1
        f["transform_matrix"] = m.tolist()
    (root / "transforms.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match=r"8 of 8 cameras face away .*OpenCV convention.*OpenGL/Blender"):
        run_multiview(load_dataset(root), quick_config())


def test_two_views_warn_that_unseen_sides_are_guessed(tmp_path):
    ds = load_dataset(write_ball_dataset(tmp_path / "ds", n=2))
    assert len(ds) == 2
    assert [w for w in ds.warnings if w.startswith("only 2 views (good_00.png, good_01.png): the sides of the "
                                                   "object that neither photo sees will be guessed")]


def test_copies_of_one_photo_are_named(tmp_path):
    root = write_ball_dataset(tmp_path / "ds", n=12)
    photo = (root / "good_04.png").read_bytes()
    for k in (5, 6, 7, 8, 9, 10, 11):  # 8 of 12 frames hold one photo
        (root / f"good_{k:02d}.png").write_bytes(photo)
    rgba = np.asarray(Image.open(root / "good_04.png"))
    Image.fromarray(rgba).save(root / "good_11.png", compress_level=1)  # same pixels, other bytes
    ds = load_dataset(root)
    copies = [w for w in ds.warnings if "copies of one photo" in w]
    assert copies == ["frames good_05.png, good_06.png, good_07.png, good_08.png, good_09.png and 2 more show the "
                      "same photo as frame good_04.png (8 of 12 frames are copies of one photo); each photo should "
                      "show the object from its own viewpoint: remove the copies"]
    assert len(ds) == 12  # copies are reported, not dropped: a plain sphere may look the same from everywhere


def test_large_photos_are_loaded_at_the_working_size(tmp_path):
    """3000x2000 photos come in at the default cap: every buffer is sized by the cap, not the photos."""
    root = write_ball_dataset(tmp_path / "ds", n=3, size=(3000, 2000))
    ds = load_dataset(root, max_size=DEFAULT_MAX_SIZE)
    w, h = DEFAULT_MAX_SIZE, round(2000 * DEFAULT_MAX_SIZE / 3000)
    assert ds.images.shape == (3, h, w, 3) and ds.masks.shape == (3, h, w)
    assert (ds.cameras.width, ds.cameras.height) == (w, h)
    np.testing.assert_allclose(ds.cameras.K[0, 0, 0].item(), FOCAL * 3000 / SIZE * w / 3000, rtol=1e-6)
    assert any(f"images rescaled to {w}x{h} (longest side capped at {DEFAULT_MAX_SIZE} px)" in x for x in ds.warnings)
    assert load_dataset(root, max_size=0).images.shape == (3, 2000, 3000, 3)  # 0: no cap


# ------------------------------------------------------------------------------------------------
# the command line: working-size cap and output-folder checks before any work
# ------------------------------------------------------------------------------------------------

def _cli():
    from tests.conftest import load_script
    return load_script("reconstruct")


def test_cli_caps_the_working_size_by_default_and_logs_it(tmp_path, capsys):
    cli = _cli()
    assert cli.parse_args(["ds", "--out", "o"]).max_size == DEFAULT_MAX_SIZE
    root = write_ball_dataset(tmp_path / "ds", n=3, size=(3000, 2000))
    out = tmp_path / "out"
    # stopped before the first iteration: the loading (and its log) is what is checked here
    assert cli.main([str(root), "--out", str(out), "--preset", "tiny", "--device", "cpu"],
                    should_stop=lambda: True) == 130
    log = (out / "reconstruct.log").read_text()
    assert "warning: images rescaled to 1024x683 (longest side capped at 1024 px)" in log
    assert "multi-view reconstruction of 3 views" in capsys.readouterr().out


@pytest.mark.parametrize("where", ["read-only file system", "a file"])
def test_cli_refuses_an_unwritable_out_before_loading(tmp_path, capsys, where):
    cli = _cli()
    root = write_ball_dataset(tmp_path / "ds", n=3)
    if where == "a file":
        (tmp_path / "file").write_text("user data")
        out, expect = tmp_path / "file" / "result", "is not a folder"
    else:  # /proc accepts no new entries, for root too (a chmod-ed folder would not stop root)
        out, expect = "/proc/texforge-test/result", "does not accept new files"
    assert cli.main([str(root), "--out", str(out), "--preset", "tiny"]) == 2
    captured = capsys.readouterr()
    assert "error: " in captured.err and expect in captured.err and str(out) in captured.err
    assert "loading" not in captured.out  # refused before any work
    if where == "a file":
        assert (tmp_path / "file").read_text() == "user data"


def test_cli_refuses_an_existing_result_without_overwrite(tmp_path, capsys):
    cli = _cli()
    out = tmp_path / "out"
    out.mkdir()
    (out / "result.json").write_text("{}")
    assert cli.main([str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "already exists and is not empty (result.json); choose a new folder or pass --overwrite" in \
        capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["result.json"]
