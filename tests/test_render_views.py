"""texforge_blender.render_views and texforge_blender.example_object with real bpy: import, render settings,
renders of known cameras."""

import hashlib

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from texforge_blender import render_views as rv  # noqa: E402
from texforge.geometry.layouts import look_at  # noqa: E402
from texforge_blender.example_object import build_example_object, example_arrays, example_texture  # noqa: E402


def _triangles_object(tris: np.ndarray) -> "bpy.types.Object":
    mesh = bpy.data.meshes.new("tris")
    mesh.from_pydata(tris.reshape(-1, 3).tolist(), [], [[3 * i, 3 * i + 1, 3 * i + 2] for i in range(len(tris))])
    mesh.update()
    obj = bpy.data.objects.new("tris", mesh)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def _coverage(tris_world: np.ndarray, K, R, t, width: int, height: int) -> np.ndarray:
    """Which pixel centres (j + 0.5, i + 0.5) fall inside any triangle: (H, W) bool (both windings)."""
    cam = tris_world.reshape(-1, 3) @ R.T + t
    assert np.all(cam[:, 2] > 0)
    uvw = cam @ K.T
    uv = (uvw[:, :2] / uvw[:, 2:]).reshape(-1, 3, 2)
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    cov = np.zeros((height, width), bool)
    for a, b, c in uv:
        edges = [(q[0] - p[0]) * (v - p[1]) - (q[1] - p[1]) * (u - p[0]) for p, q in ((a, b), (b, c), (c, a))]
        cov |= np.all([e >= 0 for e in edges], axis=0) | np.all([e <= 0 for e in edges], axis=0)
    return cov


def test_point_sampled_renders_match_pinhole_projection_with_shift_and_pixel_aspect():
    """With the pixel filter narrowed to the pixel centre, Blender's alpha is exactly the set of pixel
    centres inside the projected triangles: proves K (focal, principal point via shift, fx != fy via
    pixel aspect), R, t and the row order (row 0 on top)."""
    scene = rv.reset_scene()
    rng = np.random.default_rng(3)
    tris = rng.uniform(-1.0, 1.0, size=(5, 3, 3))
    _triangles_object(tris)
    rv.setup_render(scene, samples=1, lighting="flat", pixel_filter=0.01)
    Ks, Rs, ts, sizes = [], [], [], []
    for aspect in (1.0, 1.45, 0.7):
        w, h = int(rng.integers(36, 80)), int(rng.integers(36, 80))
        fx = rng.uniform(50, 110)
        K = np.array([[fx, 0, w / 2 + rng.uniform(-9, 9)], [0, fx / aspect, h / 2 + rng.uniform(-9, 9)], [0, 0, 1]])
        eye = rng.normal(size=3)
        R, t = look_at(4.5 * eye / np.linalg.norm(eye), rng.normal(size=3) * 0.2)
        img = rv.render_views(scene, K, R, t, w, h)
        assert img.shape == (1, h, w, 4) and img.dtype == np.float32
        cov = _coverage(tris, K, R, t, w, h)
        alpha = img[0, ..., 3] > 0.5
        assert cov.sum() > 50
        assert (alpha != cov).sum() == 0, f"pixel aspect {aspect}: {(alpha != cov).sum()} pixels differ"
        Ks.append(K), Rs.append(R), ts.append(t), sizes.append((w, h))
    # The temporary camera is gone and the scene's own settings are back.
    assert not [o for o in bpy.data.objects if o.type == "CAMERA"]
    assert scene.camera is None
    assert (scene.render.resolution_x, scene.render.resolution_y) == (128, 128)
    assert scene.render.pixel_aspect_x == scene.render.pixel_aspect_y == 1.0


