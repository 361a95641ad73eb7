"""Blender as a renderer of known cameras: scene reset, mesh import, render settings, multi-view renders.

Used by the dataset generator (scripts/render_dataset.py), the Blender-agreement test of our own
renderer, and anything else that needs "what Blender shows through camera K, R, t".

Conventions: cameras are the backend's (K (N, 3, 3) pixel intrinsics, R (N, 3, 3), t (N, 3) OpenCV
world-to-camera); they reach Blender through ``addon.blender_camera`` only (the one conversion).
Images come back as (N, H, W, 4) float32 RGBA in [0, 1], row 0 on top, straight (not premultiplied)
alpha, colours display-encoded (sRGB through the 'Standard' view transform), i.e. what a PNG holds.

Only the main thread may call these functions. ``reset_scene`` replaces the whole open file with an
empty one, so it is meant for scripts and tests, never for an artist's session.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

from . import camera as blender_camera

MESH_SUFFIXES = (".obj", ".glb", ".gltf", ".ply", ".blend")
LIGHTING_MODES = ("flat", "studio", "turntable")
_FLAT_TAG = "texforge_flat"  # custom property marking material copies made for flat lighting
_SPECULAR_TAG = "texforge_specular"  # ... and copies made glossier by ``specular``
_TURNTABLE_TAG = "texforge_turntable"  # the key light that follows the rendering camera


# ---------------------------------------------------------------------------------------------
# Scene and import
# ---------------------------------------------------------------------------------------------

def reset_scene() -> bpy.types.Scene:
    """Replace the open file by Blender's empty factory scene (no objects, no lights, no camera)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


