"""Mesh I/O: OBJ / GLB / PLY <-> TexturedMesh (Blender Z-up), gltf-validator, Blender's own glTF importer."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree

from texforge.mesh.io import load_mesh, write_glb, write_obj
from texforge.mesh.types import TexturedMesh
from texforge.runtime.errors import InputError
from gltf_validation import validate_glb

ROOT = Path(__file__).resolve().parent.parent


def corner_positions(m: TexturedMesh) -> np.ndarray:
    return m.vertices[m.faces]  # (F, 3, 3)


def corner_uvs(m: TexturedMesh) -> np.ndarray:
    return m.uvs[m.face_uvs]  # (F, 3, 2)


def triangle_set(m: TexturedMesh) -> set:
    """The triangles as (position, uv) corner triples, each rotated to start at its smallest corner:
    the same surface whatever the vertex order and the corner each triangle starts at."""
    out = set()
    for tri in np.concatenate([corner_positions(m), corner_uvs(m)], -1).round(6).tolist():
        k = tri.index(min(tri))
        out.add(tuple(map(tuple, tri[k:] + tri[:k])))
    return out


def small_textured_mesh() -> TexturedMesh:
    """A quad split in two, plus a third triangle sharing an edge but not its UVs (a seam)."""
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0.5, 0.5, 1.0]], np.float32)
    f = np.array([[0, 1, 2], [0, 2, 3], [1, 4, 2]])
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.2, 0.9], [0.9, 0.9]], np.float32)
    fuv = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 2]])
    tex = np.zeros((8, 16, 3), np.float32)
    tex[:4] = [1, 0, 0]  # top half red, bottom half blue
    tex[4:] = [0, 0, 1]
    return TexturedMesh(v, f, uv, fuv, tex)


# ------------------------------------------------------------------------------------------------
# OBJ parsing
# ------------------------------------------------------------------------------------------------

def test_obj_axis_polygons_and_per_corner_uvs(tmp_path):
    (tmp_path / "m.mtl").write_text("newmtl a\nmap_Kd -s 1 1 1 -clamp on tex file.png\n")
    from texforge.data.images import write_png
    write_png(tmp_path / "tex file.png", np.full((4, 4, 3), 0.5))
    (tmp_path / "m.obj").write_text(textwrap.dedent("""\
        mtllib m.mtl
        v 0 0 0
        v 1 0 0
        v 1 2 0
        v 0 2 -3
        vt 0 0
        vt 1 0
        vt 1 1
        vt 0 1
        vn 0 0 1
        usemtl a
        f 1/1/1 2/2/1 3/3/1 4/4/1
        f -1/-1 -3/-3 -2/-2
        """))
    m = load_mesh(tmp_path / "m.obj")
    # Y-up file (x, y, z) -> Blender (x, -z, y); the quad split along 1-3, negative indices resolved;
    # each corner keeps its own vt; welded back to the file's 4 vertices
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 0, 2], [0, 3, 2]], np.float32)
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    expected = [[0, 1, 2], [0, 2, 3], [3, 1, 2]]
    assert triangle_set(m) == triangle_set(TexturedMesh(v, expected, uv, expected))
    assert len(m.vertices) == 4 and len(m.faces) == 3
    assert m.texture.shape == (4, 4, 3) and abs(m.texture.mean() - 0.5) < 0.01


def test_obj_errors(tmp_path):
    with pytest.raises(InputError, match="nope.obj"):
        load_mesh(tmp_path / "nope.obj")
    (tmp_path / "bad.obj").write_text("v 0 0 0\nv 1 0 0\nf 1 2 9\n")
    with pytest.raises(InputError, match="bad.obj"):
        load_mesh(tmp_path / "bad.obj")
    (tmp_path / "x.fbx").write_text("")
    with pytest.raises(InputError, match="unsupported"):
        load_mesh(tmp_path / "x.fbx")


def test_spot_loads_with_texture_and_per_corner_uvs(test_data):
    m = load_mesh(test_data / "spot" / "spot.obj")
    assert m.faces.shape == (5856, 3) and m.vertices.shape == (2930, 3)
    assert m.face_uvs.shape == m.faces.shape and len(m.uvs) > len(m.vertices)  # seams: more UVs than vertices
    assert m.texture.shape == (1024, 1024, 3) and m.texture.std() > 0.05
    # Blender Z-up: spot stands on her feet along -Z, she is taller (Z) than wide (X)
    ext = m.vertices.max(0) - m.vertices.min(0)
    assert ext[2] > ext[0]
    # welded: the surface is closed (every edge shared by exactly two faces)
    e = np.sort(m.faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    _, counts = np.unique(e, axis=0, return_counts=True)
    assert np.all(counts == 2)


# ------------------------------------------------------------------------------------------------
# round trips
# ------------------------------------------------------------------------------------------------

def test_obj_glb_round_trip_spot(test_data, tmp_path):
    m = load_mesh(test_data / "spot" / "spot.obj")
    write_glb(tmp_path / "spot.glb", m)
    g = load_mesh(tmp_path / "spot.glb")
    assert g.faces.shape == m.faces.shape and len(g.vertices) == len(m.vertices)
    np.testing.assert_allclose(corner_positions(g), corner_positions(m), atol=1e-5)
    np.testing.assert_allclose(corner_uvs(g), corner_uvs(m), atol=1e-5)
    assert g.texture.shape == m.texture.shape and np.abs(g.texture - m.texture).max() <= 1 / 255 + 1e-6
    write_obj(tmp_path / "out" / "spot.obj", g)
    o = load_mesh(tmp_path / "out" / "spot.obj")
    np.testing.assert_allclose(corner_positions(o), corner_positions(m), atol=1e-5)
    np.testing.assert_allclose(corner_uvs(o), corner_uvs(m), atol=1e-5)
    assert o.texture.shape == m.texture.shape
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_glb_uv_orientation_samples_the_right_texels(tmp_path):
    """The texture's top half is red: UV v=0.9 (near the top, v-up) must read red after a GLB round trip,
    seen through trimesh's own sampler (an independent reader)."""
    import trimesh

    m = small_textured_mesh()
    write_glb(tmp_path / "s.glb", m)
    scene = trimesh.load(str(tmp_path / "s.glb"), force="scene", process=False)
    geom = next(iter(scene.geometry.values()))
    colors = geom.visual.to_color().vertex_colors[:, :3]  # trimesh samples the texture at each vertex UV
    uv = np.asarray(geom.visual.uv)
    top = uv[:, 1] > 0.6
    assert top.any() and (~top).any()
    assert np.all(colors[top, 0] > 200) and np.all(colors[~top, 2] > 200)