def test_flat_lighting_shows_base_colour_unshaded_and_studio_shades():
    scene = rv.reset_scene()
    obj = build_example_object()
    # A plain base colour (scene-linear) comes out sRGB-encoded through the Standard view transform.
    mat = obj.data.materials[0]
    bsdf = next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    mat.node_tree.links.remove(bsdf.inputs["Base Color"].links[0])
    bsdf.inputs["Base Color"].default_value = (0.5, 0.2, 0.05, 1.0)
    R, t = look_at(np.array([2.5, -1.0, 1.2]), np.array([0.0, 0.0, 0.5]))
    K = np.array([[70.0, 0, 24], [0, 70.0, 24], [0, 0, 1]])
    rv.setup_render(scene, samples=4, lighting="flat", width=48, height=48)
    flat = rv.render_views(scene, K, R, t, 48, 48)[0]
    inside = flat[..., 3] > 0.999
    assert inside.sum() > 300
    srgb = np.where(np.array([0.5, 0.2, 0.05]) <= 0.0031308, 12.92 * np.array([0.5, 0.2, 0.05]),
                    1.055 * np.array([0.5, 0.2, 0.05]) ** (1 / 2.4) - 0.055)
    assert np.abs(flat[inside][:, :3] - srgb).max() < 2e-3  # no shading at all
    # The user's material is untouched (flat works on a copy) and studio lighting shades it.
    assert obj.material_slots[0].material.name.endswith(".flat")
    out = next(n for n in mat.node_tree.nodes if n.type == "OUTPUT_MATERIAL")
    assert out.inputs["Surface"].links[0].from_node.type == "BSDF_PRINCIPLED"
    rv.setup_render(scene, samples=8, lighting="studio", width=48, height=48)
    assert obj.material_slots[0].material == mat
    studio = rv.render_views(scene, K, R, t, 48, 48)[0]
    lum = studio[..., :3].mean(-1)[studio[..., 3] > 0.999]
    assert lum.std() > 0.03 and 0.05 < lum.mean() < 0.95  # shaded, neither black nor blown out
    a, b = studio[..., 3] > 0.5, flat[..., 3] > 0.5
    assert (a & b).sum() / (a | b).sum() > 0.97  # same silhouette (edges differ only by sampling noise)


def test_example_object_is_deterministic_closed_and_textured():
    v1, f1, uv1 = example_arrays()
    v2, f2, uv2 = example_arrays()
    assert np.array_equal(v1, v2) and np.array_equal(f1, f2) and np.array_equal(uv1, uv2)
    edges = {tuple(sorted(e)) for tri in f1 for e in ((tri[0], tri[1]), (tri[1], tri[2]), (tri[2], tri[0]))}
    assert len(v1) - len(edges) + len(f1) == 2  # genus 0
    tri = v1[f1]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    assert np.all(np.einsum("ij,ij->i", normals, tri.mean(1) - v1.mean(0)) > 0)  # all facing outwards
    assert uv1.min() >= 0.0 and uv1.max() <= 1.0
    tex = example_texture()
    assert np.array_equal(tex, example_texture()) and tex.std() > 0.15  # colourful
    scene = rv.reset_scene()
    obj = build_example_object()
    img = obj.data.materials[0].node_tree.nodes["Image Texture"].image
    assert img.packed_file is not None and tuple(img.size) == (tex.shape[1], tex.shape[0])
    px = np.empty(img.size[0] * img.size[1] * 4, np.float32)
    img.pixels.foreach_get(px)
    assert np.abs(px.reshape(tex.shape[0], tex.shape[1], 4)[::-1, :, :3] - tex).max() < 1 / 255 + 1e-6
    verts, faces = rv.mesh_world_arrays(obj)
    assert np.allclose(verts, v1, atol=1e-6) and np.array_equal(faces, f1)
    assert scene.objects[obj.name] == obj


@pytest.mark.parametrize("fmt", ["obj", "glb", "ply", "blend"])
def test_import_mesh_round_trip(tmp_path, fmt):
    rv.reset_scene()
    src = build_example_object()
    v0, _ = rv.mesh_world_arrays(src)
    path = tmp_path / f"example.{fmt}"
    bpy.ops.object.select_all(action="SELECT")
    if fmt == "obj":
        bpy.ops.wm.obj_export(filepath=str(path))
    elif fmt == "glb":
        bpy.ops.export_scene.gltf(filepath=str(path), export_format="GLB")
    elif fmt == "ply":
        bpy.ops.wm.ply_export(filepath=str(path))
    else:
        bpy.data.libraries.write(str(path), {src}, fake_user=True)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    rv.reset_scene()
    obj = rv.import_mesh(path)
    assert obj.name == "example" and [o.name for o in bpy.data.objects] == ["example"]
    assert np.allclose(np.array(obj.matrix_world), np.eye(4))
    v, f = rv.mesh_world_arrays(obj)
    assert len(f) == 3968
    # Same surface (vertex counts differ where UV seams split vertices in GLB / PLY).
    assert np.allclose(v.min(0), v0.min(0), atol=1e-5) and np.allclose(v.max(0), v0.max(0), atol=1e-5)
    if fmt != "ply":
        assert obj.data.uv_layers and obj.data.materials
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest  # the source file is only read


