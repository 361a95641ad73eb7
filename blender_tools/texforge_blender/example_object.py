"""The embedded example: a textured, genus-0 toy object built procedurally at run time.

No third-party asset is involved: the shape is a UV sphere deformed into a lobed, leaning vase, the
texture is painted with numpy (latitude colour bands, a checker, soft coloured patches and a few
stripes) and packed into the .blend. Everything is deterministic, so datasets rendered from it are
reproducible. The shape and the texture are asymmetric in azimuth, so a camera flipped by 180 degrees
about the vertical axis sees a different picture (the multi-view pipeline must be able to tell).
"""

from __future__ import annotations

import math

import bpy
import numpy as np

SEGMENTS = 64          # around the vertical axis
RINGS = 32             # pole to pole
TEXTURE_SIZE = (512, 256)  # (width, height): u spans the azimuth, v the latitude
HEIGHT = 1.0           # metres, pole to pole before deformation


def example_arrays(segments: int = SEGMENTS, rings: int = RINGS):
    """Geometry of the example without Blender.

    Returns vertices (V, 3) float64 (Blender world, Z-up, resting on z = 0), triangles (F, 3) int64
    (counter-clockwise seen from outside), per-corner UVs (F, 3, 2) float64 with v up.
    Vertex 0 is the south pole, the last vertex the north pole, rings in between go south to north.
    """
    theta = np.linspace(0.0, math.pi, rings + 1)[1:-1]          # polar angle of the inner rings
    phi = np.arange(segments) * (2.0 * math.pi / segments)
    th, ph = np.meshgrid(theta, phi, indexing="ij")              # (rings-1, segments)
    verts = [_surface(np.array([math.pi]), np.array([0.0]))[0]]  # south pole (theta = pi)
    verts += list(_surface(th[::-1].ravel(), ph[::-1].ravel()))  # rings from south to north
    verts.append(_surface(np.array([0.0]), np.array([0.0]))[0])  # north pole
    verts = np.array(verts)
    ring_theta = theta[::-1]
    south, north = 0, len(verts) - 1

    def vid(ring, seg):  # ring 0 = southernmost inner ring
        return 1 + ring * segments + seg % segments

    def uv(ring_th, seg):
        return (seg / segments, 1.0 - ring_th / math.pi)

    tris, uvs = [], []
    for s in range(segments):  # south cap: triangles (pole, ring0 s+1, ring0 s) seen from below
        tris.append((south, vid(0, s + 1), vid(0, s)))
        uvs.append([((s + 0.5) / segments, 0.0), uv(ring_theta[0], s + 1), uv(ring_theta[0], s)])
    for r in range(rings - 2):
        for s in range(segments):
            a, b = vid(r, s), vid(r, s + 1)
            c, d = vid(r + 1, s + 1), vid(r + 1, s)
            ua, ub = uv(ring_theta[r], s), uv(ring_theta[r], s + 1)
            uc, ud = uv(ring_theta[r + 1], s + 1), uv(ring_theta[r + 1], s)
            tris += [(a, b, c), (a, c, d)]
            uvs += [[ua, ub, uc], [ua, uc, ud]]
    top = rings - 2
    for s in range(segments):  # north cap
        tris.append((vid(top, s), vid(top, s + 1), north))
        uvs.append([uv(ring_theta[top], s), uv(ring_theta[top], s + 1), ((s + 0.5) / segments, 1.0)])
    return verts, np.array(tris, dtype=np.int64), np.array(uvs, dtype=np.float64)


