"""Mesh files <-> :class:`TexturedMesh` in Blender world coordinates (Z-up, metres), through trimesh.

Axis conventions, matching Blender's own importers/exporters at their defaults:

* OBJ and glTF/GLB files are Y-up: a file point (x, y, z) is the Blender point (x, -z, y); writing maps
  Blender (x, y, z) to the file's (x, z, -y).
* PLY (and other formats) are read as is.

trimesh reads and writes every format (``process=False``: nothing merged, reordered or dropped). What
it cannot do is kept here: ``TexturedMesh`` keeps UVs per corner (``face_uvs`` separate from
``faces``), v pointing up, while trimesh (like glTF) holds one UV per vertex with vertices split at UV
seams; :func:`weld_vertices` merges the split vertices again and the UVs stay per corner, and writing
splits them per unique (vertex, UV) corner. MTL ``map_Kd`` lines with options (``-s 1 1 1 -clamp on
file.png``), which trimesh's MTL reader takes for part of the file name, are read by
:func:`_parse_mtl_texture`.

Writers are atomic (temp file + os.replace).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..atomic import write_bytes
from ..runtime.errors import InputError
from .types import TexturedMesh


# ---------------------------------------------------------------------------------------------
# axis conversions
# ---------------------------------------------------------------------------------------------

def yup_to_blender(p: np.ndarray) -> np.ndarray:
    """(N, 3) Y-up file coordinates (OBJ, glTF) -> Blender Z-up: (x, y, z) -> (x, -z, y)."""
    p = np.asarray(p)
    return np.stack([p[:, 0], -p[:, 2], p[:, 1]], axis=1)


def blender_to_yup(p: np.ndarray) -> np.ndarray:
    """(N, 3) Blender Z-up -> Y-up file coordinates: (x, y, z) -> (x, z, -y)."""
    p = np.asarray(p)
    return np.stack([p[:, 0], p[:, 2], -p[:, 1]], axis=1)


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------

def _texture_image(texture: np.ndarray):
    """(H, W, C) float texture in [0, 1] -> an 8-bit RGB(A) Pillow image."""
    from PIL import Image

    tex = np.asarray(texture, dtype=np.float64)
    if tex.ndim == 2:
        tex = tex[..., None]
    if tex.shape[-1] == 1:
        tex = np.repeat(tex, 3, axis=-1)
    if not np.all(np.isfinite(tex)):
        raise ValueError("texture contains NaN or inf values")
    u8 = np.round(np.clip(tex[..., :4], 0.0, 1.0) * 255.0).astype(np.uint8)
    image = Image.fromarray(np.ascontiguousarray(u8), mode="RGBA" if u8.shape[-1] == 4 else "RGB")
    image.format = "PNG"  # trimesh embeds / writes the image in its own format
    return image


def _image_to_texture(image) -> np.ndarray:
    """A Pillow image -> (H, W, 3) float32 in [0, 1] (alpha dropped)."""
    im = image.convert("RGB")
    return np.asarray(im, dtype=np.uint8).astype(np.float32) / 255.0


def weld_vertices(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices with bit-identical positions (as glTF/PLY split them at UV seams).
    Returns (unique vertices (V', 3), faces re-indexed (F, 3)); unused vertices are dropped."""
    used = np.unique(faces.ravel())
    uniq, inverse = np.unique(vertices[used], axis=0, return_inverse=True)
    remap = np.full(len(vertices), -1, dtype=np.int64)
    remap[used] = inverse.reshape(-1)
    return uniq, remap[faces]

# ---------------------------------------------------------------------------------------------
# OBJ materials trimesh cannot read
# ---------------------------------------------------------------------------------------------

