"""scripts/batch.py: scene lists, sharding, resumable stages (temp folder + rename, DONE marker),
aggregate reports; end to end over two tiny scenes with a kill in the middle and a resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import batch  # noqa: E402

sys.path.pop(0)

SPOT = ROOT.parent / "shared" / "data" / "spot" / "spot.obj"


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
