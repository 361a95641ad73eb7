"""Game-asset GLB export with real bpy: Khronos gltf-validator, Blender's importer, power-of-two texture
on a copy (resized or not: the texture is in the file either way), decimation to a budget, Draco, never
overwriting, ordinary file permissions; the result import it starts from; and the whole path as an artist
takes it: photos on cameras -> Reconstruct with each preset -> Export Game Asset with default settings."""

import os
import stat

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import addon  # noqa: E402
from addon.convert import results_import
from addon.operators import export as ops_export  # noqa: E402
from texforge.mesh.template import uv_sphere  # noqa: E402
import gltf_validation  # noqa: E402
from gltf_validation import validate_glb, validation_report  # noqa: E402


@pytest.fixture
def umask_022():
    """The usual umask, so that 'ordinary permissions' means 0644 whatever the test runner's umask is."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _textured_sphere(w: int, h: int):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.register()
    mesh = uv_sphere(32, 16, radius=0.5)
    yy, xx = np.mgrid[0:h, 0:w]
    mesh.texture = np.stack([xx / w, yy / h, 0.5 + 0.5 * np.sin(xx / 20.0)], axis=-1).astype(np.float32)
    made = results_import.import_textured_result(bpy.context.scene, mesh, name="Asset")
    obj = made["object"]
    obj.location = (1.0, 2.0, 0.0)
    obj.scale = (2.0, 2.0, 2.0)
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)
    return obj, mesh


@pytest.fixture
def result_object():
    """A reconstruction-like result: textured UV sphere (non-power-of-two texture), moved and scaled."""
    yield _textured_sphere(600, 300)
    addon.unregister()


@pytest.fixture
def pow2_result_object():
    """The same with a texture the presets make: power-of-two sides, exported without resizing."""
    yield _textured_sphere(512, 256)
    addon.unregister()


def _imported_base_color_images(path) -> list:
    """Base Color images of the materials Blender's glTF importer builds from ``path``, in a fresh scene."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert bpy.ops.import_scene.gltf(filepath=str(path)) == {"FINISHED"}
    meshes = [o for o in bpy.context.scene.objects if o.type == "MESH"]
    assert len(meshes) == 1
    return [ops_export.base_color_image(meshes[0])[2]]


def test_result_import_builds_mesh_uvs_and_packed_texture(result_object):
    obj, mesh = result_object
    me = obj.data
    assert len(me.polygons) == len(mesh.faces) and me.uv_layers.active is not None
    # world coordinates map 1:1 (the fixture moved the object afterwards; the mesh data is as given)
    co = np.empty(len(me.vertices) * 3, np.float32)
    me.vertices.foreach_get("co", co)
    np.testing.assert_allclose(co.reshape(-1, 3), mesh.vertices, atol=1e-6)
    corners = np.empty(len(me.loops), np.int32)
    me.loops.foreach_get("vertex_index", corners)
    np.testing.assert_array_equal(corners.reshape(-1, 3), mesh.faces)
    mat, node, image = ops_export.base_color_image(obj)
    assert image is not None and image.packed_file is not None and tuple(image.size) == (600, 300)
    bsdf = next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    assert bsdf.inputs["Base Color"].links[0].from_node == node
    # UVs and texture orientation: the corner UV of face 0 is the mesh's
    uv = np.empty(len(me.loops) * 2, np.float32)
    me.uv_layers.active.data.foreach_get("uv", uv)
    np.testing.assert_allclose(uv.reshape(-1, 2), mesh.uvs[mesh.face_uvs.reshape(-1)], atol=1e-6)
    px = np.empty(600 * 300 * 4, np.float32)
    image.pixels.foreach_get(px)
    np.testing.assert_allclose(px.reshape(300, 600, 4)[::-1, :, :3], mesh.texture, atol=1 / 255 + 1e-6)


