"""Texture realism: KID and FID between renders of a result and the real held-out views.

The renders of one mesh with different textures (the projected texture, a GAN's best texture, its
samples) are compared with the same real views, so the figures rank textures, not geometry. Both
sides are shown on the dataset's background: each photo through its own mask and each render through
its alpha, so a background the masks cut away (or a backdrop the renders do not have) is not charged
to the texture. Features: the pooled EfficientNet-Lite0 embedding (texforge.metrics.features); the
figures are not comparable with Inception-based FID / KID, and every result names its extractor.
With the usual 8 held-out views these are small-sample figures: compare textures on the same views,
never with published numbers.
"""

from __future__ import annotations

import numpy as np

FEATURE_EXTRACTOR = "EfficientNet-Lite0 (ImageNet), 1280-d pooled, 224 px"


def check_textures(textures: dict | None) -> dict:
    """{name: path} of extra textures to score -> {name: Path}; InputError naming a bad name or file
    (before anything is rendered). "result" is the result's own texture."""
    from pathlib import Path

    from PIL import Image

    from ..runtime.errors import InputError

    out = {}
    for name, path in (textures or {}).items():
        if not name or name == "result" or "=" in name:
            raise InputError(f"--texture {name}={path}: the name must be non-empty, without '=', and not 'result' "
                             f"(the result's own texture)")
        path = Path(path)
        if not path.is_file():
            raise InputError(f"--texture {name}: image file {path} not found")
        try:
            with Image.open(path) as im:
                im.verify()
        except Exception as exc:  # noqa: BLE001 - PIL raises many types for unreadable files
            raise InputError(f"--texture {name}: {path} is not a readable image ({exc})") from None
        out[name] = path.absolute()
    return out


def parse_texture_args(items) -> dict:
    """``["NAME=PATH", ...]`` (evaluate.py's repeated --texture) -> {name: path}; InputError on a bad item
    or a repeated name."""
    from ..runtime.errors import InputError

    out = {}
    for item in items or []:
        name, sep, path = str(item).partition("=")
        if not sep or not name or not path:
            raise InputError(f"--texture {item!r}: expected NAME=PATH, e.g. --texture best=gan/best.png")
        if name in out:
            raise InputError(f"--texture {name} is given twice")
        out[name] = path
    return out


def masked_photos(photos: np.ndarray, masks: np.ndarray, background) -> np.ndarray:
    """(N, H, W, 3) photos and (N, H, W) masks in [0, 1] -> the photos' objects over ``background``."""
    from .images import composite

    return composite(np.concatenate([np.asarray(photos, np.float32)[..., :3],
                                     np.asarray(masks, np.float32)[..., None]], -1), background)


def score_textures(photos: np.ndarray, masks: np.ndarray, renders: dict[str, np.ndarray], background,
                   device="cpu") -> dict:
    """{texture name: {"kid", "kid_std", "fid", "psnr", "iou", "views", "features"}} for renders
    {name: (N, H, W, 4) straight-alpha RGBA} of the same N cameras as ``photos`` / ``masks``.
    PSNR (dB, whole image) and the hard mask IoU are against the masked photos too."""
    from ..metrics import features as fm
    from . import scores
    from .images import composite

    real = masked_photos(photos, masks, background)
    emb_real = fm.embed_images(real, device=device)
    out = {}
    for name, rgba in renders.items():
        fake = composite(rgba, background)
        emb_fake = fm.embed_images(fake, device=device)
        kid, kid_std = fm.kid(emb_real, emb_fake, seed=0, return_std=True)
        per_view = scores.mask_and_psnr(real, masks, fake, np.asarray(rgba)[..., 3])
        out[name] = {"kid": float(kid), "kid_std": float(kid_std), "fid": fm.fid_from_features(emb_real, emb_fake),
                     "psnr": float(np.mean([v["psnr"] for v in per_view])),
                     "iou": float(np.mean([v["iou"] for v in per_view])), "views": int(len(real)),
                     "features": FEATURE_EXTRACTOR}
    return out