def import_mesh(path, name: str | None = None) -> bpy.types.Object:
    """Import the meshes of an OBJ / GLB / glTF / PLY / .blend file as ONE new mesh object.

    The object's vertices are in world coordinates (object transform applied, identity
    ``matrix_world``) with the file's materials and UV maps. Y-up formats (OBJ, glTF) go through
    Blender's importers with their default axis conversion, so the result is Blender's Z-up world.
    The source file is only read. Raises FileNotFoundError / ValueError with the path on bad input.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mesh file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise ValueError(f"unsupported mesh file '{path}': expected one of {', '.join(MESH_SUFFIXES)}")
    scene = bpy.context.scene
    before = set(bpy.data.objects)
    if suffix == ".obj":
        _run_import(bpy.ops.wm.obj_import, path, filepath=str(path))
    elif suffix in (".glb", ".gltf"):
        _run_import(bpy.ops.import_scene.gltf, path, filepath=str(path))
    elif suffix == ".ply":
        _run_import(bpy.ops.wm.ply_import, path, filepath=str(path))
    else:
        _append_blend_meshes(path, scene)
    new_objects = [o for o in bpy.data.objects if o not in before]
    meshes = [o for o in new_objects if o.type == "MESH"]
    if not meshes:
        _remove_objects(new_objects)
        raise ValueError(f"'{path}' holds no mesh objects")
    obj = _merge_to_world(meshes, scene, "TexForgeImport")
    _remove_objects(new_objects)
    obj.name = obj.data.name = name or path.stem
    if len(obj.data.polygons) == 0:
        raise ValueError(f"'{path}' holds no faces")
    return obj


def _run_import(op, path: Path, **kwargs) -> None:
    try:
        result = op(**kwargs)
    except RuntimeError as exc:  # Blender reports importer errors as RuntimeError
        raise ValueError(f"Blender could not import '{path}': {exc}") from exc
    if "FINISHED" not in result:
        raise ValueError(f"Blender could not import '{path}' (importer returned {sorted(result)})")


def _append_blend_meshes(path: Path, scene: bpy.types.Scene) -> None:
    """Append every mesh object of a .blend file (the library file is not written)."""
    with bpy.data.libraries.load(str(path), link=False) as (src, dst):
        dst.objects = list(src.objects)
    for obj in dst.objects:
        if obj is None:
            continue
        scene.collection.objects.link(obj)


def _merge_to_world(objects: list, scene: bpy.types.Scene, name: str) -> bpy.types.Object:
    """One new object holding the evaluated meshes of ``objects`` in world coordinates."""
    bpy.context.view_layer.update()
    depsgraph = bpy.context.evaluated_depsgraph_get()
    parts = []
    for src in objects:
        mesh = bpy.data.meshes.new_from_object(src.evaluated_get(depsgraph), preserve_all_data_layers=True,
                                               depsgraph=depsgraph)
        mesh.transform(src.matrix_world)
        if src.matrix_world.determinant() < 0:  # mirrored object: keep faces facing outwards
            mesh.flip_normals()
        part = bpy.data.objects.new(name, mesh)
        scene.collection.objects.link(part)
        parts.append(part)
    if len(parts) > 1:
        with bpy.context.temp_override(active_object=parts[0], object=parts[0], selected_objects=parts,
                                       selected_editable_objects=parts):
            bpy.ops.object.join()
    obj = parts[0]
    obj.matrix_world = Matrix.Identity(4)
    return obj


def _remove_objects(objects) -> None:
    for o in objects:
        if o.name in bpy.data.objects:
            bpy.data.objects.remove(o, do_unlink=True)


def mesh_world_arrays(obj: bpy.types.Object) -> tuple[np.ndarray, np.ndarray]:
    """Triangulated world-space geometry of a mesh object: vertices (V, 3) float64, faces (F, 3) int64."""
    bpy.context.view_layer.update()
    depsgraph = bpy.context.evaluated_depsgraph_get()
    mesh = obj.evaluated_get(depsgraph).to_mesh()
    try:
        mesh.calc_loop_triangles()
        verts = np.empty(len(mesh.vertices) * 3, dtype=np.float64)
        mesh.vertices.foreach_get("co", verts)
        tris = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int64)
        mesh.loop_triangles.foreach_get("vertices", tris)
    finally:
        obj.evaluated_get(depsgraph).to_mesh_clear()
    verts = verts.reshape(-1, 3)
    mw = np.array(obj.matrix_world, dtype=np.float64)
    verts = verts @ mw[:3, :3].T + mw[:3, 3]
    return verts, tris.reshape(-1, 3)


# ---------------------------------------------------------------------------------------------
# Render settings
# ---------------------------------------------------------------------------------------------

def setup_render(scene: bpy.types.Scene, engine: str = "CYCLES", samples: int = 16, lighting: str = "flat",
                 width: int = 128, height: int = 128, pixel_filter: float | None = None,
                 device: str = "CPU", seed: int = 0, specular: float = 0.0) -> None:
    """Render settings for fast, reproducible views of the scene's objects.

    engine: 'CYCLES' (default; runs everywhere on CPU), or 'BLENDER_EEVEE' / 'BLENDER_WORKBENCH'
    (need an OpenGL provider; run them in a subprocess). lighting: 'flat' shows each material's base
    colour as emission (the texture exactly as painted, no shading); 'studio' keeps Principled
    materials and adds a key / fill / rim light rig plus a dim grey world; 'turntable' keeps them too, with
    one key light fixed relative to whichever camera renders (above and to its right) plus the dim world:
    the object is lit differently in every view, as on a turntable capture where the object turns under
    fixed lamps, so textures projected from the views disagree the way real captures do. specular (0..1,
    not for 'flat'): render glossier copies of the materials (Principled 'Specular IOR Level' raised
    from 0.5 towards 1, 'Roughness' lowered towards 0.2); the originals are not changed. pixel_filter: Cycles pixel
    filter width in pixels (Blender's default 1.5 anti-aliases); a tiny value such as 0.01 puts every
    sample at the pixel centre, matching a rasterizer's point sampling. Film is transparent (alpha =
    coverage), view transform 'Standard', no dithering, denoising off, adaptive sampling on.
    """
    if lighting not in LIGHTING_MODES:
        raise ValueError(f"lighting must be one of {LIGHTING_MODES}, got {lighting!r}")
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    if not 0.0 <= float(specular) <= 1.0:
        raise ValueError(f"specular must be in [0, 1], got {specular}")
    r = scene.render
    r.engine = engine
    r.resolution_x, r.resolution_y, r.resolution_percentage = int(width), int(height), 100
    r.pixel_aspect_x = r.pixel_aspect_y = 1.0
    r.film_transparent = True
    r.dither_intensity = 0.0  # dithering would add noise to 8-bit outputs
    r.use_persistent_data = True  # keep the BVH between the views of one scene
    r.image_settings.file_format = "PNG"
    r.image_settings.color_mode = "RGBA"
    r.image_settings.color_depth = "16"
    vs = scene.view_settings
    scene.display_settings.display_device = "sRGB"
    vs.view_transform = "Standard"
    vs.look = "None"
    vs.exposure = 0.0
    vs.gamma = 1.0
    vs.use_curve_mapping = False
    if engine == "CYCLES":
        c = scene.cycles
        c.device = device
        c.samples = int(samples)
        c.use_adaptive_sampling = True
        c.adaptive_threshold = 0.02
        c.use_denoising = False
        c.seed = int(seed)
        c.use_animated_seed = False
        c.pixel_filter_type = "BLACKMAN_HARRIS"
        c.filter_width = 1.5 if pixel_filter is None else max(float(pixel_filter), 0.01)
        if lighting == "flat":
            # Emission seen directly needs no bounces; caustics / GI only cost time here.
            c.max_bounces = c.diffuse_bounces = c.glossy_bounces = c.transmission_bounces = 0
            c.volume_bounces = c.transparent_max_bounces = 0
        else:
            c.max_bounces, c.diffuse_bounces, c.glossy_bounces = 4, 2, 2
            c.transmission_bounces, c.volume_bounces, c.transparent_max_bounces = 2, 0, 4
        c.caustics_reflective = c.caustics_refractive = False
        c.texture_limit_render = "OFF"
    elif pixel_filter is not None and hasattr(r, "filter_size"):
        r.filter_size = max(float(pixel_filter), 0.01)
    _setup_world(scene, lighting)
    _remove_rig(scene)
    _ensure_materials(scene)
    if lighting == "flat":
        _use_flat_materials(scene)
    else:
        _restore_materials(scene)
        if specular > 0:
            _use_specular_materials(scene, float(specular))
        if lighting == "studio":
            _add_studio_rig(scene)
        else:
            _add_turntable_key(scene)


def _setup_world(scene: bpy.types.Scene, lighting: str) -> None:
    world = scene.world or bpy.data.worlds.new("TexForgeWorld")
    scene.world = world
    bg = next((n for n in world.node_tree.nodes if n.type == "BACKGROUND"), None) if world.node_tree else None
    color, strength = ((0.0, 0.0, 0.0, 1.0), 0.0) if lighting == "flat" else ((0.5, 0.5, 0.5, 1.0), 0.35)
    if bg is not None:
        bg.inputs["Color"].default_value = color
        bg.inputs["Strength"].default_value = strength
    else:
        world.color = color[:3]


_RIG = (  # name, type, energy, location (as a fraction of the object radius, scaled below), size
    ("TexForgeKey", "AREA", 120.0, (3.0, -3.0, 3.0), 2.0),
    ("TexForgeFill", "AREA", 50.0, (-3.5, -1.5, 1.5), 3.0),
    ("TexForgeRim", "AREA", 70.0, (0.0, 3.5, 2.5), 2.0),
    ("TexForgeSun", "SUN", 0.6, (1.0, -0.5, 3.0), 0.0),
)


def _scene_bounds(scene: bpy.types.Scene) -> tuple[np.ndarray, float]:
    pts = []
    for o in scene.objects:
        if o.type == "MESH" and not o.get("texforge_rig"):
            mw = np.array(o.matrix_world)
            corners = np.array([list(c) for c in o.bound_box])
            pts.append(corners @ mw[:3, :3].T + mw[:3, 3])
    if not pts:
        return np.zeros(3), 1.0
    pts = np.concatenate(pts)
    lo, hi = pts.min(0), pts.max(0)
    return (lo + hi) / 2, max(float(np.linalg.norm(hi - lo)) / 2, 1e-3)


def _add_studio_rig(scene: bpy.types.Scene) -> None:
    """Key, fill and rim area lights plus a soft sun, placed around the objects' bounding sphere."""
    center, radius = _scene_bounds(scene)
    for name, kind, energy, loc, size in _RIG:
        light = bpy.data.lights.new(name, kind)
        obj = bpy.data.objects.new(name, light)
        obj["texforge_rig"] = True
        scene.collection.objects.link(obj)
        pos = center + np.array(loc) * radius
        if kind == "AREA":
            light.size = size * radius
            light.energy = energy * radius * radius  # keep irradiance independent of object size
        else:
            light.energy = energy
        direction = center - pos
        obj.location = pos.tolist()
        obj.rotation_euler = _look_rotation(direction)