def _surface(theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Deformed sphere: a vase profile with three lobes, a lean and a dent. (P,) angles -> (P, 3)."""
    s, c = np.sin(theta), np.cos(theta)
    radius = 0.40 * (1.0 + 0.14 * np.cos(3.0 * phi) * s ** 2          # three lobes around the waist
                     + 0.08 * np.cos(phi - 0.7) * s                   # one-sided bulge (no symmetry)
                     - 0.35 * np.exp(-((theta - 0.75) / 0.22) ** 2)   # the vase's neck
                     + 0.18 * np.exp(-((theta - 2.0) / 0.45) ** 2))   # the belly
    x = radius * s * np.cos(phi)
    y = radius * s * np.sin(phi)
    z = 0.5 * HEIGHT * c
    x = x + 0.08 * (z / (0.5 * HEIGHT) + 1.0) ** 2 * 0.5              # lean the top towards +x
    return np.stack([x, y, z + 0.5 * HEIGHT], axis=-1)


def example_texture(width: int = TEXTURE_SIZE[0], height: int = TEXTURE_SIZE[1], seed: int = 7) -> np.ndarray:
    """The painted texture: (H, W, 3) float32 sRGB values in [0, 1], row 0 on top (v = 1)."""
    rng = np.random.default_rng(seed)
    v = 1.0 - (np.arange(height) + 0.5) / height      # row 0 on top -> v near 1
    u = (np.arange(width) + 0.5) / width
    uu, vv = np.meshgrid(u, v)
    # latitude bands of changing hue
    hue = (vv * 2.3 + 0.08 * np.sin(uu * 2 * math.pi * 3)) % 1.0
    img = _hsv_to_rgb(hue, 0.55 + 0.25 * np.cos(vv * 17.0) ** 2, 0.65 + 0.3 * np.sin(vv * 9.0) ** 2)
    # a fine checker on the middle band
    checker = ((np.floor(uu * 32) + np.floor(vv * 16)) % 2).astype(np.float32)
    band = (vv > 0.42) & (vv < 0.58)
    img[band] = img[band] * (0.55 + 0.45 * checker[band, None])
    # soft round patches of random colours (wrap around in u)
    for _ in range(22):
        cu, cv, rad = rng.uniform(0, 1), rng.uniform(0.1, 0.9), rng.uniform(0.03, 0.09)
        col = rng.uniform(0.05, 1.0, size=3)
        du = np.minimum(np.abs(uu - cu), 1.0 - np.abs(uu - cu)) * 2.0  # u spans twice v's arc length
        d = np.sqrt(du ** 2 + (vv - cv) ** 2) / rad
        w = np.clip(1.5 - d, 0.0, 1.0)[..., None]
        img = img * (1 - w) + col * w
    # a few thin dark stripes running pole to pole, unevenly spaced
    for cu in (0.11, 0.37, 0.52, 0.83):
        du = np.minimum(np.abs(uu - cu), 1.0 - np.abs(uu - cu))
        img *= (1.0 - 0.7 * np.clip(1.0 - du / 0.006, 0.0, 1.0))[..., None]
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def _hsv_to_rgb(h, s, v):
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    i = i.astype(np.int64) % 6
    choices = [np.stack(c, -1) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))]
    out = np.zeros(h.shape + (3,), dtype=np.float64)
    for k in range(6):
        out[i == k] = choices[k][i == k]
    return out.astype(np.float32)


def build_example_object(name: str = "TexForgeExample", collection: bpy.types.Collection | None = None
                         ) -> bpy.types.Object:
    """Create the example as a new mesh object (with a new material and packed image) in the scene."""
    verts, tris, corner_uvs = example_arrays()
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(len(verts))
    mesh.vertices.foreach_set("co", verts.astype(np.float32).ravel())
    mesh.loops.add(tris.size)
    mesh.loops.foreach_set("vertex_index", tris.astype(np.int32).ravel())
    mesh.polygons.add(len(tris))
    mesh.polygons.foreach_set("loop_start", (np.arange(len(tris)) * 3).astype(np.int32))
    mesh.polygons.foreach_set("use_smooth", np.ones(len(tris), dtype=bool))
    uv_layer = mesh.uv_layers.new(name="UVMap")
    uv_layer.data.foreach_set("uv", corner_uvs.astype(np.float32).ravel())
    mesh.update()
    if mesh.validate(verbose=False):
        raise RuntimeError("the example mesh failed Blender's validation")  # a bug in example_arrays
    mesh.materials.append(_example_material(name))
    obj = bpy.data.objects.new(name, mesh)
    (collection or bpy.context.scene.collection).objects.link(obj)
    return obj


def _example_material(name: str) -> bpy.types.Material:
    tex = example_texture()
    h, w = tex.shape[:2]
    image = bpy.data.images.new(f"{name}Texture", width=w, height=h, alpha=False)
    rgba = np.concatenate([tex, np.ones((h, w, 1), np.float32)], axis=-1)
    image.pixels.foreach_set(rgba[::-1].ravel())  # Blender stores the bottom row first
    image.update()
    image.pack()  # lives inside the .blend and any GLB exported from it
    mat = bpy.data.materials.new(f"{name}Material")
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = next(n for n in nodes if n.type == "BSDF_PRINCIPLED")
    node = nodes.new("ShaderNodeTexImage")
    node.image = image
    node.interpolation = "Linear"
    node.location = (bsdf.location.x - 320, bsdf.location.y)
    links.new(node.outputs["Color"], bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = 0.6
    return mat
