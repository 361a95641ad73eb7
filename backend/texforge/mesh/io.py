"""Mesh files <-> :class:`TexturedMesh` in Blender world coordinates (Z-up, metres).

Axis conventions, matching Blender's own importers/exporters at their defaults:

* OBJ and glTF/GLB files are Y-up: a file point (x, y, z) is the Blender point (x, -z, y); writing maps
  Blender (x, y, z) to the file's (x, z, -y).
* PLY (and other formats) are read as is.

UVs: ``TexturedMesh`` keeps them per corner (``face_uvs`` separate from ``faces``), v pointing up (OBJ
convention). OBJ is parsed here (v / vt / f with polygon fans) so seams keep their exact per-corner UVs
and vertices stay welded; glTF stores one UV per vertex with vertices split at seams, so after reading
we weld vertices with identical positions and keep the UVs per corner. glTF's UV origin is the top-left
of the image: v_gltf = 1 - v.

Writers are atomic (temp file + os.replace). :func:`write_glb` is a small self-contained GLB writer:
one mesh, one primitive, one material whose base colour is the embedded PNG texture.
"""

from __future__ import annotations

import io
import json
import struct
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

def _png_bytes(texture: np.ndarray) -> bytes:
    from PIL import Image

    tex = np.asarray(texture, dtype=np.float64)
    if tex.ndim == 2:
        tex = tex[..., None]
    if tex.shape[-1] == 1:
        tex = np.repeat(tex, 3, axis=-1)
    if not np.all(np.isfinite(tex)):
        raise ValueError("texture contains NaN or inf values")
    u8 = np.round(np.clip(tex[..., :4], 0.0, 1.0) * 255.0).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(u8), mode="RGBA" if u8.shape[-1] == 4 else "RGB").save(buf, format="PNG")
    return buf.getvalue()


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


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (V, 3); vertices without area get (0, 0, 1)."""
    v = vertices.astype(np.float64)
    fn = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])  # length = 2 x area
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, faces[:, k], fn)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    out = np.where(length > 1e-20, n / np.maximum(length, 1e-300), np.array([0.0, 0.0, 1.0]))
    return out


# ---------------------------------------------------------------------------------------------
# OBJ
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


def _load_obj(path: Path) -> TexturedMesh:
    verts: list[list[float]] = []
    uvs: list[list[float]] = []
    faces: list[tuple[int, int, int]] = []
    face_uvs: list[tuple[int, int, int]] = []
    face_has_uv: list[bool] = []
    mtllibs: list[str] = []
    materials_used: list[str] = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e})") from e
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw or raw[0] == "#":
            continue
        parts = raw.split()
        if not parts:
            continue
        key = parts[0]
        try:
            if key == "v":
                verts.append([float(parts[1]), float(parts[2]), float(parts[3])])
            elif key == "vt":
                uvs.append([float(parts[1]), float(parts[2]) if len(parts) > 2 else 0.0])
            elif key == "f":
                corners = []
                for c in parts[1:]:
                    idx = c.split("/")
                    vi = int(idx[0])
                    vi = vi - 1 if vi > 0 else len(verts) + vi
                    ti = None
                    if len(idx) > 1 and idx[1]:
                        ti = int(idx[1])
                        ti = ti - 1 if ti > 0 else len(uvs) + ti
                    corners.append((vi, ti))
                if len(corners) < 3:
                    raise ValueError("a face needs at least 3 corners")
                has_uv = all(ti is not None for _, ti in corners)
                for k in range(1, len(corners) - 1):  # fan triangulation of polygons
                    tri = (corners[0], corners[k], corners[k + 1])
                    faces.append(tuple(c[0] for c in tri))
                    face_uvs.append(tuple((c[1] if has_uv else -1) for c in tri))
                    face_has_uv.append(has_uv)
            elif key == "mtllib":
                mtllibs.append(raw.split(None, 1)[1].strip())
            elif key == "usemtl" and len(parts) > 1:
                name = " ".join(parts[1:])
                if name not in materials_used:
                    materials_used.append(name)
        except (ValueError, IndexError) as e:
            raise InputError(f"{path}: line {lineno}: cannot parse {raw.strip()[:60]!r} ({e})") from e
    if not faces:
        raise InputError(f"{path}: no faces")
    v = np.asarray(verts, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    if f.min() < 0 or f.max() >= len(v):
        raise InputError(f"{path}: a face refers to a vertex that does not exist")
    mesh_uvs, mesh_fuv = None, None
    if uvs and any(face_has_uv):
        uv = np.asarray(uvs, dtype=np.float64)
        fuv = np.asarray(face_uvs, dtype=np.int64)
        if not all(face_has_uv):  # corners without vt get a UV at (0, 0)
            uv = np.vstack([uv, [0.0, 0.0]])
            fuv[fuv == -1] = len(uv) - 1
        if fuv.min() < 0 or fuv.max() >= len(uv):
            raise InputError(f"{path}: a face refers to a texture coordinate that does not exist")
        mesh_uvs, mesh_fuv = uv, fuv
    texture = None
    if mesh_uvs is not None:
        maps: dict[str, Path] = {}
        for lib in mtllibs:
            # "mtllib a.mtl b.mtl" lists several files; a single name may also contain spaces
            names_ = [lib] if (path.parent / lib).is_file() else lib.split()
            for name in names_:
                maps.update(_parse_mtl_texture(path.parent / name))
        names = [m for m in materials_used if m in maps] or list(maps)
        if len({str(maps[m]) for m in names}) > 1:
            warnings.warn(f"{path}: several textured materials; only {maps[names[0]].name} is used")
        if names:
            from ..data.images import read_image, split_rgb_alpha
            try:
                texture, _ = split_rgb_alpha(read_image(maps[names[0]]))
            except InputError as e:
                warnings.warn(f"{path}: texture not loaded: {e}")
    return TexturedMesh(yup_to_blender(v), f, mesh_uvs, mesh_fuv, texture)


def write_obj(path, mesh: TexturedMesh) -> Path:
    """Write ``mesh`` as OBJ (Y-up) + MTL + PNG texture next to it (``<stem>.mtl``, ``<stem>_texture.png``).
    Each file is written atomically. Returns the OBJ path."""
    path = Path(path)
    stem = path.stem
    lines = ["# TexForge mesh (Y-up, as Blender's OBJ exporter writes it)"]
    has_tex = mesh.texture is not None and mesh.uvs is not None
    if has_tex:
        lines += [f"mtllib {stem}.mtl", f"usemtl {stem}"]
    v = blender_to_yup(mesh.vertices.astype(np.float64))
    lines += [f"v {x:.8g} {y:.8g} {z:.8g}" for x, y, z in v]
    if mesh.uvs is not None:
        lines += [f"vt {a:.8g} {b:.8g}" for a, b in mesh.uvs.astype(np.float64)]
        lines += [f"f {a + 1}/{ta + 1} {b + 1}/{tb + 1} {c + 1}/{tc + 1}"
                  for (a, b, c), (ta, tb, tc) in zip(mesh.faces.tolist(), mesh.face_uvs.tolist())]
    else:
        lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in mesh.faces.tolist()]
    if has_tex:
        tex_name = f"{stem}_texture.png"
        write_bytes(path.with_name(tex_name), _png_bytes(mesh.texture))
        mtl = f"newmtl {stem}\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nd 1\nillum 1\nmap_Kd {tex_name}\n"
        write_bytes(path.with_name(f"{stem}.mtl"), mtl.encode("utf-8"))
    write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"))
    return path


# ---------------------------------------------------------------------------------------------
# glTF / PLY / others through trimesh
# ---------------------------------------------------------------------------------------------

def _load_with_trimesh(path: Path, y_up: bool) -> TexturedMesh:
    import trimesh

    try:
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
    if ext == ".obj":
        return _load_obj(path)
    if ext in (".glb", ".gltf"):
        return _load_with_trimesh(path, y_up=True)
    if ext in (".ply", ".stl", ".off"):
        return _load_with_trimesh(path, y_up=False)
    raise InputError(f"{path}: unsupported mesh format {ext!r} (use .obj, .glb, .gltf, .ply, .stl or .off)")


# ---------------------------------------------------------------------------------------------
# GLB writer
# ---------------------------------------------------------------------------------------------

_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_FLOAT, _UNSIGNED_SHORT, _UNSIGNED_INT = 5126, 5123, 5125


def _split_corners(mesh: TexturedMesh):
    """glTF needs one UV per vertex: unique (vertex, uv) corner pairs become the output vertices.
    Returns (vertex index (K,), uv index (K,) or None, triangle indices (F, 3) into the K)."""
    if mesh.uvs is None:
        used, inv = np.unique(mesh.faces.ravel(), return_inverse=True)
        return used, None, inv.reshape(-1, 3)
    pairs = np.stack([mesh.faces.ravel(), mesh.face_uvs.ravel()], axis=1)
    uniq, inv = np.unique(pairs, axis=0, return_inverse=True)
    return uniq[:, 0], uniq[:, 1], inv.reshape(-1, 3)


def write_glb(path, mesh: TexturedMesh, double_sided: bool = False, name: str = "TexForgeMesh") -> Path:
    """Write ``mesh`` (Blender Z-up) as a binary glTF (Y-up): POSITION, NORMAL (smooth, from the welded
    mesh so UV seams do not show), TEXCOORD_0 (v flipped to glTF's top-left origin), indices, and one
    material with the texture embedded as PNG. Atomic write. Returns the path."""
    path = Path(path)
    if len(mesh.faces) == 0:
        raise ValueError("write_glb: the mesh has no faces")
    if not np.all(np.isfinite(mesh.vertices)):
        raise ValueError("write_glb: vertices contain NaN or inf")
    if mesh.texture is not None and mesh.uvs is None:
        raise ValueError("write_glb: a texture needs UVs")
    vid, tid, tris = _split_corners(mesh)
    normals = vertex_normals(mesh.vertices, mesh.faces)[vid]
    pos = blender_to_yup(mesh.vertices[vid].astype(np.float64)).astype(np.float32)
    nrm = blender_to_yup(normals).astype(np.float32)
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)  # unit length again after float32 rounding

    blob = bytearray()
    views, accessors = [], []

    def add_view(data: bytes, target: int | None) -> int:
        while len(blob) % 4:
            blob.append(0)
        view = {"buffer": 0, "byteOffset": len(blob), "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        blob.extend(data)
        views.append(view)
        return len(views) - 1

    def add_accessor(arr: np.ndarray, ctype: int, atype: str, target: int, minmax: bool = False) -> int:
        acc = {"bufferView": add_view(arr.tobytes(), target), "componentType": ctype,
               "count": int(arr.shape[0]), "type": atype}
        if minmax:
            acc["min"] = [float(x) for x in arr.min(axis=0)]
            acc["max"] = [float(x) for x in arr.max(axis=0)]
        accessors.append(acc)
        return len(accessors) - 1

    attributes = {"POSITION": add_accessor(pos, _FLOAT, "VEC3", _ARRAY_BUFFER, minmax=True),
                  "NORMAL": add_accessor(nrm, _FLOAT, "VEC3", _ARRAY_BUFFER)}
    if tid is not None:
        uv = mesh.uvs[tid].astype(np.float32).copy()
        uv[:, 1] = 1.0 - uv[:, 1]
        attributes["TEXCOORD_0"] = add_accessor(np.ascontiguousarray(uv), _FLOAT, "VEC2", _ARRAY_BUFFER)
    if len(pos) < 65536:
        idx = tris.astype(np.uint16).reshape(-1, 1)
        index_acc = add_accessor(idx, _UNSIGNED_SHORT, "SCALAR", _ELEMENT_ARRAY_BUFFER)
    else:
        idx = tris.astype(np.uint32).reshape(-1, 1)
        index_acc = add_accessor(idx, _UNSIGNED_INT, "SCALAR", _ELEMENT_ARRAY_BUFFER)

    pbr = {"metallicFactor": 0.0, "roughnessFactor": 1.0}
    material = {"name": f"{name}Material", "pbrMetallicRoughness": pbr, "doubleSided": bool(double_sided)}
    gltf: dict = {
        "asset": {"version": "2.0", "generator": "TexForge"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": name}],
        "meshes": [{"name": name, "primitives": [
            {"attributes": attributes, "indices": index_acc, "material": 0, "mode": 4}]}],
        "materials": [material],
    }
    if mesh.texture is not None:
        image_view = add_view(_png_bytes(mesh.texture), None)
        gltf["images"] = [{"bufferView": image_view, "mimeType": "image/png", "name": f"{name}Texture"}]
        gltf["samplers"] = [{"magFilter": 9729, "minFilter": 9987, "wrapS": 10497, "wrapT": 10497}]
        gltf["textures"] = [{"sampler": 0, "source": 0}]
        pbr["baseColorTexture"] = {"index": 0, "texCoord": 0}
    while len(blob) % 4:
        blob.append(0)
    gltf["accessors"] = accessors
    gltf["bufferViews"] = views
    gltf["buffers"] = [{"byteLength": len(blob)}]

    js = json.dumps(gltf, separators=(",", ":")).encode("utf-8")
    js += b" " * (-len(js) % 4)
    total = 12 + 8 + len(js) + 8 + len(blob)
    out = bytearray(struct.pack("<4sII", b"glTF", 2, total))
    out += struct.pack("<I4s", len(js), b"JSON") + js
    out += struct.pack("<I4s", len(blob), b"BIN\x00") + blob
    write_bytes(path, bytes(out))
    return path


def write_ply(path, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """Binary little-endian PLY, float32 vertices and int32 triangles, coordinates as given (no axis
    change: PLY has no up-axis convention; Blender's and trimesh's importers read it as is). Atomic."""
    v = np.ascontiguousarray(vertices, dtype="<f4").reshape(-1, 3)
    f = np.empty(len(faces), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
    f["n"], f["idx"] = 3, np.asarray(faces).reshape(-1, 3)
    header = ("ply\nformat binary_little_endian 1.0\ncomment TexForge mesh, Blender world coordinates "
              f"(Z up, metres)\nelement vertex {len(v)}\nproperty float x\nproperty float y\n"
              f"property float z\nelement face {len(f)}\nproperty list uchar int vertex_indices\nend_header\n")
    return write_bytes(path, header.encode("ascii") + v.tobytes() + f.tobytes())