# Key position in the rendering camera's frame, in units of its distance to the object: up and to the
# right, about 45 degrees off the viewing direction, so each view shows a lit and a shaded side.
_TURNTABLE_KEY = (0.8, 0.6)
_TURNTABLE_IRRADIANCE = 6.0   # energy / distance^2: about the studio rig's key


def _add_turntable_key(scene: bpy.types.Scene) -> None:
    """One area light that :func:`_follow_camera` moves with the rendering camera before each render."""
    center, radius = _scene_bounds(scene)
    light = bpy.data.lights.new("TexForgeTurntableKey", "AREA")
    light.size = 2.0 * radius
    obj = bpy.data.objects.new("TexForgeTurntableKey", light)
    obj["texforge_rig"] = True
    obj[_TURNTABLE_TAG] = list(map(float, center))
    scene.collection.objects.link(obj)


def _follow_camera(scene: bpy.types.Scene) -> None:
    """Put the turntable key (if any) at its fixed place relative to ``scene.camera``."""
    cam = scene.camera
    if cam is None:
        return
    for obj in scene.objects:
        if obj.get(_TURNTABLE_TAG) is None:
            continue
        center = np.array(obj[_TURNTABLE_TAG], dtype=float)
        c2w = np.array(cam.matrix_world)
        eye, right, up = c2w[:3, 3], c2w[:3, 0], c2w[:3, 1]
        dist = max(float(np.linalg.norm(eye - center)), 1e-6)
        pos = eye + dist * (_TURNTABLE_KEY[0] * right + _TURNTABLE_KEY[1] * up)
        obj.location = pos.tolist()
        obj.rotation_euler = _look_rotation(center - pos)
        obj.data.energy = _TURNTABLE_IRRADIANCE * float(np.sum((pos - center) ** 2))