def test_import_mesh_joins_objects_in_world_space(tmp_path):
    rv.reset_scene()
    tri_a = np.array([[[0, 0, 0], [1, 0, 0], [0, 1, 0]]], float)
    tri_b = np.array([[[0, 0, 0], [1, 0, 0], [0, 0, 1]]], float)
    a = _triangles_object(tri_a)
    b = _triangles_object(tri_b)
    b.location = (5.0, 0.0, 0.0)
    b.scale = (2.0, 2.0, 2.0)
    path = tmp_path / "two.blend"
    bpy.data.libraries.write(str(path), {a, b}, fake_user=True)
    rv.reset_scene()
    obj = rv.import_mesh(path, name="joined")
    assert [o.name for o in bpy.context.scene.objects] == ["joined"]
    v, f = rv.mesh_world_arrays(obj)
    assert f.shape == (2, 3)
    # Each triangle comes back where it was in the world: b's scale and offset are baked in.
    expected = np.concatenate([tri_a[0], tri_b[0] * 2.0 + [5.0, 0.0, 0.0]])
    got = v[f.reshape(-1)]
    assert sorted(map(tuple, np.round(got, 6))) == sorted(map(tuple, expected))
    assert np.allclose(np.array(obj.matrix_world), np.eye(4))


def test_import_mesh_bad_input(tmp_path):
    rv.reset_scene()
    with pytest.raises(FileNotFoundError, match="nope.obj"):
        rv.import_mesh(tmp_path / "nope.obj")
    bad = tmp_path / "mesh.stl"
    bad.write_text("solid x\nendsolid x\n")
    with pytest.raises(ValueError, match="unsupported mesh file"):
        rv.import_mesh(bad)
    empty = tmp_path / "empty.obj"
    empty.write_text("# nothing\n")
    with pytest.raises(ValueError, match="empty.obj"):
        rv.import_mesh(empty)
    with pytest.raises(ValueError, match="lighting"):
        rv.setup_render(bpy.context.scene, lighting="dramatic")


def test_one_call_renders_every_view_of_a_batch():
    """A batch of cameras gives one image per camera, each the same as rendering that camera alone
    (the temporary camera really moves between views). Render speed is a benchmark, not a test."""
    scene = rv.reset_scene()
    build_example_object()
    rv.setup_render(scene, samples=8, lighting="flat", width=64, height=64)
    Rs, ts = zip(*[look_at(np.array([2.5 * np.cos(a), 2.5 * np.sin(a), 1.2]), np.array([0.0, 0.0, 0.5]))
                   for a in np.linspace(0, 2 * np.pi, 5, endpoint=False)])
    K = np.array([[90.0, 0, 32], [0, 90.0, 32], [0, 0, 1]])
    imgs = rv.render_views(scene, K, np.array(Rs), np.array(ts), 64, 64)
    assert imgs.shape == (5, 64, 64, 4)
    assert np.all(imgs[..., 3].reshape(len(Rs), -1).max(1) > 0.99)
    alone = rv.render_views(scene, K, Rs[2], ts[2], 64, 64)[0]
    assert np.abs(alone[..., 3] - imgs[2, ..., 3]).mean() < 0.002
    others = [np.abs(alone[..., 3] - imgs[k, ..., 3]).mean() for k in (0, 1, 3, 4)]
    assert min(others) > 0.01, others  # every view differs from view 2: the camera was moved