def test_export_game_asset_glb(result_object, tmp_path, umask_022):
    obj, mesh = result_object
    user_image = ops_export.base_color_image(obj)[2]
    counts = (len(bpy.data.objects), len(bpy.data.meshes), len(bpy.data.images), len(bpy.data.materials))
    out = tmp_path / "asset.glb"
    assert bpy.ops.texforge.export_game_asset(filepath=str(out)) == {"FINISHED"}
    # only temporary copies were made, and removed; the user's texture is untouched
    assert counts == (len(bpy.data.objects), len(bpy.data.meshes), len(bpy.data.images), len(bpy.data.materials))
    assert tuple(user_image.size) == (600, 300) and not user_image.is_dirty
    assert tuple(obj.location) == (1.0, 2.0, 0.0) and obj.select_get() and obj.name == "Asset Mesh"

    report = validation_report(out)
    assert report["issues"]["numErrors"] == 0, report["issues"]["messages"]
    assert report["info"]["hasTextures"], report["info"]
    assert _mode(out) == 0o644 and os.listdir(tmp_path) == ["asset.glb"]

    # never overwrite without the user's say
    stamp = out.stat().st_mtime_ns
    with pytest.raises(RuntimeError, match="already exists"):
        bpy.ops.texforge.export_game_asset(filepath=str(out))
    assert out.stat().st_mtime_ns == stamp

    # Blender's importer: same triangles, embedded power-of-two texture, transforms applied (metres, Y-up file)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.gltf(filepath=str(out))
    objs = [o for o in bpy.context.scene.objects if o.type == "MESH"]
    assert len(objs) == 1
    imp = objs[0]
    assert imp.name == "Asset Mesh"  # the node keeps the object's name
    imp.data.calc_loop_triangles()
    assert len(imp.data.loop_triangles) == len(mesh.faces)
    assert np.allclose(np.array(imp.matrix_world), np.eye(4), atol=1e-6)  # identity node: transform baked in
    co = np.array([v.co for v in imp.data.vertices])
    np.testing.assert_allclose(co.mean(0), [1.0, 2.0, 0.0], atol=0.05)
    np.testing.assert_allclose(co.max(0) - co.min(0), [2.0, 2.0, 2.0], atol=0.02)
    images = [n.image for s in imp.material_slots for n in s.material.node_tree.nodes
              if n.type == "TEX_IMAGE" and n.image is not None]
    assert len(images) == 1 and images[0].packed_file is not None
    assert tuple(images[0].size) == (512, 256)  # 600x300 -> nearest powers of two


def test_export_decimated_draco_and_summary(result_object, tmp_path):
    obj, mesh = result_object
    plain = ops_export.export_game_asset(bpy.context, obj, str(tmp_path / "plain.glb"))
    info = ops_export.export_game_asset(bpy.context, obj, str(tmp_path / "small.glb"), triangle_budget=300,
                                        texture_size="256", draco=True)
    assert info["triangles"] <= 300 and info["triangles"] > 150
    assert info["texture_size"] == (256, 128)
    assert info["bytes"] == (tmp_path / "small.glb").stat().st_size < plain["bytes"]
    issues = validate_glb(tmp_path / "small.glb")
    assert issues["numErrors"] == 0, issues["messages"]  # Draco shows up as an unsupported extension (info)
    text = ops_export.summary_text(info)
    assert "triangles" in text and "256x128" in text
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.gltf(filepath=str(tmp_path / "small.glb"))
    imp = next(o for o in bpy.context.scene.objects if o.type == "MESH")
    imp.data.calc_loop_triangles()
    assert len(imp.data.loop_triangles) == info["triangles"]
    with pytest.raises(ValueError, match=r"\.glb"):
        ops_export.export_game_asset(bpy.context, imp, str(tmp_path / "x.gltf"))


def test_power_of_two_texture_is_exported_without_resizing(pow2_result_object, tmp_path, umask_022):
    """The presets' textures need no resizing; that path must embed the texture just the same."""
    obj, mesh = pow2_result_object
    out = tmp_path / "pow2.glb"
    info = ops_export.export_game_asset(bpy.context, obj, str(out))
    assert info["texture_size"] == (512, 256)
    report = validation_report(out)
    assert report["issues"]["numErrors"] == 0, report["issues"]["messages"]
    assert report["info"]["hasTextures"], report["info"]
    unused = [m["pointer"] for m in report["issues"]["messages"] if m["code"] == "UNUSED_OBJECT"]
    assert not any("TEXCOORD_0" in p for p in unused), unused  # the UVs feed a texture
    assert _mode(out) == 0o644
    images = _imported_base_color_images(out)
    assert images[0] is not None and tuple(images[0].size) == (512, 256)
    # not resized, so the pixels come back as they were (8-bit PNG round trip)
    px = np.empty(512 * 256 * 4, np.float32)
    images[0].pixels.foreach_get(px)
    np.testing.assert_allclose(px.reshape(256, 512, 4)[::-1, :, :3], mesh.texture, atol=1 / 255 + 1e-6)


@pytest.mark.parametrize("source", ["file on disk", "float buffer"])
def test_texture_from_any_image_source_takes_the_same_path(pow2_result_object, tmp_path, source):
    """An artist's material may use an image file on disk or a generated float image instead of the
    result's packed PNG; each reaches the GLB as an 8-bit sRGB texture (float: linear values encoded)."""
    obj, mesh = pow2_result_object
    node = ops_export.base_color_image(obj)[1]
    rgba = np.concatenate([mesh.texture[::-1], np.ones((256, 512, 1), np.float32)], axis=-1)
    if source == "file on disk":
        node.image.save(filepath=str(tmp_path / "texture.png"))
        image = bpy.data.images.load(str(tmp_path / "texture.png"))
        expected = mesh.texture
    else:
        image = bpy.data.images.new("linear", 512, 256, float_buffer=True)
        image.pixels.foreach_set(rgba.ravel())
        expected = ops_export.linear_to_srgb(mesh.texture)
    node.image = image
    out = tmp_path / "asset.glb"
    ops_export.export_game_asset(bpy.context, obj, str(out))
    report = validation_report(out)
    assert report["issues"]["numErrors"] == 0 and report["info"]["hasTextures"], report
    (back,) = _imported_base_color_images(out)
    assert tuple(back.size) == (512, 256)
    px = np.empty(512 * 256 * 4, np.float32)
    back.pixels.foreach_get(px)
    np.testing.assert_allclose(px.reshape(256, 512, 4)[::-1, :, :3], expected, atol=1 / 255 + 1e-6)