def _look_rotation(direction):
    from mathutils import Vector
    return Vector(direction.tolist()).to_track_quat("-Z", "Y").to_euler()


def _remove_rig(scene: bpy.types.Scene) -> None:
    for o in list(scene.objects):
        if o.get("texforge_rig"):
            data = o.data
            bpy.data.objects.remove(o, do_unlink=True)
            if data is not None and data.users == 0:
                bpy.data.lights.remove(data)


def _ensure_materials(scene: bpy.types.Scene) -> None:
    """Give meshes without any material a Principled one; its base colour is the mesh's active colour
    attribute when there is one (PLY scans carry vertex colours but no material), else light grey."""
    for obj in scene.objects:
        if obj.type != "MESH" or len(obj.material_slots) > 0:
            continue
        mat = bpy.data.materials.new(f"{obj.name}.texforge")
        tree = mat.node_tree
        bsdf = next(n for n in tree.nodes if n.type == "BSDF_PRINCIPLED")
        attrs = obj.data.color_attributes
        if attrs.active_color is not None:
            node = tree.nodes.new("ShaderNodeVertexColor")
            node.layer_name = attrs.active_color.name
            tree.links.new(node.outputs["Color"], bsdf.inputs["Base Color"])
        else:
            bsdf.inputs["Base Color"].default_value = (0.8, 0.8, 0.8, 1.0)
        obj.data.materials.append(mat)