def test_untextured_round_trip(tmp_path):
    import trimesh

    s = trimesh.creation.icosphere(subdivisions=2)
    m = TexturedMesh(s.vertices, s.faces)
    g = load_mesh(write_glb(tmp_path / "u.glb", m))
    assert g.uvs is None and g.texture is None
    np.testing.assert_allclose(corner_positions(g), corner_positions(m), atol=1e-6)
    o = load_mesh(write_obj(tmp_path / "u.obj", m))
    np.testing.assert_allclose(corner_positions(o), corner_positions(m), atol=1e-6)
    assert not (tmp_path / "u.mtl").exists()


def test_ply_loads_as_is(tmp_path):
    import trimesh

    box = trimesh.creation.box(extents=(1, 2, 3))
    box.export(tmp_path / "b.ply")
    m = load_mesh(tmp_path / "b.ply")
    np.testing.assert_allclose(m.vertices.max(0) - m.vertices.min(0), [1, 2, 3], atol=1e-6)  # no axis change
    assert m.uvs is None and len(m.faces) == 12


# ------------------------------------------------------------------------------------------------
# external validators: Khronos gltf-validator and Blender's importer
# ------------------------------------------------------------------------------------------------

def test_glb_passes_gltf_validator(test_data, tmp_path):
    import trimesh

    big = trimesh.creation.icosphere(subdivisions=7)  # > 65535 vertices: 32-bit indices
    meshes = [("spot", load_mesh(test_data / "spot" / "spot.obj")), ("small", small_textured_mesh()),
              ("untextured", TexturedMesh(big.vertices, big.faces))]
    for name, mesh in meshes:
        write_glb(tmp_path / f"{name}.glb", mesh)
        issues = validate_glb(tmp_path / f"{name}.glb")
        assert issues["numErrors"] == 0, issues["messages"]
        assert issues["numWarnings"] == 0, issues["messages"]


BLENDER_IMPORT = """
import json, sys
import bpy
results = []
for path in sys.argv[1:]:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if path.endswith(".glb"):
        bpy.ops.import_scene.gltf(filepath=path)
    elif path.endswith(".obj"):
        bpy.ops.wm.obj_import(filepath=path)
    else:
        bpy.ops.wm.ply_import(filepath=path)
    objs = [o for o in bpy.context.scene.objects if o.type == 'MESH']
    out = {"objects": len(objs), "triangles": 0, "positions": [], "images": []}
    for o in objs:
        me = o.data
        me.calc_loop_triangles()
        out["triangles"] += len(me.loop_triangles)
        out["positions"] += [list(o.matrix_world @ v.co) for v in me.vertices]
        for slot in o.material_slots:
            for node in slot.material.node_tree.nodes:
                if node.type == 'TEX_IMAGE' and node.image is not None:
                    out["images"].append(list(node.image.size))
    results.append(out)
print("RESULT" + json.dumps(results))
"""


def test_blender_importers_agree_with_load_mesh(test_data, tmp_path):
    """Blender's own glTF, OBJ and PLY importers (default settings) put every vertex where load_mesh
    says it is in Blender world coordinates: this pins the axis conventions of all three formats."""
    pytest.importorskip("bpy")
    import trimesh

    m = load_mesh(test_data / "spot" / "spot.obj")
    write_glb(tmp_path / "spot.glb", m)
    box = trimesh.creation.box(extents=(1, 2, 3), transform=trimesh.transformations.translation_matrix([0, 0, 5]))
    box.export(tmp_path / "box.ply")
    files = [tmp_path / "spot.glb", test_data / "spot" / "spot.obj", tmp_path / "box.ply"]
    script = tmp_path / "imp.py"
    script.write_text(BLENDER_IMPORT)
    r = subprocess.run([sys.executable, str(script), *map(str, files)], capture_output=True, text=True, timeout=180)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT")]
    assert r.returncode == 0 and line, r.stdout[-2000:] + r.stderr[-2000:]
    results = json.loads(line[0][len("RESULT"):])
    for path, out in zip(files, results):
        ours = load_mesh(path)
        assert out["objects"] == 1 and out["triangles"] == len(ours.faces), path.name
        pos = np.asarray(out["positions"])
        d_ab, _ = cKDTree(ours.vertices).query(pos)
        d_ba, _ = cKDTree(pos).query(ours.vertices)
        assert d_ab.max() < 1e-5 and d_ba.max() < 1e-5, path.name
    assert results[0]["images"] == [[1024, 1024]]  # the embedded texture reaches Blender's material
