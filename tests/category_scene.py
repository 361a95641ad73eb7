"""A tiny category collection written by the tests themselves (no Blender needed): a few objects from
tests/data meshes and ellipsoids with striped colours, each rendered in a few random views of a
CameraDistribution with texforge's own renderer, in the collection layout of texforge.data.collection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from texforge.data.collection import CameraDistribution, Collection, write_collection_header
from texforge.data.images import write_png
from texforge.data.transforms_io import write_transforms
from texforge.mesh.io import load_mesh
from texforge.render import render_mesh
from texforge.render.camera import cameras_from_arrays

DATA = Path(__file__).resolve().parent / "data"


def _normalised(vertices: np.ndarray) -> np.ndarray:
    v = vertices - 0.5 * (vertices.min(0) + vertices.max(0))
    return v / np.linalg.norm(v, axis=1).max()


def _ellipsoid(radii, stripes: int, colours):
    import trimesh

    m = trimesh.creation.icosphere(subdivisions=3)
    v = np.asarray(m.vertices) * np.asarray(radii)
    band = np.floor((v[:, 2] / max(radii[2], 1e-6) + 1.0) * 0.5 * stripes).astype(int) % 2
    colours = np.asarray(colours, dtype=np.float32)
    return v, np.asarray(m.faces), colours[band]


def objects(names):
    """name -> (vertices, faces, draw kwargs) for render_mesh, normalised to the unit bounding sphere."""
    out = {}
    for name in names:
        if name in ("spot", "bob"):
            mesh = load_mesh(DATA / name / ("spot.obj" if name == "spot" else "bob_tri.obj"))
            v = _normalised(mesh.vertices)
            kw = dict(uvs=torch.as_tensor(mesh.uvs), face_uvs=torch.as_tensor(mesh.face_uvs),
                      texture=torch.as_tensor(mesh.texture).permute(2, 0, 1)[None].float())
            out[name] = (v, mesh.faces, kw)
        else:
            shapes = {"tall": ((0.45, 0.45, 1.0), 4, [(0.9, 0.2, 0.1), (0.95, 0.9, 0.8)]),
                      "flat": ((1.0, 1.0, 0.45), 3, [(0.1, 0.3, 0.9), (0.9, 0.9, 0.2)]),
                      "mid": ((0.7, 0.7, 0.8), 5, [(0.2, 0.7, 0.3), (0.9, 0.5, 0.7)])}
            v, f, col = _ellipsoid(*shapes[name])
            out[name] = (_normalised(v), f, dict(vertex_colors=torch.as_tensor(col)))
    return out


def make_collection(root, train=("spot", "tall", "flat", "bob"), heldout=("mid",), views: int = 4,
                    size: int = 32, seed: int = 0) -> Collection:
    import trimesh

    root = Path(root)
    dist = CameraDistribution(elevation_deg=(0.0, 35.0), distance=(2.7, 3.2))
    rng = np.random.default_rng(seed)
    for name, (v, f, kw) in objects(list(train) + list(heldout)).items():
        folder = root / "objects" / name
        (folder / "images").mkdir(parents=True, exist_ok=True)
        K, R, t, _ = dist.sample(views, rng, size, size)
        cams = cameras_from_arrays(K, R, t, size, size)
        with torch.no_grad():
            out = render_mesh(torch.as_tensor(v, dtype=torch.float32), torch.as_tensor(f), cams, soft_mask=False, **kw)
        alpha = out.hard_mask.float().unsqueeze(-1)
        rgba = torch.cat([out.rgb.clamp(0, 1) * alpha, alpha], -1).numpy()
        paths = [f"images/{i:03d}.png" for i in range(views)]
        for p, img in zip(paths, rgba):
            write_png(folder / p, img)
        write_transforms(folder, K, R, t, size, size, paths)
        trimesh.Trimesh(v, f, process=False).export(folder / "gt_mesh.ply")
    c = Collection(root=root, train=list(train), heldout=list(heldout), views=views, size=(size, size),
                   cameras=dist, source="tests:category_scene", seed=seed)
    write_collection_header(c)
    return c
