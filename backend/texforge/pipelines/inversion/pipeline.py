"""GAN inversion for one photo (seed 002, MeshInversion, sections 3.2-3.4).

A category model's generator maps a latent z to a deformation map (the ConvMesh template's shape) and
a UV texture. Inversion searches z, and fine-tunes the camera, so that the textured mesh rendered in
the photo's camera matches the photo: best of N random latents first, then staged Adam with falling
learning rates on

    w_mask L_mask + w_texture L_texture + w_feature L_feature + w_smooth L_smooth + w_prior |z|^2 / 2

where L_mask is the Chamfer mask loss between projected vertices and foreground pixels (or the soft IoU),
L_texture the Chamfer texture loss on (xy, rgb) points (or a masked L1), and L_feature the Chamfer
texture loss on EfficientNet-Lite0 feature maps. The generative prior fills in the unseen side.
Nothing here writes files: the caller saves the :class:`InversionResult`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from ...cameras.rig import CameraRig
from ...data.collection import CameraDistribution
from ...data.images import resize_image
from ...data.masks import mask_problem
from ...losses.chamfer_texture import chamfer_texture_loss
from ...losses.silhouette import MaskChamfer, silhouette_iou_loss
from ...mesh.model import DeformationMapModel
from ...mesh.regularizers import normal_consistency_loss
from ...mesh.types import TexturedMesh
from ...metrics.image import hard_iou, psnr
from ...nets.effnet import EffNetLite0Features
from ...render.camera import Cameras
from ...render.renderer import render_mesh
from ...runtime.errors import Cancelled, InputError
from ...runtime.progress import ProgressFn, ShouldStopFn, never_stop, no_progress
from .config import InversionConfig

FEATURE_STAGE = "block2"   # stride 4: fine enough for 64 px photos, coarse enough to carry texture statistics


class LatentPrior(Protocol):
    """What inversion needs of a category model: a generator from latents to maps on one template,
    and the camera distribution the category was rendered with (searched when no camera is given)."""

    latent_dim: int
    template: DeformationMapModel
    cameras: CameraDistribution

    def maps(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, latent_dim) -> deformation maps (B, 3, h, w), textures (B, 3, Ht, Wt) in [0, 1]."""


@dataclass
class SinglePhoto:
    """One photo: image (H, W, 3) float in [0, 1], mask (H, W) in [0, 1] (1 = object), a name for
    messages, and optionally its camera (K (3, 3), R (3, 3), t (3,) OpenCV world-to-camera for this
    image size, in the category's canonical frame)."""

    image: np.ndarray
    mask: np.ndarray
    name: str = "photo"
    camera: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


@dataclass
class InversionResult:
    mesh: TexturedMesh
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    size: tuple[int, int]                     # (W, H) the camera is given for (the working size)
    latent: np.ndarray
    metrics: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)


def _check_photo(photo: SinglePhoto) -> None:
    img, mask = np.asarray(photo.image), np.asarray(photo.mask)
    if img.ndim != 3 or img.shape[2] != 3 or mask.shape != img.shape[:2]:
        raise InputError(f"{photo.name}: expected an RGB image (H, W, 3) and a mask (H, W) of the same size, "
                         f"got {img.shape} and {mask.shape}")
    if not (np.isfinite(img).all() and np.isfinite(mask).all()):
        raise InputError(f"{photo.name}: the image or its mask holds NaN or infinite values")
    problem = mask_problem(mask)
    if problem:
        raise InputError(f"{photo.name}: {problem}; single-image reconstruction needs the object's silhouette "
                         "(give a mask file, an alpha channel or a plain background)")


def _working_copy(photo: SinglePhoto, size: int, device):
    """The photo at its working size (longest side ``size``) as tensors, and the scale applied."""
    h, w = photo.mask.shape
    s = size / max(h, w)
    wn, hn = max(1, round(w * s)), max(1, round(h * s))
    img = resize_image(np.asarray(photo.image, np.float32), wn, hn)
    mask = resize_image(np.asarray(photo.mask, np.float32), wn, hn)
    to = dict(dtype=torch.float32, device=device)
    return torch.as_tensor(img, **to).permute(2, 0, 1)[None], torch.as_tensor(mask, **to)[None], (wn, hn), (wn / w, hn / h)


def _given_camera(photo: SinglePhoto, scale, size, device) -> Cameras:
    K, R, t = (np.asarray(a, np.float64) for a in photo.camera)
    if K.shape != (3, 3) or R.shape != (3, 3) or t.shape != (3,) or not np.isfinite(np.concatenate(
            [K.ravel(), R.ravel(), t.ravel()])).all():
        raise InputError(f"{photo.name}: the camera must be finite K (3, 3), R (3, 3), t (3,)")
    K = K.copy()
    K[0] *= scale[0]
    K[1] *= scale[1]
    to = dict(dtype=torch.float32, device=device)
    return Cameras(torch.as_tensor(K, **to)[None], torch.as_tensor(R, **to)[None], torch.as_tensor(t, **to)[None], *size)