def _use_flat_materials(scene: bpy.types.Scene) -> None:
    """Swap every material on the scene's meshes for an emission copy that shows its base colour.

    The originals are left untouched (the copies carry the original's name in a custom property, so
    'studio' can swap them back). Image textures are set to Linear interpolation, as our renderer
    samples bilinearly."""
    for obj in scene.objects:
        if obj.type != "MESH":
            continue
        for slot in obj.material_slots:
            mat = slot.material
            if mat is not None and mat.get(_FLAT_TAG):
                continue
            slot.material = _flat_material(mat)


def _flat_material(src: bpy.types.Material | None) -> bpy.types.Material:
    if src is None:
        mat = bpy.data.materials.new("TexForgeFlat")
    else:
        mat = src.copy()
        mat.name = f"{src.name}.flat"
    mat[_FLAT_TAG] = src.name if src is not None else ""
    tree = mat.node_tree
    nodes, links = tree.nodes, tree.links
    out = next((n for n in nodes if n.type == "OUTPUT_MATERIAL" and n.is_active_output), None)
    out = out or next((n for n in nodes if n.type == "OUTPUT_MATERIAL"), None) or nodes.new("ShaderNodeOutputMaterial")
    bsdf = next((n for n in nodes if n.type == "BSDF_PRINCIPLED"), None)
    emission = nodes.new("ShaderNodeEmission")
    emission.inputs["Strength"].default_value = 1.0
    if bsdf is not None:
        base = bsdf.inputs["Base Color"]
        if base.is_linked:
            links.new(base.links[0].from_socket, emission.inputs["Color"])
        else:
            emission.inputs["Color"].default_value = base.default_value
    else:
        emission.inputs["Color"].default_value = (0.8, 0.8, 0.8, 1.0)
    for link in list(out.inputs["Surface"].links):
        links.remove(link)
    links.new(emission.outputs["Emission"], out.inputs["Surface"])
    for node in nodes:
        if node.type == "TEX_IMAGE":
            node.interpolation = "Linear"
    return mat


