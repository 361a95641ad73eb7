"""Metric summaries of one evaluation, on top of texforge.metrics (the metric primitives live there).

* view metrics: per held-out view hard mask IoU (hard masks at 0.5), PSNR, SSIM of the photo and the render
  composited over the same background, and a perceptual distance (LPIPS-style on EffNet-Lite0 features);
* set metrics: KID and an FID-style distance between the set of photos and the set of renders, on
  pooled EffNet-Lite0 embeddings at 224 px -- "EffNet-Lite0 features", never Inception FID;
* geometry metrics against the ground-truth mesh: Chamfer-L1 / L2 (scene units), F-score at 0.5 / 1 / 2 %
  of the ground truth's bounding-box diagonal, normal consistency.
"""

from __future__ import annotations

import numpy as np

GEOMETRY_KEYS = ("chamfer_l1", "chamfer_l1_rel", "chamfer_l2", "fscore_0.5", "fscore_1", "fscore_2", "normal_consistency")
FSCORE_THRESHOLDS = (0.005, 0.01, 0.02)
GEOMETRY_SAMPLES = 20000


def view_metrics(photos: np.ndarray, photo_masks: np.ndarray, renders: np.ndarray, render_masks: np.ndarray,
                 device="cpu"):
    """photos / renders (N, H, W, 3) in [0, 1] over one background, masks (N, H, W) in [0, 1].

    Returns (per_view [{"iou", "psnr", "ssim", "perceptual"}], means of the same keys)."""
    from ..metrics import features as fm
    from ..metrics import image as im
    per_view = mask_and_psnr(photos, photo_masks, renders, render_masks)
    for i, v in enumerate(per_view):
        v["ssim"] = im.ssim(renders[i], photos[i])
        v["perceptual"] = fm.perceptual_distance(renders[i], photos[i], device=device)
    keys = ("iou", "psnr", "ssim", "perceptual")
    means = {k: float(np.mean([v[k] for v in per_view])) if per_view else None for k in keys}
    return per_view, means


def mask_and_psnr(photos: np.ndarray, photo_masks: np.ndarray, renders: np.ndarray, render_masks: np.ndarray):
    """Per view: hard mask IoU and whole-image PSNR (texforge.metrics.image), as [{"iou", "psnr"}]."""
    from ..metrics import image as im
    return [{"iou": im.mask_iou_hard(render_masks[i], photo_masks[i]), "psnr": im.psnr(renders[i], photos[i])}
            for i in range(len(photos))]


def set_metrics(real: list[np.ndarray], fake: list[np.ndarray], device="cpu") -> dict:
    """KID and FID-style distance between the photos and the renders; each is a list of image stacks
    (M_i, H_i, W_i, 3) (sizes may differ between stacks: every image is resized to 224 px anyway)."""
    from ..metrics import features as fm
    emb_real = np.concatenate([fm.embed_images(x, device=device) for x in real if len(x)])
    emb_fake = np.concatenate([fm.embed_images(x, device=device) for x in fake if len(x)])
    return {"kid": fm.kid(emb_real, emb_fake, seed=0), "fid": fm.fid_from_features(emb_real, emb_fake)}


def geometry_metrics(pred, gt, seed: int = 0, samples: int = GEOMETRY_SAMPLES) -> tuple[dict, dict]:
    """(the report's geometry metrics, texforge.metrics.geometry.chamfer_fscore's full dict)."""
    from ..metrics import geometry as gm
    res = gm.chamfer_fscore(pred, gt, n=samples, thresholds=FSCORE_THRESHOLDS, seed=seed)
    out = {"chamfer_l1": res["chamfer_l1"], "chamfer_l1_rel": res["chamfer_l1_rel"], "chamfer_l2": res["chamfer_l2"],
           "normal_consistency": res["normal_consistency"]}
    for thr, key in zip(FSCORE_THRESHOLDS, ("fscore_0.5", "fscore_1", "fscore_2")):
        out[key] = res[f"fscore@{100 * thr:g}%"]
    return {k: float(v) for k, v in out.items()}, res