def _render(prior: LatentPrior, z: torch.Tensor, cameras: Cameras):
    deformation, texture = prior.maps(z)
    verts = prior.template.vertices_of(deformation)
    t = prior.template
    out = render_mesh(verts, t.faces, cameras, uvs=t.uvs, face_uvs=t.face_uvs, texture=texture, background=0.0)
    return verts, texture, out


def _scores(out, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Lower is better: 1 - hard IoU plus the masked L1, per rendered candidate (N,)."""
    iou = hard_iou(out.hard_mask.float(), mask.expand_as(out.hard_mask))
    rgb = out.rgb.permute(0, 3, 1, 2)
    l1 = ((rgb - image).abs().mean(1) * mask).flatten(1).sum(1) / mask.sum().clamp_min(1.0)
    return (1.0 - torch.as_tensor(iou, dtype=l1.dtype, device=l1.device)) + l1


def _camera_ring(prior: LatentPrior, size, config: InversionConfig, device) -> Cameras:
    """No camera given: a ring of azimuths at the middle elevation and distance of the category's
    distribution, to be searched together with the latents."""
    dist = prior.cameras
    az = [dist.azimuth_deg[0] + (dist.azimuth_deg[1] - dist.azimuth_deg[0]) * k / config.camera_candidates
          for k in range(config.camera_candidates)]
    el, d = sum(dist.elevation_deg) / 2, sum(dist.distance) / 2
    poses = [dist.pose(a, el, d) for a in az]
    to = dict(dtype=torch.float32, device=device)
    K = torch.as_tensor(dist.intrinsics(*size), **to).expand(len(az), 3, 3)
    return Cameras(K.clone(), torch.as_tensor(np.stack([p[0] for p in poses]), **to),
                   torch.as_tensor(np.stack([p[1] for p in poses]), **to), *size)


@torch.no_grad()
def _best_start(prior: LatentPrior, cameras: Cameras, image, mask, config: InversionConfig, generator,
                initial_latent, device) -> tuple[torch.Tensor, Cameras]:
    """Best of N random latents (seed 002's initialisation), jointly with the best of the candidate
    cameras: a latent's silhouette alone cannot tell the azimuth of a near-symmetric object, its
    texture can."""
    z = torch.randn(config.candidates, prior.latent_dim, generator=generator).to(device)
    if initial_latent is not None:
        z[0] = torch.as_tensor(np.asarray(initial_latent), dtype=z.dtype, device=device).reshape(-1)
    pairs = torch.cartesian_prod(torch.arange(len(cameras)), torch.arange(len(z)))
    scores = []
    for chunk in torch.split(pairs, 32):
        c, k = chunk[:, 0].to(device), chunk[:, 1].to(device)
        cams = Cameras(cameras.K[c], cameras.R[c], cameras.t[c], cameras.width, cameras.height)
        scores.append(_scores(_render(prior, z[k], cams)[2], image, mask))
    c, k = pairs[int(torch.argmin(torch.cat(scores)))].tolist()
    return z[k].clone(), cameras[c:c + 1]


def _feature_maps(images: torch.Tensor, device) -> torch.Tensor:
    """Unit-length EfficientNet-Lite0 features (B, C, h, w) of images (B, 3, H, W), upsampled to >= 64 px."""
    net = EffNetLite0Features.get(device, (FEATURE_STAGE,))
    h, w = images.shape[-2:]
    if min(h, w) < 64:
        s = 64 / min(h, w)
        images = F.interpolate(images, size=(round(h * s), round(w * s)), mode="bilinear", align_corners=False)
    f = net.features(images.to(net.mean.dtype))[0]
    return f / (f.norm(dim=1, keepdim=True) + 1e-8)


def run_inversion(photo: SinglePhoto, prior: LatentPrior, config: InversionConfig, progress: ProgressFn | None = None,
                  should_stop: ShouldStopFn | None = None, device="cpu", initial_latent=None) -> InversionResult:
    """Reconstruct ``photo`` by searching ``prior``'s latent space (see the module docstring).

    ``initial_latent``: a latent to include among the candidates (an encoder's prediction). Raises
    InputError for an unusable photo or camera and Cancelled when ``should_stop`` says so."""
    config.validate()
    progress = progress or no_progress
    should_stop = should_stop or never_stop
    _check_photo(photo)
    device = torch.device(device)
    generator = torch.Generator().manual_seed(config.seed)
    image, mask, size, scale = _working_copy(photo, config.size, device)

    progress(0.0, "choosing the camera and the starting latent")
    candidates = (_given_camera(photo, scale, size, device) if photo.camera is not None
                  else _camera_ring(prior, size, config, device))
    z0, cameras = _best_start(prior, candidates, image, mask, config, generator, initial_latent, device)
    z = torch.nn.Parameter(z0[None])
    rig = CameraRig(cameras, torch.zeros(3, dtype=cameras.K.dtype, device=device))
    groups = [{"params": [z], "lr": config.latent_lr[0], "range": config.latent_lr}]
    if config.camera == "finetune":
        groups.append({"params": [rig.rot, rig.pos], "lr": config.camera_lr[0], "range": config.camera_lr})
    optimizer = torch.optim.Adam([{k: v for k, v in g.items() if k != "range"} for g in groups])
    chamfer_mask = MaskChamfer(mask, samples=config.mask_points, seed=config.seed) if config.mask_loss == "chamfer" else None
    target_features = _feature_maps(image, device) if config.feature_loss == "chamfer" else None
    view = torch.zeros(1, dtype=torch.long, device=device)

    history, total = [], config.stages * config.steps
    for stage in range(config.stages):
        frac = stage / max(config.stages - 1, 1)
        for group, spec in zip(optimizer.param_groups, groups):
            lo, hi = spec["range"]
            group["lr"] = lo * math.exp(frac * math.log(hi / lo))   # geometric: lr[0] -> lr[1] over the stages
        for step in range(config.steps):
            if should_stop():
                raise Cancelled("single-image reconstruction cancelled")
            cams = rig(view)
            verts, _, out = _render(prior, z, cams)
            rgb = out.rgb.permute(0, 3, 1, 2)
            terms = {}
            if chamfer_mask is not None:
                terms["mask"] = chamfer_mask(cams.project(verts)[0], view).mean()
            else:
                terms["mask"] = silhouette_iou_loss(out.soft_mask, mask).mean()
            drawn = out.hard_mask.float().detach()
            if config.texture_loss == "chamfer":
                terms["texture"] = chamfer_texture_loss(rgb, drawn, image, mask, samples=config.points,
                                                        generator=generator).mean()
            elif config.texture_loss == "l1":
                both = drawn * mask
                terms["texture"] = ((rgb - image).abs().mean(1) * both).sum() / both.sum().clamp_min(1.0)
            if target_features is not None:
                terms["feature"] = chamfer_texture_loss(_feature_maps(rgb, device), drawn, target_features, mask,
                                                        samples=config.points, generator=generator).mean()
            terms["smooth"] = normal_consistency_loss(verts[0], prior.template.faces, prior.template.topo)
            terms["prior"] = 0.5 * (z ** 2).mean()   # per dimension: the weight does not depend on the latent size
            weights = {"mask": config.w_mask, "texture": config.w_texture, "feature": config.w_feature,
                       "smooth": config.w_smooth, "prior": config.w_prior}
            loss = sum(weights[k] * v for k, v in terms.items())
            if config.camera == "finetune":
                loss = loss + config.w_camera_prior * rig.prior()
            if not torch.isfinite(loss):
                raise InputError(f"{photo.name}: the inversion diverged (loss {float(loss)}); try the camera from "
                                 "another source or another preset")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            done = stage * config.steps + step + 1
            history.append({"step": done, "loss": loss.item(), **{k: v.item() for k, v in terms.items()}})
            progress(done / max(total, 1), f"inversion stage {stage + 1}/{config.stages}, step {step + 1}/{config.steps}")

    return _finish(photo, prior, z.detach(), rig(view).detach(), image, mask, size, history)


@torch.no_grad()
def _finish(photo, prior, z, cams, image, mask, size, history) -> InversionResult:
    verts, texture, out = _render(prior, z, cams)
    rgb = out.rgb[0].cpu().numpy()
    target = image[0].permute(1, 2, 0).cpu().numpy()
    m = mask[0].cpu().numpy()
    metrics = {"input_iou": float(hard_iou(out.hard_mask.float(), mask)),
               "input_psnr": float(psnr(rgb, target, mask=m > 0.5))}
    t = prior.template
    mesh = TexturedMesh(vertices=verts[0].cpu().numpy().astype(np.float32), faces=t.faces.cpu().numpy(),
                        uvs=t.uvs.cpu().numpy().astype(np.float32), face_uvs=t.face_uvs.cpu().numpy(),
                        texture=texture[0].permute(1, 2, 0).clamp(0, 1).cpu().numpy().astype(np.float32))
    return InversionResult(mesh=mesh, K=cams.K[0].cpu().numpy(), R=cams.R[0].cpu().numpy(), t=cams.t[0].cpu().numpy(),
                           size=size, latent=z[0].cpu().numpy(), metrics=metrics, history=history)
