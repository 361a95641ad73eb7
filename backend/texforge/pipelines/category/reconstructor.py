"""Training the category reconstruction network on a collection (seed 004's view-pair training).

``run_train_reconstructor(collection, config, progress, should_stop, device, checkpoint=..., resume=...)``.
Each step takes ``batch_size`` random objects, a random input view i and another view j of each; the
network encodes view i; its maps (in view i's frame, see :mod:`texforge.nets.category_recon`) are turned
into the world frame by view i's KNOWN azimuth, and the mesh is rendered in view i and in view j with
their KNOWN cameras and compared with those views (silhouette soft-IoU, L1, optional EffNet-Lite0
perceptual), plus the template's Laplacian and normal-consistency terms.

Cameras: a Blender-rendered collection's cameras are exact, so they are not optimised (seed 004 optimises
its cameras because StyleGAN's viewpoints are only approximately known); the camera head is supervised
with a squared error to view i's known azimuth (sin, cos), elevation and distance, so that a lone photo
gets a camera too.

Training runs on :class:`texforge.training.TrainLoop`; one Adam, one EMA and one named generator make a
checkpoint that resumes bit-for-bit on CPU. The pipeline writes nothing but the checkpoint file it is
given (every ``checkpoint_every`` steps, at the end, and on Cancel, which it then re-raises).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ...data.collection import Collection
from ...losses.silhouette import silhouette_iou_loss
from ...mesh.model import DeformationMapModel
from ...nets.category_recon import CategoryReconstructor
from ...render import render_mesh
from ...render.camera import Cameras
from ...render.soft_mask import band_to_sigmainv
from ...runtime.determinism import deterministic
from ...runtime.errors import Cancelled, InputError
from ...runtime.progress import ProgressFn, ShouldStopFn, never_stop, no_progress
from ...training import EMA, TrainLoop, load_checkpoint, save_checkpoint
from ...training.checkpoint import checkpoint_header
from ...training.run_config import check_resumable
from ...models.category_config import RECONSTRUCTOR_ARCHITECTURE_FIELDS as ARCHITECTURE_FIELDS, CategoryConfig
from ...models.category_model import build_network, build_template, predict_world
from .data import CollectionViews, load_collection_views

LOAD_END = 0.05   # progress fraction spent loading the views


@dataclass
class ReconstructorResult:
    """The trained network (EMA weights applied), the template, the loaded training views, the loss log
    (one dict per ``log_every`` steps over the whole run, resumed parts included) and timings."""

    network: CategoryReconstructor
    template: DeformationMapModel
    views: CollectionViews
    config: CategoryConfig
    iterations: int
    log: list[dict] = field(default_factory=list)
    timings: dict = field(default_factory=dict)


def render_views(template: DeformationMapModel, vertices: torch.Tensor, texture: torch.Tensor, cameras: Cameras,
                 band_px: float, soft_mask: bool = True):
    """Render each of B meshes (B, V, 3) with its texture (B, 3, Ht, Wt) in its camera (B views) on black."""
    sigmainv, boxlen = band_to_sigmainv(band_px, max(cameras.width, cameras.height))
    return render_mesh(vertices, template.faces, cameras, uvs=template.uvs, face_uvs=template.face_uvs,
                       texture=texture, sigmainv=sigmainv, boxlen=boxlen, soft_mask=soft_mask)


def regularizer_terms(template: DeformationMapModel, vertices: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean over the batch of the template's Laplacian and normal-consistency terms."""
    terms = [template.regularizers(v) for v in vertices]
    return {k: torch.stack([t[k] for t in terms]).mean() for k in ("laplacian", "normal")}


