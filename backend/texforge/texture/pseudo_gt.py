"""Per-view pseudo-ground-truth textures: built from a fitted mesh and its views
(:func:`build_pseudo_gt`), and kept on disk as ``pseudo_gt.safetensors`` in a result folder.

A texture GAN trains on these instead of the photos, so training can be repeated (and shipped) with only
the result folder. Tensors: "textures" float16 (V, H, W, 3) in [0, 1], each kept view projected into the
result's UV map (texel (0, 0) = UV (0, 1), top-left, as in texture.png); "visibility" float16 (V, H, W)
in [0, 1], 0 where that view did not see the surface. Metadata: format "texforge-pseudo-gt", version "1",
"names" (JSON list of the V view names), "texture_size" "W,H". float16 halves the file and is exact to
1/2048 in [0, 1], far below 8-bit photo quantisation.

A file that is missing, corrupt or not in this format raises InputError naming it; nothing is written
then. Writes are atomic (a crash never leaves a truncated file under the final name).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..atomic import write_bytes
from ..runtime.errors import InputError
from .projection import project_colors
from .raster import uv_rasterize

FORMAT, VERSION, FILE_NAME = "texforge-pseudo-gt", "1", "pseudo_gt.safetensors"


def _as_half(x) -> torch.Tensor:
    """float16 on the CPU, clipped to [0, 1], without a float32 copy of a float16 input."""
    t = x.detach().cpu() if torch.is_tensor(x) else torch.as_tensor(np.asarray(x))
    return t.clamp(0, 1).half().contiguous()


def _parse_size(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in str(text).split(","))
    return w, h


def save_pseudo_gt(path, textures, visibility, names, texture_size=None) -> Path:
    """Write the per-view textures (V, H, W, 3) and visibility (V, H, W), both in [0, 1], with one name
    per view. ``texture_size`` (W, H) defaults to the arrays' size and must match it. Returns the path.
    ``path`` may be a result folder (the file gets its standard name) or a file path."""
    path = Path(path)
    if path.is_dir():
        path = path / FILE_NAME
    tex, vis, names = _as_half(textures), _as_half(visibility), [str(n) for n in names]
    if tex.ndim != 4 or tex.shape[-1] != 3:
        raise ValueError(f"pseudo-GT textures must be (V, H, W, 3), got {tuple(tex.shape)}")
    if vis.shape != tex.shape[:3]:
        raise ValueError(f"pseudo-GT visibility must be (V, H, W) = {tuple(tex.shape[:3])}, got {tuple(vis.shape)}")
    if len(names) != tex.shape[0] or len(set(names)) != len(names):
        raise ValueError(f"pseudo-GT needs {tex.shape[0]} distinct view names, got {names}")
    w, h = (tex.shape[2], tex.shape[1]) if texture_size is None else (int(texture_size[0]), int(texture_size[1]))
    if (w, h) != (tex.shape[2], tex.shape[1]):
        raise ValueError(f"texture_size {w}x{h} does not match the textures' {tex.shape[2]}x{tex.shape[1]}")
    from safetensors.torch import save

    tensors = {"textures": tex, "visibility": vis}
    meta = {"format": FORMAT, "version": VERSION, "names": json.dumps(names), "texture_size": f"{w},{h}"}
    return write_bytes(path, save(tensors, metadata=meta))


def load_pseudo_gt(path) -> tuple[np.ndarray, np.ndarray, list[str], dict]:
    """Read a file written by :func:`save_pseudo_gt` (or the one in a result folder). Returns textures
    (V, H, W, 3) float32, visibility (V, H, W) float32, the view names and the metadata dict (with
    "texture_size" parsed to (W, H))."""
    from safetensors import safe_open

    path = Path(path)
    if path.is_dir():
        path = path / FILE_NAME
    if not path.is_file():
        raise InputError(f"pseudo-ground-truth file {path} not found: reconstruct with save_pseudo_gt on "
                         f"(the default) to write it into the result folder")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
            keys = set(f.keys())
            tensors = {k: f.get_tensor(k) for k in ("textures", "visibility") if k in keys}
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types for corrupt files
        raise InputError(f"pseudo-ground-truth file {path} is corrupt or not a safetensors file "
                         f"({type(exc).__name__}: {exc})") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise InputError(f"{path} is not a texforge pseudo-ground-truth file: format {meta.get('format')!r} "
                         f"version {meta.get('version')!r}, expected {FORMAT!r} version {VERSION}")
    if set(tensors) != {"textures", "visibility"}:
        raise InputError(f"pseudo-ground-truth file {path} lacks {sorted({'textures', 'visibility'} - set(tensors))}")
    tex, vis = tensors["textures"].float().numpy(), tensors["visibility"].float().numpy()
    try:
        names = json.loads(meta["names"])
        size = _parse_size(meta["texture_size"])
    except (KeyError, ValueError, TypeError) as exc:
        raise InputError(f"pseudo-ground-truth file {path} has broken metadata ({type(exc).__name__}: {exc})") from None
    if (tex.ndim != 4 or tex.shape[-1] != 3 or vis.shape != tex.shape[:3] or len(names) != tex.shape[0]
            or size != (tex.shape[2], tex.shape[1])):
        raise InputError(f"pseudo-ground-truth file {path} is inconsistent: textures {tuple(tex.shape)}, "
                         f"visibility {tuple(vis.shape)}, {len(names)} names, texture_size {meta['texture_size']}")
    meta["texture_size"] = size
    meta["names"] = names
    return tex, vis, list(names), meta


@torch.no_grad()
def build_pseudo_gt(vertices: torch.Tensor, faces: torch.Tensor, uvs: torch.Tensor, face_uvs: torch.Tensor,
                    normals: torch.Tensor, cameras, images: torch.Tensor, depths: torch.Tensor,
                    silhouettes: torch.Tensor, size: tuple[int, int], radius: float, *, min_cos: float = 0.25,
                    erode_px: int = 2, border_px: float = 2.0, masks: torch.Tensor | None = None,
                    mask_source: str = "mesh", dtype=torch.float32):
    """One texture per view (V, H, W, 3) and its visibility (V, H, W), both ``dtype`` (float16 halves
    the memory of many large textures) in [0, 1], on the CPU.

    Each view is projected alone (:func:`project_colors`, occlusion-tested against the fitted mesh's
    rendered ``depths``). Visibility is limited by the MESH-PROJECTED hard ``silhouettes`` (eroded by
    ``erode_px`` and ramped up over ``border_px`` more), never by the photo's mask alone: a photo mask
    that is a little too large (matting halo, dilation) would let background colour into the texels at
    the mesh's rim (seed 000, 3.2). Texels seen at grazing angles (n.v < ``min_cos``) are dropped too: there one
    pixel spans a long stretch of surface, so registration errors smear background and neighbouring
    detail.

    ``mask_source``: "mesh" (the above); "mesh+photo" also requires the photo's ``masks`` (both eroded):
    where the fitted mesh is a little larger than the object its silhouette alone admits background,
    and the photo mask removes it (measured on a tiny-preset fit: see docs/BENCHMARKS.md); "photo" is
    the leaky photo-mask variant, for comparison: the photo ``masks`` with no erosion and no grazing cut.
    Unseen texels keep colour 0 and visibility 0 (the GAN masks them; nothing is inpainted)."""
    if mask_source not in ("mesh", "mesh+photo", "photo"):
        raise ValueError(f"mask_source must be 'mesh', 'mesh+photo' or 'photo', got {mask_source!r}")
    if mask_source != "mesh" and masks is None:
        raise ValueError(f"mask_source {mask_source!r} needs the photo masks")
    h, w = size
    pts, nrm, covered = uv_rasterize(vertices, faces, uvs, face_uvs, normals, size)
    flat_p, flat_n = pts[covered], nrm[covered]
    n = len(cameras)
    textures = torch.zeros(n, h, w, 3, dtype=dtype)
    visibility = torch.zeros(n, h, w, dtype=dtype)
    photo = mask_source == "photo"
    centers = cameras.centers
    covered_cpu = covered.cpu()
    for i in range(n):
        sl = slice(i, i + 1)
        if photo:
            col, wsum = project_colors(flat_p, flat_n, cameras[sl], images[sl], masks[sl], depths[sl],
                                       torch.ones_like(silhouettes[sl]), radius, cos_power=0.0,
                                       border_px=1e-6, erode_px=0)
        else:
            allowed = silhouettes[sl] if mask_source == "mesh" else masks[sl]
            col, wsum = project_colors(flat_p, flat_n, cameras[sl], images[sl], allowed, depths[sl],
                                       silhouettes[sl], radius, cos_power=0.0, border_px=border_px,
                                       erode_px=erode_px)
            cos = (flat_n * F.normalize(centers[i] - flat_p, dim=-1)).sum(-1)
            wsum = torch.where(cos >= min_cos, wsum, torch.zeros_like(wsum))
        col = torch.where(wsum.unsqueeze(-1) > 0, col, torch.zeros_like(col)).clamp(0, 1)
        textures[i][covered_cpu] = col.to("cpu", dtype)
        visibility[i][covered_cpu] = wsum.clamp(0, 1).to("cpu", dtype)
    return textures, visibility