def _parse_mtl_texture(mtl_path: Path) -> dict[str, Path]:
    """material name -> map_Kd file (resolved) for one .mtl file. Options before the file name
    (-s u v w, -o ..., -bm x, -clamp on, ...) are skipped."""
    out: dict[str, Path] = {}
    current = None
    try:
        lines = mtl_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        warnings.warn(f"{mtl_path}: cannot read material library ({e}); loading without texture")
        return out
    for line in lines:
        parts = line.strip().split()
        if not parts:
            continue
        if parts[0] == "newmtl":
            current = " ".join(parts[1:])
        elif parts[0].lower() == "map_kd" and current is not None and len(parts) > 1:
            args, i = parts[1:], 0
            # skip "-option value..." groups; values are numbers or on/off; the last token is always kept
            while i < len(args) - 1 and args[i].startswith("-") and not _is_number(args[i]):
                i += 1
                while i < len(args) - 1 and (_is_number(args[i]) or args[i] in ("on", "off")):
                    i += 1
            name = " ".join(args[i:]).replace("\\", "/")
            if name:
                out[current] = mtl_path.parent / name
    return out


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _obj_texture_fallback(path: Path) -> np.ndarray | None:
    """The first map_Kd texture of an OBJ's material libraries, read with :func:`_parse_mtl_texture`."""
    maps: dict[str, Path] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("mtllib"):
            lib = line.split(None, 1)[1].strip() if len(line.split()) > 1 else ""
            # "mtllib a.mtl b.mtl" lists several files; a single name may also contain spaces
            for name in [lib] if (path.parent / lib).is_file() else lib.split():
                maps.update(_parse_mtl_texture(path.parent / name))
    if not maps:
        return None
    first = next(iter(maps.values()))
    if len({str(m) for m in maps.values()}) > 1:
        warnings.warn(f"{path}: several textured materials; only {first.name} is used")
    from ..data.images import read_image, split_rgb_alpha
    try:
        return split_rgb_alpha(read_image(first))[0]
    except InputError as e:
        warnings.warn(f"{path}: texture not loaded: {e}")
        return None


def _load_with_trimesh(path: Path, y_up: bool) -> TexturedMesh:
    """Every triangle mesh of the file (node transforms applied) as one welded TexturedMesh with
    per-corner UVs when the file has them, and the first base-colour texture."""
    import trimesh

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # trimesh warns about what it skips; the checks below judge the mesh
            scene = trimesh.load(str(path), force="scene", process=False)
    except Exception as e:  # trimesh raises many types for bad files
        raise InputError(f"{path}: cannot read mesh ({type(e).__name__}: {e})") from e
    all_v, all_f, all_uv, has_uv, texture = [], [], [], [], None
    offset = 0
    for node in scene.graph.nodes_geometry:
        transform, geom_name = scene.graph[node]
        geom = scene.geometry[geom_name]
        if not isinstance(geom, trimesh.Trimesh) or len(geom.faces) == 0:
            continue
        v = trimesh.transform_points(np.asarray(geom.vertices, dtype=np.float64), transform)
        f = np.asarray(geom.faces, dtype=np.int64)
        uv = getattr(geom.visual, "uv", None) if geom.visual.kind == "texture" else None
        all_v.append(v)
        all_f.append(f + offset)
        all_uv.append(np.asarray(uv, dtype=np.float64) if uv is not None and len(uv) == len(v)
                      else np.zeros((len(v), 2)))
        has_uv.append(uv is not None and len(uv) == len(v))
        offset += len(v)
        material = getattr(geom.visual, "material", None)
        image = None
        if material is not None:
            image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
        if image is not None:
            if texture is None:
                texture = _image_to_texture(image)
            elif texture.shape[:2] != (image.height, image.width):
                warnings.warn(f"{path}: several textures; only the first is used")
    if not all_f:
        raise InputError(f"{path}: no triangle faces")
    v = np.concatenate(all_v)
    f = np.concatenate(all_f)
    if y_up:
        v = yup_to_blender(v)
    if any(has_uv):
        uvs = np.concatenate(all_uv)
        if texture is None and path.suffix.lower() == ".obj":
            texture = _obj_texture_fallback(path)
        verts, faces = weld_vertices(v, f)
        return TexturedMesh(verts, faces, uvs, f, texture)  # face_uvs: the split vertices' UVs per corner
    verts, faces = weld_vertices(v, f)
    return TexturedMesh(verts, faces, None, None, texture)