def test_ply_vertex_colours_render_flat(tmp_path):
    """A PLY with vertex colours and no material renders its colours (flat), not a default grey."""
    rv.reset_scene()
    obj = _triangles_object(np.array([[[-1, 0, -1], [1, 0, -1], [0, 0, 1]]], float))
    attr = obj.data.color_attributes.new("Col", "BYTE_COLOR", "POINT")
    attr.data.foreach_set("color", np.tile([0.2, 0.6, 0.1, 1.0], 3).astype(np.float32))
    obj.data.color_attributes.active_color = attr
    path = tmp_path / "tri.ply"
    bpy.ops.object.select_all(action="SELECT")
    bpy.ops.wm.ply_export(filepath=str(path), export_colors="SRGB")
    scene = rv.reset_scene()
    imported = rv.import_mesh(path)
    assert len(imported.data.materials) == 0 and imported.data.color_attributes
    rv.setup_render(scene, samples=1, lighting="flat", width=32, height=32)
    R, t = look_at(np.array([0.0, -4.0, 0.0]), np.zeros(3))
    img = rv.render_views(scene, np.array([[40.0, 0, 16], [0, 40.0, 16], [0, 0, 1]]), R, t, 32, 32)[0]
    inside = img[..., 3] > 0.999
    assert inside.sum() > 50
    colour = img[inside][:, :3].mean(0)
    linear = np.array([0.2, 0.6, 0.1])  # the attribute's (scene-linear) colour, shown sRGB-encoded
    srgb = 1.055 * linear ** (1 / 2.4) - 0.055
    assert np.abs(colour - srgb).max() < 0.01, colour


def _sphere_views(lighting: str, azimuths=(0, 180), specular: float = 0.0, size: int = 48):
    from texforge.geometry.layouts import direction

    scene = rv.reset_scene()
    bpy.ops.mesh.primitive_uv_sphere_add(radius=1.0, segments=32, ring_count=16)
    bpy.ops.object.shade_smooth()
    K = np.array([[60.0, 0, size / 2], [0, 60.0, size / 2], [0, 0, 1]])
    Rs, ts = zip(*[look_at(4.0 * direction(az, 10.0), np.zeros(3)) for az in azimuths])
    rv.setup_render(scene, samples=8, lighting=lighting, width=size, height=size, specular=specular)
    return scene, rv.render_views(scene, K, np.array(Rs), np.array(ts), size, size)


def _lit_side(img: np.ndarray) -> tuple[float, float]:
    """(right - left, top - bottom) mean luminance of the object's pixels, in image axes."""
    lum, inside = img[..., :3].mean(-1), img[..., 3] > 0.99
    h, w = inside.shape
    cols, rows = np.meshgrid(np.arange(w), np.arange(h))
    return (float(lum[inside & (cols >= w // 2)].mean() - lum[inside & (cols < w // 2)].mean()),
            float(lum[inside & (rows < h // 2)].mean() - lum[inside & (rows >= h // 2)].mean()))


def test_turntable_key_light_follows_the_camera_and_studio_lights_stay_put():
    # a plain grey sphere: only the lighting makes its views differ
    _, turn = _sphere_views("turntable")
    for img in turn:
        right, top = _lit_side(img)
        assert right > 0.1 and top > 0.05                      # lit from the camera's upper right
    assert np.abs(turn[0, ..., :3] - turn[1, ..., :3]).mean() < 0.01   # front and back view alike
    # the studio rig is fixed in the world: seen from opposite sides, the lit side swaps
    _, studio = _sphere_views("studio")
    assert _lit_side(studio[0])[0] < 0 < _lit_side(studio[1])[0]
    assert np.abs(studio[0, ..., :3] - studio[1, ..., :3]).mean() > 0.015


def test_specular_option_adds_highlights_on_copies_of_the_materials():
    _, matte = _sphere_views("turntable")
    _, glossy = _sphere_views("turntable", specular=1.0)
    assert glossy[..., :3].max() > matte[..., :3].max() + 0.05           # a brighter highlight
    scene, _ = _sphere_views("turntable", specular=1.0)
    obj = next(o for o in scene.objects if o.type == "MESH")
    mat = obj.material_slots[0].material
    assert mat.name.endswith(".specular")
    src = bpy.data.materials[mat["texforge_specular"]]
    bsdf = next(n for n in src.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    assert bsdf.inputs["Specular IOR Level"].default_value == pytest.approx(0.5)   # the original is as it was
    rv.setup_render(scene, samples=1, lighting="studio", width=16, height=16)
    assert obj.material_slots[0].material == src
    with pytest.raises(ValueError, match="specular"):
        rv.setup_render(scene, lighting="studio", specular=2.0)
