"""How much backdrop colour reaches per-view pseudo-ground-truth textures, per masking rule.

The photos are put on a saturated backdrop (magenta by default, a colour no test object has) and the
result's kept views are projected into its UV map with each visibility rule of
:func:`texforge.texture.pseudo_gt.build_pseudo_gt`, with the photo masks as given and dilated into the
backdrop (a matting halo). The figure is the percentage of visible texels (visibility > 0) within an
RGB distance of the backdrop colour: 0 means no backdrop leaked in. scripts/pseudo_gt_leak.py prints it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MAGENTA = (1.0, 0.0, 1.0)
RULES = ("photo", "mesh", "mesh+photo")


def leak_percent(textures, visibility, colour=MAGENTA, within: float = 0.5) -> tuple[float, int]:
    """(% of texels with visibility > 0 within ``within`` of ``colour``, how many texels are visible)."""
    d = np.linalg.norm(np.asarray(textures, np.float32) - np.asarray(colour, np.float32), axis=-1)
    seen = np.asarray(visibility, np.float32) > 0
    return (100.0 * float((d[seen] < within).mean()) if seen.any() else 0.0), int(seen.sum())


def background_leak(result_dir, dataset_dir, colour=MAGENTA, dilate_px=(0, 2), within: float = 0.5) -> list[dict]:
    """One row {"mask_source", "dilate_px", "leak_pct", "visible_texels"} per rule and dilation, for the
    result's kept views (result.json's corrected cameras, its pruned frames left out) at the result's
    texture size. Raises InputError naming a missing file."""
    import json

    import torch
    import torch.nn.functional as F

    from ..data.transforms_io import load_dataset
    from ..mesh.io import load_mesh
    from ..mesh.regularizers import vertex_normals
    from ..render.camera import Cameras
    from ..render.renderer import render_mesh
    from ..runtime.errors import InputError
    from ..texture.pseudo_gt import build_pseudo_gt
    from .cameras import cameras_from_result_entries

    result_dir = Path(result_dir)
    for name in ("mesh.glb", "result.json", "texture.png"):
        if not (result_dir / name).is_file():
            raise InputError(f"result folder {result_dir} has no {name}")
    res = json.loads((result_dir / "result.json").read_text())
    ds = load_dataset(dataset_dir, background=np.asarray(colour, np.float32))
    pruned = {p["name"] for p in res.get("pruned", [])}
    est = cameras_from_result_entries(res.get("cameras") or [])
    keep = [i for i, n in enumerate(ds.names) if n in est and n not in pruned]
    if not keep:
        raise InputError(f"{result_dir / 'result.json'} has no corrected camera for a frame of {dataset_dir}")
    w0, h0 = res["image_size"]
    sx, sy = ds.cameras.width / float(w0), ds.cameras.height / float(h0)
    scale = np.diag([sx, sy, 1.0])
    K = np.stack([scale @ est[ds.names[i]]["K"] for i in keep])
    cams = Cameras(torch.tensor(K, dtype=torch.float32),
                   torch.tensor(np.stack([est[ds.names[i]]["R"] for i in keep]), dtype=torch.float32),
                   torch.tensor(np.stack([est[ds.names[i]]["t"] for i in keep]), dtype=torch.float32),
                   ds.cameras.width, ds.cameras.height)
    mesh = load_mesh(result_dir / "mesh.glb")
    verts, faces = torch.tensor(mesh.vertices, dtype=torch.float32), torch.tensor(mesh.faces)
    uvs, face_uvs = torch.tensor(mesh.uvs, dtype=torch.float32), torch.tensor(mesh.face_uvs)
    out = render_mesh(verts, faces, cams, soft_mask=False)
    images = torch.as_tensor(np.asarray(ds.images)[keep], dtype=torch.float32)
    masks = torch.as_tensor(np.asarray(ds.masks)[keep], dtype=torch.float32)
    radius = float(np.linalg.norm(mesh.vertices - mesh.vertices.mean(0), axis=1).max())
    size = tuple(mesh.texture.shape[:2])
    rows = []
    for px in dilate_px:
        m = F.max_pool2d(masks.unsqueeze(1), 2 * px + 1, 1, px).squeeze(1) if px > 0 else masks
        for rule in RULES:
            tex, vis = build_pseudo_gt(verts, faces, uvs, face_uvs, vertex_normals(verts, faces), cams, images,
                                       out.depth, out.hard_mask.float(), size, radius, masks=m, mask_source=rule)
            pct, seen = leak_percent(tex.numpy(), vis.numpy(), colour, within)
            rows.append({"mask_source": rule, "dilate_px": int(px), "leak_pct": round(pct, 3), "visible_texels": seen})
    return rows