def load_mesh(path) -> TexturedMesh:
    """Read OBJ / glTF / GLB (Y-up files, converted to Blender Z-up) or PLY / STL / OFF (as is)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"mesh file not found: {path}")
    ext = path.suffix.lower()
    if ext in (".obj", ".glb", ".gltf"):
        return _load_with_trimesh(path, y_up=True)
    if ext in (".ply", ".stl", ".off"):
        return _load_with_trimesh(path, y_up=False)
    raise InputError(f"{path}: unsupported mesh format {ext!r} (use .obj, .glb, .gltf, .ply, .stl or .off)")


# ---------------------------------------------------------------------------------------------
# writers
# ---------------------------------------------------------------------------------------------

def _split_corners(mesh: TexturedMesh):
    """One UV per vertex, as trimesh and glTF hold them: unique (vertex, uv) corner pairs become the
    output vertices. Returns (vertex index (K,), uv index (K,) or None, triangle indices (F, 3) into the K)."""
    if mesh.uvs is None:
        used, inv = np.unique(mesh.faces.ravel(), return_inverse=True)
        return used, None, inv.reshape(-1, 3)
    pairs = np.stack([mesh.faces.ravel(), mesh.face_uvs.ravel()], axis=1)
    uniq, inv = np.unique(pairs, axis=0, return_inverse=True)
    return uniq[:, 0], uniq[:, 1], inv.reshape(-1, 3)


def _to_trimesh(mesh: TexturedMesh, y_up: bool, double_sided: bool = False, name: str = "TexForgeMesh"):
    """A trimesh mesh split per (vertex, UV) corner, with smooth normals of the welded mesh (so UV seams do
    not show) and, when textured, one PBR material whose base colour is the texture."""
    import trimesh

    if len(mesh.faces) == 0:
        raise ValueError("the mesh has no faces")
    if not np.all(np.isfinite(mesh.vertices)):
        raise ValueError("vertices contain NaN or inf")
    if mesh.texture is not None and mesh.uvs is None:
        raise ValueError("a texture needs UVs")
    vid, tid, tris = _split_corners(mesh)
    welded = trimesh.Trimesh(mesh.vertices.astype(np.float64), mesh.faces, process=False)
    axes = blender_to_yup if y_up else np.asarray
    normals = axes(np.asarray(welded.vertex_normals)[vid])
    visual = None
    if tid is not None:
        material = trimesh.visual.material.PBRMaterial(
            name=f"{name}Material", metallicFactor=0.0, roughnessFactor=1.0, doubleSided=bool(double_sided),
            baseColorTexture=_texture_image(mesh.texture) if mesh.texture is not None else None)
        visual = trimesh.visual.TextureVisuals(uv=mesh.uvs[tid].astype(np.float64), material=material)
    return trimesh.Trimesh(axes(mesh.vertices[vid].astype(np.float64)), tris, vertex_normals=normals,
                           visual=visual, process=False, validate=False)


def write_glb(path, mesh: TexturedMesh, double_sided: bool = False, name: str = "TexForgeMesh") -> Path:
    """Write ``mesh`` (Blender Z-up) as a binary glTF (Y-up) with trimesh: POSITION, NORMAL, TEXCOORD_0,
    indices and one material with the texture embedded as PNG. Atomic write. Returns the path."""
    import trimesh

    try:
        tm = _to_trimesh(mesh, y_up=True, double_sided=double_sided, name=name)
    except ValueError as e:
        raise ValueError(f"write_glb: {e}") from e
    scene = trimesh.Scene()
    scene.add_geometry(tm, node_name=name, geom_name=name)
    return write_bytes(path, trimesh.exchange.gltf.export_glb(scene, include_normals=True))


def write_obj(path, mesh: TexturedMesh) -> Path:
    """Write ``mesh`` as OBJ (Y-up) + MTL + PNG texture next to it (``<stem>.mtl`` and the texture file
    trimesh names in it). Each file is written atomically. Returns the OBJ path."""
    from trimesh.exchange.obj import export_obj

    path = Path(path)
    text, files = export_obj(_to_trimesh(mesh, y_up=True), include_normals=False, include_texture=True,
                             return_texture=True, mtl_name=f"{path.stem}.mtl")
    for name, data in files.items():
        write_bytes(path.with_name(name), data)
    return write_bytes(path, text.encode("utf-8"))


def write_ply(path, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """Binary PLY with trimesh, coordinates as given (no axis change: PLY has no up-axis convention;
    Blender's and trimesh's importers read it as is). Atomic."""
    import trimesh
    from trimesh.exchange.ply import export_ply

    tm = trimesh.Trimesh(np.asarray(vertices, np.float64).reshape(-1, 3), np.asarray(faces).reshape(-1, 3),
                         process=False)
    return write_bytes(path, export_ply(tm, encoding="binary", include_attributes=False))
