"""Batch runs (texforge_blender.batch, scripts/batch.py): scene lists, sharding, resumable stages (temp
folder + rename, DONE marker), aggregate reports; end to end through the script over two tiny scenes
with a kill in the middle and a resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from texforge_blender import batch

ROOT = Path(__file__).resolve().parent.parent


def _batch_script(*args: str, timeout: float = 600) -> int:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "batch.py"), *args], timeout=timeout).returncode


# ------------------------------------------------------------------------------------------------
# scene lists and shards
# ------------------------------------------------------------------------------------------------

def test_scene_sources(tmp_path):
    meshes = tmp_path / "meshes"
    meshes.mkdir()
    (meshes / "b.obj").write_text("v 0 0 0\n")
    (meshes / "a.ply").write_text("ply\n")
    (meshes / "notes.txt").write_text("ignored")
    ds = meshes / "captured"
    ds.mkdir()
    (ds / "transforms.json").write_text("{}")
    scenes = batch.load_scenes(meshes, {"preset": "tiny"})
    assert [s.name for s in scenes] == ["a", "b", "captured"]
    assert scenes[2].dataset == str(ds.resolve()) and scenes[2].mesh is None
    assert all(s.options == {"preset": "tiny"} for s in scenes)

    txt = tmp_path / "list.txt"
    txt.write_text("# tiny scenes\nexample views=6 size=32\nmeshes/b.obj name=bee noise-rot=2.5 seed=3  # spot\n")
    a, b = batch.load_scenes(txt, {"size": 48})
    assert (a.name, a.mesh, a.options) == ("bee", str((meshes / "b.obj").resolve()),
                                           {"size": 48, "noise_rot": 2.5, "seed": 3})
    assert (b.name, b.mesh, b.options) == ("example", "example", {"size": 32, "views": 6})
    assert batch._flags(a, "render") == ["--size", "48", "--noise-rot", "2.5", "--seed", "3"]
    assert batch._flags(a, "reconstruct") == ["--seed", "3"]
    assert batch._kwargs(a, "reconstruct") == {"seed": 3} and batch._kwargs(a, "evaluate") == {"seed": 3}

    (eng,) = batch.load_scenes(tmp_path / "list.txt", {"engine": "workbench"})[1:]
    assert eng.options["engine"] == "BLENDER_WORKBENCH"

    js = tmp_path / "list.json"
    js.write_text(json.dumps({"defaults": {"preset": "tiny"},
                              "scenes": ["example", {"dataset": "meshes/captured", "name": "cap", "seed": 1}]}))
    cap, ex = batch.load_scenes(js)
    assert cap.dataset and cap.options == {"preset": "tiny", "seed": 1} and ex.mesh == "example"


@pytest.mark.parametrize("content, message", [
    ("nope.obj\n", "mesh file not found"),
    ("example colour=red\n", "unknown scene option 'colour'"),
    ("example views=many\n", "option 'views' must be int"),
    ("example\nexample\n", "duplicate scene names: example"),
    ("example views\n", "expected key=value"),
    ("# nothing\n", "no scenes found"),
])
def test_bad_scene_lists_are_rejected_naming_the_line(tmp_path, content, message):
    txt = tmp_path / "scenes.txt"
    txt.write_text(content)
    with pytest.raises(ValueError, match=message):
        batch.load_scenes(txt)


def test_shards_partition_the_sorted_scenes():
    scenes = [batch.Scene(n, mesh="example") for n in ["d", "a", "c", "b", "e"]]
    parts = [[s.name for s in batch.shard_scenes(scenes, i, 2)] for i in range(2)]
    assert parts == [["a", "c", "e"], ["b", "d"]]
    assert [s.name for s in batch.shard_scenes(list(reversed(scenes)), 1, 2)] == ["b", "d"]  # order-free
    assert batch.parse_shard("1/3") == (1, 3) and batch.parse_shard(None) == (0, 1)
    for bad in ("3/3", "1", "a/b", "0/0", "-1/2"):
        with pytest.raises(ValueError, match="shard"):
            batch.parse_shard(bad)


# ------------------------------------------------------------------------------------------------
# resumable stages (fast: stages that only write files)
# ------------------------------------------------------------------------------------------------

class Recorder:
    """Stages that write a file, record each run, and can be told to fail once."""

    def __init__(self):
        self.calls: list[tuple[str, str]] = []
        self.fail: set[tuple[str, str]] = set()

    def stage(self, name):
        def run(ctx):
            self.calls.append((ctx.scene.name, name))
            ctx.work.mkdir()
            (ctx.work / "part.txt").write_text("half")
            if (ctx.scene.name, name) in self.fail:
                self.fail.discard((ctx.scene.name, name))
                raise RuntimeError(f"{name} broke")
            (ctx.work / "part.txt").write_text(f"{name} of {ctx.scene.name} from {sorted(ctx.paths)}")
            if name == "evaluate":
                metrics = {"iou": 0.5 if ctx.scene.name == "a" else 0.7, "psnr": 20.0}
                (ctx.work / "report.json").write_text(json.dumps({"version": 1, "metrics": metrics}))
        return batch.Stage(name, run)


def test_resume_skips_done_scenes_and_finished_stages(tmp_path, capsys):
    rec = Recorder()
    stages = [rec.stage("dataset"), rec.stage("result"), rec.stage("evaluate")]
    scenes_file = tmp_path / "s.txt"
    scenes_file.write_text("example name=a\nexample name=b\nexample name=c\n")
    out = tmp_path / "out"
    rec.fail = {("b", "result")}
    assert batch.run_batch(scenes_file, out, stages=stages) == 1  # b failed
    assert (out / "a" / "DONE").is_file() and (out / "c" / "DONE").is_file()
    assert not (out / "b" / "DONE").exists() and (out / "b" / "dataset").is_dir()
    assert not (out / "b" / "result").exists() and not list((out / "b").glob(".*tmp*"))  # no half stage
    table = capsys.readouterr().out
    assert "failed (result)" in table and "mean (all done)" in table
    agg = json.loads((out / "aggregate.json").read_text())
    assert [s["name"] for s in agg["scenes"]] == ["a", "c"] and agg["pending"] == ["b"]
    assert agg["mean"]["iou"] == pytest.approx(0.6)

    # a leftover of a stage killed mid-way is removed; done scenes and finished stages are not redone
    (out / "b" / ".result.tmp").mkdir()
    (out / "b" / ".result.tmp" / "junk").write_text("x")
    mtime = (out / "a" / "evaluate" / "part.txt").stat().st_mtime_ns
    rec.calls.clear()
    assert batch.run_batch(scenes_file, out, stages=stages) == 0
    assert rec.calls == [("b", "result"), ("b", "evaluate")]
    assert (out / "a" / "evaluate" / "part.txt").stat().st_mtime_ns == mtime
    assert (out / "b" / "evaluate" / "part.txt").read_text() == "evaluate of b from ['dataset', 'result']"
    assert not (out / "b" / ".result.tmp").exists()
    log = (out / "b" / "stages.log").read_text()
    assert "failed result" in log and log.count("done dataset") == 1 and log.count("done result") == 1
    agg = json.loads((out / "aggregate.json").read_text())
    assert [s["name"] for s in agg["scenes"]] == ["a", "b", "c"] and agg["pending"] == []
    assert (out / "aggregate.html").read_text().count("report.html") == 3

    # changed options: that scene is redone from scratch, the others are not
    scenes_file.write_text("example name=a\nexample name=b views=9\nexample name=c\n")
    rec.calls.clear()
    assert batch.run_batch(scenes_file, out, stages=stages) == 0
    assert rec.calls == [("b", "dataset"), ("b", "result"), ("b", "evaluate")]


def test_shards_share_one_output_folder_and_aggregate(tmp_path):
    rec = Recorder()
    stages = [rec.stage("dataset"), rec.stage("evaluate")]
    scenes_file = tmp_path / "s.txt"
    scenes_file.write_text("example name=a\nexample name=b\nexample name=c\n")
    out = tmp_path / "out"
    assert batch.run_batch(scenes_file, out, shard="1/2", stages=stages) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["b"]
    assert json.loads((out / "aggregate.json").read_text())["pending"] == ["a", "c"]
    assert batch.run_batch(scenes_file, out, shard="0/2", stages=stages) == 0
    agg = json.loads((out / "aggregate.json").read_text())
    assert [s["name"] for s in agg["scenes"]] == ["a", "b", "c"] and agg["pending"] == []
    assert sorted(n for n, _ in rec.calls) == ["a", "a", "b", "b", "c", "c"]


# ------------------------------------------------------------------------------------------------
# end to end: render_dataset -> reconstruct (tiny preset) -> evaluate over two tiny scenes,
# killed during the second scene and resumed; the same scene again gives identical metrics
# ------------------------------------------------------------------------------------------------

E2E_OPTIONS = ["--preset", "tiny", "--samples", "4", "--holdout", "2", "--noise-rot", "2", "--noise-trans", "0.02",
               "--seed", "0"]


def _wait_for(predicate, timeout, proc=None, what=""):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"batch exited (status {proc.returncode}) before {what}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def _snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def e2e(tmp_path_factory, test_data):
    base = tmp_path_factory.mktemp("batch")
    scenes = base / "scenes.txt"
    scenes.write_text(f"example views=6 size=32\n{test_data / 'spot' / 'spot.obj'} views=6 size=40\n")
    out = base / "out"
    log = open(base / "first_run.log", "w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "batch.py"), str(scenes), "--out", str(out),
                             *E2E_OPTIONS], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for(lambda: (out / "example" / DONE).is_file(), 240, proc, "the first scene's DONE marker")
        _wait_for(lambda: "start" in _read(out / "spot" / "stages.log"), 120, proc, "the second scene to start")
        time.sleep(1.0)  # well inside the second scene's first stage
        assert proc.poll() is None, "the batch finished before it could be interrupted"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
        log.close()
    killed = {"first": _snapshot(out / "example"), "second_done": (out / "spot" / DONE).exists(),
              "log": _read(out / "example" / "stages.log"), "aggregate": json.loads(_read(out / "aggregate.json"))}
    rc = _batch_script(str(scenes), "--out", str(out), *E2E_OPTIONS)
    return {"out": out, "scenes": scenes, "killed": killed, "rc": rc, "base": base}


DONE = batch.DONE


def _read(p: Path) -> str:
    try:
        return p.read_text()
    except OSError:
        return ""


def test_batch_end_to_end_resumes_after_a_kill(e2e):
    out = e2e["out"]
    assert e2e["rc"] == 0
    assert not e2e["killed"]["second_done"]
    # the aggregate written after the first scene was already there when the batch was killed
    agg = e2e["killed"]["aggregate"]
    assert [s["name"] for s in agg["scenes"]] == ["example"] and agg["pending"] == ["spot"]
    # the finished scene was not touched again: same files, same mtimes, no new stage runs
    assert _snapshot(out / "example") == e2e["killed"]["first"]
    assert _read(out / "example" / "stages.log") == e2e["killed"]["log"]
    # the interrupted scene was completed, and nothing half-written remains anywhere
    assert (out / "spot" / DONE).is_file()
    assert not [p for p in out.rglob(".*") if ".tmp" in p.name]
    spot_log = _read(out / "spot" / "stages.log")
    assert spot_log.count("done dataset") == 1 and spot_log.count("done evaluate") == 1


@pytest.mark.parametrize("scene", ["example", "spot"])
def test_batch_reports_hold_every_metric_with_sane_values(e2e, scene):
    from texforge.eval.report import METRICS, validate_report
    folder = e2e["out"] / scene / "evaluate"
    rep = json.loads((folder / "report.json").read_text())
    assert validate_report(rep, folder) == [] and "problems" not in rep
    m = rep["metrics"]
    assert set(m) == set(METRICS) and all(v is not None for v in m.values()), rep.get("missing")
    # a tiny-preset reconstruction is rough, but it is the object, seen from the right cameras
    assert m["iou"] > 0.5 and m["psnr"] > 10 and m["fscore_2"] > 0.2
    assert m["cam_rot_deg_before"] == pytest.approx(2.0, abs=1e-3)
    html = (folder / "report.html").read_text()
    import re
    srcs = re.findall(r"src='([^']+)'", html)
    assert len(srcs) == 3 and all((folder / s).is_file() for s in srcs)


def test_batch_aggregate_covers_both_scenes(e2e):
    out = e2e["out"]
    agg = json.loads((out / "aggregate.json").read_text())
    assert [s["name"] for s in agg["scenes"]] == ["example", "spot"] and agg["pending"] == []
    ious = [s["metrics"]["iou"] for s in agg["scenes"]]
    assert agg["mean"]["iou"] == pytest.approx(sum(ious) / 2)
    html = (out / "aggregate.html").read_text()
    assert "example/evaluate/report.html" in html and "spot/evaluate/report.html" in html


def test_same_scene_same_seed_same_metrics(e2e):
    """The example scene again (its dataset given as an existing dataset folder, so the render stage is
    skipped): reconstruct + evaluate with the same seed reproduce every metric exactly on CPU."""
    out2 = e2e["base"] / "again"
    scenes = e2e["base"] / "example_again.json"
    scenes.write_text(json.dumps([{"dataset": str(e2e["out"] / "example" / "dataset"), "name": "example"}]))
    assert _batch_script(str(scenes), "--out", str(out2), *E2E_OPTIONS) == 0
    assert not (out2 / "example" / "dataset").exists()  # the given dataset was used in place
    first = json.loads((e2e["out"] / "example" / "evaluate" / "report.json").read_text())
    again = json.loads((out2 / "example" / "evaluate" / "report.json").read_text())
    assert again["metrics"] == first["metrics"]
    assert [v for v in again["per_view"]] == [v for v in first["per_view"]]


def test_ctrl_c_stops_the_batch_and_the_next_run_resumes(tmp_path):
    calls = []

    def interrupted(ctx):
        calls.append(ctx.scene.name)
        ctx.work.mkdir()
        (ctx.work / "half.txt").write_text("half")
        if len(calls) == 2:
            raise KeyboardInterrupt

    def finish(ctx):
        calls.append(ctx.scene.name)
        ctx.work.mkdir()

    scenes_file = tmp_path / "s.txt"
    scenes_file.write_text("example name=a\nexample name=b\nexample name=c\n")
    out = tmp_path / "out"
    assert batch.run_batch(scenes_file, out, stages=[batch.Stage("only", interrupted)]) == 130
    assert calls == ["a", "b"] and not (out / "c").exists() and not (out / "b" / "only").exists()
    calls.clear()
    assert batch.run_batch(scenes_file, out, stages=[batch.Stage("only", finish)]) == 0
    assert calls == ["b", "c"] and not (out / "b" / ".only.tmp").exists()
