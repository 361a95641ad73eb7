"""Category collections: the procedural generator (numpy) and render_collection (real Blender)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from texforge.mesh.procedural import GENERATORS, generate, object_rng
from texforge.runtime.errors import InputError


# ---------------------------------------------------------------------------------------------
# The numpy generator
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("family", GENERATORS)
def test_procedural_objects_are_closed_uv_mapped_and_textured(family):
    import trimesh

    for index in range(4):
        mesh, params = generate(family, object_rng(3, index))
        assert mesh.uvs.min() >= 0.0 and mesh.uvs.max() <= 1.0
        assert mesh.face_uvs.shape == mesh.faces.shape
        tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
        assert tm.is_watertight and tm.is_winding_consistent
        assert tm.volume > 0  # faces wind outwards
        tex = mesh.texture
        assert tex.ndim == 3 and tex.shape[2] == 3 and 0.0 <= tex.min() and tex.max() <= 1.0
        assert tex.reshape(-1, 3).std(0).max() > 0.05, "texture is (nearly) constant"
        json.dumps(params)  # parameters go into object.json


def test_procedural_objects_depend_only_on_their_seed_and_index():
    a, _ = generate("vase", object_rng(5, 2))
    b, _ = generate("vase", object_rng(5, 2))
    assert np.array_equal(a.vertices, b.vertices) and np.array_equal(a.texture, b.texture)
    shapes = [generate("vase", object_rng(5, i))[0] for i in range(6)]
    extents = np.array([m.vertices.max(0) - m.vertices.min(0) for m in shapes])
    aspect = extents[:, 2] / extents[:, :2].max(1)
    assert aspect.max() - aspect.min() > 0.3, "shapes barely vary across objects"
    # not surfaces of revolution: the rings are not circles about the axis
    m = shapes[0]
    ring = m.vertices[10 * 64:11 * 64]
    r = np.linalg.norm(ring[:, :2] - ring[:, :2].mean(0), axis=1)
    assert r.std() / r.mean() > 0.01
    with pytest.raises(ValueError, match="unknown procedural generator"):
        generate("teapot", object_rng(0, 0))


# ---------------------------------------------------------------------------------------------
# Rendering (real Blender)
# ---------------------------------------------------------------------------------------------

bpy = pytest.importorskip("bpy")

from texforge_blender import collection_render as cr  # noqa: E402
from texforge.data.collection import load_object, read_collection  # noqa: E402


def _spec(source="procedural:vase", **kw):
    base = dict(objects=3, heldout=1, views=3, size=(40, 40), samples=4, seed=7)
    base.update(kw)
    return cr.CollectionSpec(source=source, **base)


def _files(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "object.json"}


@pytest.fixture(scope="module")
def vases(tmp_path_factory):
    out = tmp_path_factory.mktemp("col") / "vases"
    cr.render_collection(_spec(), out, log=lambda m: None)
    return out


def test_collection_is_readable_and_objects_are_in_frame(vases):
    col = read_collection(vases)
    assert len(col.train) == 2 and len(col.heldout) == 1 and col.views == 3 and col.size == (40, 40)
    for oid in col.train + col.heldout:
        data = load_object(col, oid)
        masks = np.asarray(data.masks)
        assert masks.shape == (3, 40, 40)
        for m in masks:
            assert m.mean() > 0.05, f"object {oid}: a view shows (almost) nothing"
            border = np.concatenate([m[0], m[-1], m[:, 0], m[:, -1]])
            assert border.max() < 0.5, f"object {oid}: the object touches the image border"
        import trimesh
        gt = trimesh.load(col.object_dir(oid) / "gt_mesh.ply", process=False)
        centre = (gt.vertices.min(0) + gt.vertices.max(0)) / 2
        assert np.abs(centre).max() < 1e-4
        assert abs(np.linalg.norm(gt.vertices - centre, axis=1).max() - 1.0) < 1e-4
        record = json.loads((col.object_dir(oid) / "object.json").read_text())
        assert len(record["lights"]) == 3  # one random light per view
    lights = [json.loads((col.object_dir(o) / "object.json").read_text())["lights"][0]["key_azimuth_deg"]
              for o in col.train]
    assert len(set(lights)) == len(lights)


def test_an_object_alone_equals_it_in_a_batch_and_resume_skips_finished(vases, tmp_path):
    alone = tmp_path / "alone"
    cr.render_object(_spec(), "vase", 1, alone)
    batch = vases / "objects" / "00001"
    assert _files(alone) == _files(batch)

    before = {p: p.stat().st_mtime_ns for p in (vases / "objects").rglob("*.png")}
    logs = []
    cr.render_collection(_spec(), vases, log=logs.append)
    assert any("3 of 3 objects already rendered; 0 to go" in m for m in logs)
    assert {p: p.stat().st_mtime_ns for p in (vases / "objects").rglob("*.png")} == before

    # an object lost (an interrupted run) is rendered again, identically
    kept = _files(vases / "objects" / "00002")
    import shutil
    shutil.rmtree(vases / "objects" / "00002")
    logs = []
    cr.render_collection(_spec(), vases, log=logs.append)
    assert any("2 of 3 objects already rendered; 1 to go" in m for m in logs)
    assert _files(vases / "objects" / "00002") == kept


def test_other_settings_or_foreign_folders_are_refused(vases, tmp_path):
    with pytest.raises(InputError, match="other settings"):
        cr.render_collection(_spec(seed=8), vases, log=lambda m: None)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "photo.jpg").write_bytes(b"x")
    with pytest.raises(InputError, match="not a collection"):
        cr.render_collection(_spec(), foreign, log=lambda m: None)
    with pytest.raises(InputError, match="unknown procedural generator"):
        cr.render_collection(_spec("procedural:teapot"), tmp_path / "x", log=lambda m: None)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no meshes")
    with pytest.raises(InputError, match="no mesh files"):
        cr.render_collection(_spec(str(empty), objects=None), tmp_path / "y", log=lambda m: None)
    with pytest.raises(InputError, match="not a folder of meshes"):
        cr.render_collection(_spec(str(tmp_path / "missing"), objects=None), tmp_path / "z", log=lambda m: None)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
    assert cr.main([str(empty), "--out", str(tmp_path / "w"), "--workers", "1"]) == 2


def _cube_obj(path: Path) -> None:
    v = [(x, y, z) for x in (0, 2) for y in (0, 1) for z in (0, 1)]
    quads = [(1, 2, 4, 3), (5, 7, 8, 6), (1, 5, 6, 2), (3, 4, 8, 7), (1, 3, 7, 5), (2, 6, 8, 4)]
    path.write_text("".join(f"v {x} {y} {z}\n" for x, y, z in v) + "".join(f"f {a} {b} {c} {d}\n"
                                                                          for a, b, c, d in quads))


def test_a_folder_of_meshes_textured_or_not(tmp_path):
    from texforge.mesh.io import write_obj

    src = tmp_path / "meshes"
    src.mkdir()
    mesh, _ = generate("bottle", object_rng(1, 0))
    mesh.vertices = mesh.vertices * 10 + np.array([5.0, 0.0, 3.0], np.float32)  # any size and place
    write_obj(src / "a_bottle.obj", mesh)
    _cube_obj(src / "b_box.obj")
    out = tmp_path / "col"
    cr.render_collection(_spec(str(src), objects=None, heldout=0, views=2), out, log=lambda m: None)
    col = read_collection(out)
    assert col.train == ["00000", "00001"] and col.heldout == []
    for oid, name in zip(col.train, ("a_bottle.obj", "b_box.obj")):
        record = json.loads((col.object_dir(oid) / "object.json").read_text())
        assert record["origin"]["file"].endswith(name)
        data = load_object(col, oid)
        assert np.asarray(data.masks).mean() > 0.05
    images = np.asarray(load_object(col, "00000").images)
    masks = np.asarray(load_object(col, "00000").masks) > 0.5
    assert images[masks].std(0).max() > 0.05, "the textured bottle renders as one flat colour"

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.ply").write_bytes(b"not a ply file at all")
    with pytest.raises(InputError, match="broken.ply"):
        cr.render_collection(_spec(str(bad), objects=None, heldout=0, views=2), tmp_path / "col2",
                             log=lambda m: None)


def test_parallel_workers_render_the_same_files(vases, tmp_path):
    out = tmp_path / "par"
    argv = ["procedural:vase", "--out", str(out), "--objects", "3", "--heldout", "1", "--views", "3",
            "--size", "40", "--samples", "4", "--seed", "7", "--workers", "2"]
    assert cr.main(argv) == 0
    assert _files(out / "objects") == _files(vases / "objects")
    assert read_collection(out).header()["split"] == read_collection(vases).header()["split"]


def test_a_stop_request_keeps_finished_objects_only(tmp_path):
    from texforge.runtime.errors import Cancelled

    polls = []

    def stop_after_first_object():
        polls.append(1)
        return len(polls) > 1

    out = tmp_path / "stopped"
    with pytest.raises(Cancelled, match="resume"):
        cr.render_collection(_spec(objects=3, views=2), out, log=lambda m: None, should_stop=stop_after_first_object)
    assert sorted(p.name for p in (out / "objects").iterdir()) == ["00000"]  # no partial folder left
    col = read_collection(out)
    assert col.train + col.heldout == ["00000"]