def run_train_reconstructor(collection: Collection, config: CategoryConfig | None = None,
                            progress: ProgressFn = no_progress, should_stop: ShouldStopFn = never_stop,
                            device="cpu", *, checkpoint=None, resume: bool = False,
                            views: CollectionViews | None = None) -> ReconstructorResult:
    """Train on the collection's training objects (see the module docstring). ``checkpoint``: a file
    path for the training state; ``resume``: continue from it (CheckpointError when it is missing,
    corrupt or from another configuration). ``views``: already loaded training views (skips loading)."""
    cfg = config or CategoryConfig.preset("small")
    device = torch.device(device)
    if collection.views < 2:
        raise InputError(f"{collection.root}: {collection.views} view per object; the view-pair loss needs at least 2")
    timings: dict[str, float] = {}
    with deterministic():
        if views is None:
            views = load_collection_views(collection, collection.train, cfg.image_size,
                                          lambda f, m: progress(LOAD_END * f, m), should_stop)
        data = views.to(device)
        n_obj, n_view = data.images.shape[:2]
        torch.manual_seed(cfg.seed)
        net = build_network(cfg, collection).to(device)
        template = build_template(cfg, device)
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
        ema = EMA(net, cfg.ema_decay)
        gen = torch.Generator().manual_seed(cfg.seed + 1)
        perceptual = None
        if cfg.w_perceptual > 0:
            from ...losses.perceptual import PerceptualLoss
            perceptual = PerceptualLoss()
        log: list[dict] = []
        start = 0
        ckpt_path = Path(checkpoint) if checkpoint is not None else None
        if resume:
            if ckpt_path is None:
                raise InputError("resume needs a checkpoint path")
            check_resumable(ckpt_path, checkpoint_header(ckpt_path).get("config"), cfg, ARCHITECTURE_FIELDS, "category-model")
            ck = load_checkpoint(ckpt_path, {"network": net}, opt, ema=ema, generators={"train": gen})
            start, log = ck.step, list(ck.extra.get("log", []))
            progress(LOAD_END, f"resumed at iteration {start}")

        def save(step: int) -> None:
            if ckpt_path is not None:
                save_checkpoint(ckpt_path, {"network": net}, opt, step=step, config=cfg.to_dict(), ema=ema,
                                generators={"train": gen}, extra={"log": log})

        state = {"done": start, "info": {}}
        b = min(cfg.batch_size, n_obj)

        def step(it: int):
            obj = torch.randint(n_obj, (b,), generator=gen)
            vi = torch.randint(n_view, (b,), generator=gen)
            vj = (vi + torch.randint(1, n_view, (b,), generator=gen)) % n_view
            obj, vi, vj = obj.to(device), vi.to(device), vj.to(device)
            pred = predict_world(net, template, data.images[obj, vi], data.spherical[obj, vi, 0])
            o2, v2 = torch.cat([obj, obj]), torch.cat([vi, vj])
            out = render_views(template, pred["vertices"].repeat(2, 1, 1), pred["texture"].repeat(2, 1, 1, 1),
                               data.cameras(o2, v2), cfg.band_px)
            target, mask = data.images[o2, v2], data.masks[o2, v2]
            rgb = out.rgb.permute(0, 3, 1, 2)
            terms = {"silhouette": silhouette_iou_loss(out.soft_mask, mask).mean(),
                     "l1": (rgb - target).abs().mean(),
                     **regularizer_terms(template, pred["vertices"])}
            cam_pred = net.camera_prediction(pred["camera"])
            terms["camera"] = (cam_pred - net.camera_targets(data.spherical[obj, vi])).pow(2).mean()
            loss = (cfg.w_silhouette * terms["silhouette"] + cfg.w_l1 * terms["l1"] + cfg.w_laplacian * terms["laplacian"]
                    + cfg.w_normal * terms["normal"] + cfg.w_camera * terms["camera"])
            if perceptual is not None:
                terms["perceptual"] = perceptual(rgb, target)
                loss = loss + cfg.w_perceptual * terms["perceptual"]
            state["info"] = {k: float(v.detach()) for k, v in terms.items()} | {"loss": float(loss.detach())}
            return loss, state["info"]

        def after(it: int) -> None:
            state["done"] = it + 1
            if (it + 1) % cfg.log_every == 0 or it + 1 == cfg.iterations:
                log.append({"iteration": it + 1, **state["info"]})
            if cfg.checkpoint_every and (it + 1) % cfg.checkpoint_every == 0:
                save(it + 1)

        loop = TrainLoop(opt, should_stop=should_stop, progress=progress, progress_range=(LOAD_END, 1.0),
                         describe=lambda it, info: (f"reconstructor: iteration {it + 1}/{cfg.iterations}, "
                                                    f"loss {info.get('loss', 0):.4f}, silhouette "
                                                    f"{info.get('silhouette', 0):.3f}, L1 {info.get('l1', 0):.4f}"),
                         post_step=[after], ema=ema, label="category reconstructor")
        cpu0, wall0 = time.process_time(), time.perf_counter()
        try:
            loop.run(step, cfg.iterations, start)
        except Cancelled:
            save(state["done"])
            raise
        trained = max(0, cfg.iterations - start)
        timings["train_cpu_s"] = time.process_time() - cpu0
        timings["train_wall_s"] = time.perf_counter() - wall0
        timings["train_iterations"] = trained
        save(max(start, cfg.iterations))
        ema.copy_to(net)
        net.eval()
    return ReconstructorResult(network=net, template=template, views=views, config=cfg,
                               iterations=max(start, cfg.iterations), log=log, timings=timings)