def test_missing_texture_file_is_a_clear_error_that_changes_nothing(pow2_result_object, tmp_path):
    obj, _ = pow2_result_object
    node = ops_export.base_color_image(obj)[1]
    gone = bpy.data.images.new("gone", 4, 4)
    gone.source = "FILE"
    gone.filepath = str(tmp_path / "moved_away.png")
    gone.reload()
    node.image = gone
    counts = (len(bpy.data.objects), len(bpy.data.meshes), len(bpy.data.images), len(bpy.data.materials))
    with pytest.raises(ValueError, match="'gone' has no pixels"):
        ops_export.export_game_asset(bpy.context, obj, str(tmp_path / "asset.glb"))
    assert counts == (len(bpy.data.objects), len(bpy.data.meshes), len(bpy.data.images), len(bpy.data.materials))
    assert obj.name == "Asset Mesh" and os.listdir(tmp_path) == []


def test_missing_validator_fails_with_install_hint(tmp_path, monkeypatch):
    """A GLB check that cannot run must fail, not skip, and say how to get the validator."""
    monkeypatch.setattr(gltf_validation, "ROOT", tmp_path)
    monkeypatch.setenv("TEXFORGE_GLTF_VALIDATOR", str(tmp_path / "nowhere"))
    with pytest.raises(pytest.fail.Exception, match="npm install --prefix .venv/node gltf-validator"):
        validate_glb(tmp_path / "any.glb")


def test_pow2_sizes():
    assert ops_export.pow2_size(600, 300, None) == (512, 256)
    assert ops_export.pow2_size(1024, 512, None) == (1024, 512)
    assert ops_export.pow2_size(800, 400, None) == (1024, 512)
    assert ops_export.pow2_size(1000, 500, 2048) == (2048, 1024)


# -- the artist's path, end to end -----------------------------------------------------------------------
# Photos rendered by Blender (texforge_blender.dataset_render) at the smallest size and view count the
# presets still fit, imported with texforge.import_transforms (cameras with background photos), then
# texforge.reconstruct with each preset and texforge.export_game_asset with its default settings.
E2E_VIEWS, E2E_SIZE = 8, 48


@pytest.fixture(scope="module")
def photo_dataset(tmp_path_factory, test_data):
    from texforge_blender import dataset_render
    folder = tmp_path_factory.mktemp("export_e2e") / "spot"
    spec = dataset_render.DatasetSpec(views=E2E_VIEWS, size=(E2E_SIZE, E2E_SIZE), holdout=0, seed=1, samples=4)
    dataset_render.render_dataset(str(test_data / "spot" / "spot.obj"), folder, spec, log=lambda *a: None)
    return folder


# small and full are slow: their reconstruction alone took 153 s and 263 s here (8 views at 48 px, 2 shared
# CPU cores under load); tiny takes about 6 s.
@pytest.mark.parametrize("preset", [
    "tiny",
    pytest.param("small", marks=pytest.mark.slow),
    pytest.param("full", marks=pytest.mark.slow),
])
def test_operators_reconstruct_then_export_with_default_settings(preset, photo_dataset, tmp_path, umask_022):
    from texforge.pipelines.multiview import MultiviewConfig
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.register()
    try:
        assert bpy.ops.texforge.import_transforms(filepath=str(photo_dataset / "transforms.json")) == {"FINISHED"}
        scene = bpy.context.scene
        scene.texforge.output_dir = str(tmp_path / "results")
        assert bpy.ops.texforge.reconstruct(preset=preset, max_image_size=E2E_SIZE) == {"FINISHED"}
        obj = scene.texforge.result_object
        assert obj is not None
        texture = ops_export.base_color_image(obj)[2]
        tex_h, tex_w = MultiviewConfig.preset(preset).texture_size
        assert tuple(texture.size) == (tex_w, tex_h)  # a power of two: exported without resizing

        # the run's result folder and its files are readable by others, like any new file
        (folder,) = (tmp_path / "results").iterdir()
        assert _mode(folder) == 0o755
        assert all(_mode(p) == 0o644 for p in folder.rglob("*") if p.is_file())

        for o in bpy.context.view_layer.objects:
            o.select_set(False)
        obj.select_set(True)
        bpy.context.view_layer.objects.active = obj
        out = tmp_path / "asset.glb"
        assert bpy.ops.texforge.export_game_asset(filepath=str(out)) == {"FINISHED"}
    finally:
        addon.unregister()

    assert _mode(out) == 0o644
    report = validation_report(out)
    assert report["issues"]["numErrors"] == 0, report["issues"]["messages"]
    assert report["info"]["hasTextures"], report["info"]
    images = _imported_base_color_images(out)
    assert images[0] is not None and tuple(images[0].size) == (tex_w, tex_h)
