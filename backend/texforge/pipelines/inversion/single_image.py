"""One photo + a category model -> a textured mesh and its camera: the encoder alone (seed 004: one pass,
a preview in seconds) or GAN inversion (seed 002) started from the encoder's prediction.

The photo is first framed like the collection the model learnt from: without a camera, a square crop
centred on the object's silhouette, the object spanning ``FILL`` of its side (what the collection's random
cameras give on average); with a camera, the whole photo padded to a square. Either is resized to the
model's working size, and a camera that comes with the photo is carried through (its principal point and
focal length follow), so the result's camera belongs to the framed photo written into the result folder.
"""

from __future__ import annotations

import numpy as np
import torch

from ...data.images import resize_image
from ...models.category_model import read_model
from ...models.category_prior import CategoryEncoder, latent_for_maps, load_category_prior
from ...runtime.errors import InputError
from ...runtime.progress import ProgressFn, ShouldStopFn, never_stop, no_progress
from .config import InversionConfig
from .pipeline import InversionResult, SinglePhoto, _check_photo, run_inversion

FILL = 0.55      # the silhouette's longest side over the crop's side
MODES = ("inversion", "encoder")


def frame_photo(photo: SinglePhoto, size: int, fill: float = FILL) -> SinglePhoto:
    """A square crop of ``photo``, resized to ``size`` (see the module docstring). Without a camera the crop
    is centred on the silhouette, which spans ``fill`` of it; with a camera it is the photo padded to a
    square about its centre, so that the object keeps the size at which the camera sees it (the
    encoder reads distance from apparent size: measured, rescaling the view costs its shape). Parts of the
    crop beyond the photo are black and outside the mask."""
    _check_photo(photo)
    mask = np.asarray(photo.mask, np.float32)
    h, w = mask.shape
    if photo.camera is not None:
        cx, cy, side = w / 2, h / 2, float(max(w, h))
    else:
        ys, xs = np.nonzero(mask > 0.5)
        cx, cy = 0.5 * (xs.min() + xs.max() + 1), 0.5 * (ys.min() + ys.max() + 1)
        side = max(xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()) / fill
    x0, y0 = cx - side / 2, cy - side / 2
    # pad so that the crop window lies inside the padded image, then crop whole pixels
    pad = int(np.ceil(max(0.0, -x0, -y0, x0 + side - w, y0 + side - h))) + 1
    img = np.pad(np.asarray(photo.image, np.float32), ((pad, pad), (pad, pad), (0, 0)))
    msk = np.pad(mask, ((pad, pad), (pad, pad)))
    ix0, iy0, n = int(round(x0)) + pad, int(round(y0)) + pad, max(1, int(round(side)))
    img, msk = img[iy0:iy0 + n, ix0:ix0 + n], msk[iy0:iy0 + n, ix0:ix0 + n]
    scale = size / n
    camera = None
    if photo.camera is not None:
        K, R, t = (np.asarray(a, np.float64) for a in photo.camera)
        K = K.copy()
        K[0, 2] -= ix0 - pad
        K[1, 2] -= iy0 - pad
        K[:2] *= scale
        camera = (K, R, t)
    return SinglePhoto(resize_image(img, size, size), resize_image(msk, size, size), photo.name, camera)


def reconstruct_photo(photo: SinglePhoto, model_dir, mode: str = "inversion", config: InversionConfig | None = None,
                      progress: ProgressFn | None = None, should_stop: ShouldStopFn | None = None,
                      device="cpu") -> tuple[InversionResult, SinglePhoto]:
    """Reconstruct ``photo`` with the category model in ``model_dir`` -> (result, the framed photo the
    result's camera belongs to). ``mode``: "encoder" (needs the model's reconstructor) or "inversion"
    (needs its GAN; uses the encoder's prediction as the start when the model has one). InputError for an
    unusable photo or model (nothing is written here)."""
    from .config import preset

    if mode not in MODES:
        raise InputError(f"mode must be one of {MODES}, not {mode!r}")
    progress = progress or no_progress
    should_stop = should_stop or never_stop
    config = config or preset("small")
    model = read_model(model_dir)
    has_encoder = "reconstructor" in model.stages
    if mode == "encoder" and not has_encoder:
        raise InputError(f"{model.root}: the model has no reconstruction network, so it cannot predict from one image "
                         "in encoder mode; use --mode inversion")
    encoder = CategoryEncoder(model_dir, device) if has_encoder else None
    size = encoder.image_size if mode == "encoder" else config.size
    framed = frame_photo(photo, size)
    prediction = encoder.predict(framed.image, framed.mask) if encoder is not None else None
    if mode == "encoder":
        K = prediction.K if framed.camera is None else framed.camera[0]
        R, t = (prediction.R, prediction.t) if framed.camera is None else framed.camera[1:]
        result = InversionResult(mesh=prediction.mesh, K=np.asarray(K), R=np.asarray(R), t=np.asarray(t),
                                 size=(size, size), latent=np.zeros(0, np.float32))
        _score(result, framed)
        progress(1.0, "encoder prediction done")
        return result, framed
    prior = load_category_prior(model_dir, device)
    initial = None
    if prediction is not None:
        progress(0.0, "starting from the encoder's prediction")
        initial = latent_for_maps(prior, prediction.deformation.to(device), prediction.texture.to(device),
                                  seed=config.seed).cpu().numpy()
        if framed.camera is None:   # the encoder's camera, for the crop at this size
            s = size / prediction.size
            K = prediction.K.copy()
            K[:2] *= s
            framed = SinglePhoto(framed.image, framed.mask, framed.name, (K, prediction.R, prediction.t))
    result = run_inversion(framed, prior, config, progress, should_stop, device, initial_latent=initial)
    return result, framed


@torch.no_grad()
def _score(result: InversionResult, framed: SinglePhoto) -> None:
    """Input-view IoU and PSNR of a result that did not come from run_inversion (the encoder's)."""
    from ...metrics.image import hard_iou, psnr
    from ...render.camera import Cameras
    from ...render.renderer import render_mesh

    to = dict(dtype=torch.float32)
    w, h = result.size
    cams = Cameras(*(torch.as_tensor(a, **to)[None] for a in (result.K, result.R, result.t)), w, h)
    m = result.mesh
    out = render_mesh(torch.as_tensor(m.vertices), torch.as_tensor(m.faces), cams, uvs=torch.as_tensor(m.uvs),
                      face_uvs=torch.as_tensor(m.face_uvs),
                      texture=torch.as_tensor(m.texture).permute(2, 0, 1)[None], background=0.0)
    mask = torch.as_tensor(framed.mask, **to)[None]
    result.metrics = {"input_iou": float(hard_iou(out.hard_mask.float(), mask)),
                      "input_psnr": float(psnr(out.rgb[0].numpy(), framed.image, mask=framed.mask > 0.5))}