def _use_specular_materials(scene: bpy.types.Scene, specular: float) -> None:
    """Swap each material for a glossier copy (tagged with the original's name, like the flat copies)."""
    for obj in scene.objects:
        if obj.type != "MESH":
            continue
        for slot in obj.material_slots:
            src = slot.material
            if src is None or src.node_tree is None:
                continue
            mat = src.copy()
            mat.name = f"{src.name}.specular"
            mat[_SPECULAR_TAG] = src.name
            for bsdf in (n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED"):
                level = bsdf.inputs["Specular IOR Level"]
                level.default_value = max(level.default_value, 0.5 + 0.5 * specular)
                rough = bsdf.inputs["Roughness"]
                if not rough.is_linked:
                    rough.default_value = min(rough.default_value, 1.0 - 0.8 * specular)
            slot.material = mat


def _restore_materials(scene: bpy.types.Scene) -> None:
    for obj in scene.objects:
        if obj.type != "MESH":
            continue
        for slot in obj.material_slots:
            mat = slot.material
            # a flat copy of a specular copy leads back in two steps
            while mat is not None and (mat.get(_FLAT_TAG) is not None or mat.get(_SPECULAR_TAG) is not None):
                tag = mat.get(_FLAT_TAG) if mat.get(_FLAT_TAG) is not None else mat.get(_SPECULAR_TAG)
                mat = bpy.data.materials.get(tag) if tag else None
            slot.material = mat


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------

def render_views(scene: bpy.types.Scene, K, R, t, width: int, height: int, progress=None) -> np.ndarray:
    """Render the scene through N cameras: (N, H, W, 4) float32 RGBA in [0, 1], row 0 on top.

    K (N, 3, 3) or (3, 3) pixel intrinsics (fx != fy becomes Blender's pixel aspect, cx / cy the lens
    shift); R (N, 3, 3), t (N, 3) OpenCV world-to-camera. A temporary camera is created and removed
    afterwards; the scene's camera, resolution and pixel aspect are restored. Call ``setup_render``
    first. ``progress(i, n)`` is called after each view when given.
    """
    R = np.asarray(R, dtype=np.float64).reshape(-1, 3, 3)
    t = np.asarray(t, dtype=np.float64).reshape(-1, 3)
    K = np.asarray(K, dtype=np.float64)
    K = np.broadcast_to(K, (len(R), 3, 3)) if K.ndim == 2 else K.reshape(-1, 3, 3)
    if not (len(K) == len(R) == len(t)):
        raise ValueError(f"K, R, t must hold the same number of cameras, got {len(K)}, {len(R)}, {len(t)}")
    for name, a in (("K", K), ("R", R), ("t", t)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} holds non-finite values")
    r = scene.render
    saved = (scene.camera, r.resolution_x, r.resolution_y, r.resolution_percentage, r.pixel_aspect_x,
             r.pixel_aspect_y, r.filepath, r.use_border)
    tmpdir = Path(tempfile.mkdtemp(prefix="texforge_render_"))
    cam = None
    out = np.zeros((len(R), int(height), int(width), 4), dtype=np.float32)
    try:
        cam = blender_camera.new_camera(scene, "TexForgeRenderCam", K[0], R[0], t[0], width, height)
        scene.camera = cam
        r.use_border = False
        for i in range(len(R)):
            blender_camera.apply_krt(scene, cam, K[i], R[i], t[i], width, height, set_render_size=True)
            out[i] = _render_still(scene, tmpdir / f"view_{i:04d}.png")
            if progress is not None:
                progress(i + 1, len(R))
    finally:
        if cam is not None:
            data = cam.data
            bpy.data.objects.remove(cam, do_unlink=True)
            bpy.data.cameras.remove(data)
        (scene.camera, r.resolution_x, r.resolution_y, r.resolution_percentage, r.pixel_aspect_x,
         r.pixel_aspect_y, r.filepath, r.use_border) = saved
        shutil.rmtree(tmpdir, ignore_errors=True)
    return out


def render_camera(scene: bpy.types.Scene, cam_obj: bpy.types.Object) -> np.ndarray:
    """Render the scene through an existing camera object with the scene's own render size and pixel
    aspect: (H, W, 4) float32 RGBA, row 0 on top. ``scene.camera`` is restored afterwards."""
    if cam_obj.type != "CAMERA":
        raise ValueError(f"object '{cam_obj.name}' is not a camera")
    saved_camera, saved_path = scene.camera, scene.render.filepath
    tmpdir = Path(tempfile.mkdtemp(prefix="texforge_render_"))
    try:
        scene.camera = cam_obj
        return _render_still(scene, tmpdir / "view.png")
    finally:
        scene.camera, scene.render.filepath = saved_camera, saved_path
        shutil.rmtree(tmpdir, ignore_errors=True)


def _render_still(scene: bpy.types.Scene, path: Path) -> np.ndarray:
    """Render the active camera to a 16-bit PNG and read it back as (H, W, 4), row 0 on top."""
    scene.render.filepath = str(path)
    _follow_camera(scene)
    with _quiet_stdout(), bpy.context.temp_override(scene=scene):
        bpy.ops.render.render(write_still=True, scene=scene.name)
    if not path.is_file():
        raise RuntimeError(f"Blender did not write the render to {path}")
    return read_png_rgba(path)


@contextlib.contextmanager
def _quiet_stdout():
    """Silence Blender's per-render log lines ("Fra:1 ... Sample 3/8", "Saved: ...") written by C code
    straight to file descriptor 1; Python errors still reach stderr."""
    fd = 1
    try:
        sys.stdout.flush()
        saved = os.dup(fd)
    except (AttributeError, OSError, ValueError):  # no file descriptor 1 (e.g. some embedded consoles)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def read_png_rgba(path) -> np.ndarray:
    """Read an 8- or 16-bit PNG through Blender without any colour conversion: (H, W, 4) float32,
    row 0 on top, straight alpha (an opaque alpha channel is added to RGB images)."""
    img = bpy.data.images.load(str(path), check_existing=False)
    try:
        img.colorspace_settings.name = "Non-Color"  # the file's values as they are, no linearisation
        img.alpha_mode = "STRAIGHT"
        w, h = img.size
        px = np.empty(w * h * 4, dtype=np.float32)
        img.pixels.foreach_get(px)
    finally:
        bpy.data.images.remove(img)
    return np.ascontiguousarray(px.reshape(h, w, 4)[::-1])
