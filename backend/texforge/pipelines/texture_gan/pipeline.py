"""Texture GAN training and best-texture search (seed 000, stage 2) on per-view pseudo-GT textures.

``run_texture_gan(pseudo_gt, config, progress, should_stop, device)``: ``pseudo_gt`` is what
:func:`texforge.texture.pseudo_gt.load_pseudo_gt` returns (textures (V, H, W, 3), visibility (V, H, W),
names, metadata), or just the first two. Training runs on :class:`texforge.training.TrainLoop` with one
Adam holding two parameter groups (generator, discriminator): each iteration's step function first makes
``d_steps`` discriminator updates itself (the generator gets no gradient then: its fakes are computed
without one), then returns the generator loss with the discriminator frozen, which the loop steps. One
optimizer, one EMA and one named RNG make a single checkpoint that resumes bit-for-bit.

Invisible texels never reach the discriminator: the real textures are zeroed there when loaded, and
every discriminator input (real, and fake times the real sample's visibility) is masked again after
augmentation, so real and fake agree exactly where the data is missing.

The pipeline writes nothing except the checkpoint file the caller names (so a cancelled run can resume).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ...nets.texture_gan import TextureDiscriminator, TextureGenerator
from ...runtime.determinism import deterministic
from ...runtime.errors import Cancelled, InputError
from ...runtime.progress import ProgressFn, ShouldStopFn, never_stop, no_progress
from ...runtime.timing import timed
from ...texture.inpaint import push_pull_fill
from ...training import EMA, TrainLoop, load_checkpoint, save_checkpoint
from ...training.checkpoint import checkpoint_header
from ...training.run_config import check_resumable
from ...training.sample_grid import sample_grid as image_grid
from .config import ARCHITECTURE_FIELDS, TextureGANConfig

TRAIN_END = 0.85  # progress fraction at which training ends and the search starts


@dataclass
class TextureGANResult:
    """Textures are (H, W, 3) float32 in [0, 1], row 0 on top (texture.png's layout).

    ``figures``: visibility-weighted L1 to the pseudo-GT textures of the best texture, of the best of the
    random candidates, of the per-texel mean of the views and of their mean colour; ``log``: one dict per
    ``log_every`` iterations (losses), over the whole run including resumed parts; ``samples``:
    (iteration, grid) pairs made in this session."""

    best_texture: np.ndarray
    variations: list[np.ndarray]
    best_latent: np.ndarray
    mean_texture: np.ndarray
    samples: list[tuple[int, np.ndarray]]
    log: list[dict]
    figures: dict
    timings: dict
    config: TextureGANConfig
    iterations: int
    names: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------

def prepare_pseudo_gt(textures, visibility, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(V, H, W, 3) textures and (V, H, W) visibility -> (V, 3, h, w) textures zeroed where unseen and
    (V, 1, h, w) visibility at ``size`` (h, w); resampling averages colours weighted by visibility, so
    unseen texels never bleed into seen ones."""
    tex = torch.as_tensor(np.asarray(textures, dtype=np.float32))
    vis = torch.as_tensor(np.asarray(visibility, dtype=np.float32))
    if tex.dim() != 4 or tex.shape[-1] != 3 or vis.shape != tex.shape[:3]:
        raise InputError(f"pseudo-GT: expected textures (V, H, W, 3) and visibility (V, H, W), got "
                         f"{tuple(tex.shape)} and {tuple(vis.shape)}")
    if tex.shape[0] < 2:
        raise InputError(f"pseudo-GT holds {tex.shape[0]} view(s); a texture GAN needs at least 2")
    vis = vis.clamp(0, 1).nan_to_num(0.0).unsqueeze(1)
    tex = torch.where(vis > 0, tex.permute(0, 3, 1, 2).nan_to_num(0.0), torch.zeros(()))
    if tuple(tex.shape[-2:]) != tuple(size):
        down = tex.shape[-2] >= size[0] and tex.shape[-1] >= size[1]
        mode = dict(mode="area") if down else dict(mode="bilinear", align_corners=False)
        num = F.interpolate(tex * vis, size=tuple(size), **mode)
        vis = F.interpolate(vis, size=tuple(size), **mode)
        tex = torch.where(vis > 1e-6, num / vis.clamp_min(1e-6), torch.zeros(()))
        vis = vis.clamp(0, 1)
    empty = [i for i in range(vis.shape[0]) if float(vis[i].max()) <= 0]
    if len(empty) == vis.shape[0]:
        raise InputError("pseudo-GT: no view sees any texel (all visibility maps are zero)")
    return tex.clamp(0, 1).contiguous(), vis.contiguous()


def masked(rgb: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """What the discriminator sees of a texture: exactly 0 where unseen, weighted by soft visibility."""
    return torch.where(vis > 0, rgb, torch.zeros((), device=rgb.device)) * vis


def augment(rgb: torch.Tensor, vis: torch.Tensor, gen: torch.Generator, translate: float):
    """DiffAugment (Zhao et al. 2020): per-sample brightness, saturation, contrast and an integer
    translation (zero-filled, visibility moved along) -- differentiable, so the generator trains through
    it, and applied to real and fake alike so the discriminator cannot learn the augmentation."""
    n, dev = rgb.shape[0], rgb.device
    r = torch.rand(n, 3, 1, 1, 1, generator=gen).to(dev)
    rgb = rgb + (r[:, 0] - 0.5)
    mean = rgb.mean(dim=1, keepdim=True)
    rgb = (rgb - mean) * (r[:, 1] * 2) + mean
    mean = rgb.mean(dim=(1, 2, 3), keepdim=True)
    rgb = (rgb - mean) * (r[:, 2] + 0.5) + mean
    h, w = rgb.shape[-2:]
    sy, sx = max(1, int(round(h * translate))), max(1, int(round(w * translate)))
    dy = torch.randint(-sy, sy + 1, (n,), generator=gen).tolist()
    dx = torch.randint(-sx, sx + 1, (n,), generator=gen).tolist()
    x = F.pad(torch.cat([rgb, vis], dim=1), (sx, sx, sy, sy))
    x = torch.stack([x[i, :, sy - dy[i]:sy - dy[i] + h, sx - dx[i]:sx - dx[i] + w] for i in range(n)])
    return x[:, :3], x[:, 3:]


def _weighted_mean(values: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """Mean of patch values (N, 1, h, w) weighted by the visible fraction of each patch: patches of
    missing data carry no loss (they are identical zeros in real and fake)."""
    w = F.adaptive_avg_pool2d(vis, values.shape[-2:])
    return (values * w).sum() / w.sum().clamp_min(1e-6)


def d_loss_fn(kind: str, real_logits, fake_logits, real_vis, fake_vis) -> torch.Tensor:
    total = 0.0
    for lr, lf in zip(real_logits, fake_logits):
        if kind == "hinge":
            total = total + _weighted_mean(F.relu(1 - lr), real_vis) + _weighted_mean(F.relu(1 + lf), fake_vis)
        else:
            total = total + _weighted_mean((lr - 1) ** 2, real_vis) + _weighted_mean(lf ** 2, fake_vis)
    return total


def g_loss_fn(kind: str, fake_logits, fake_vis) -> torch.Tensor:
    total = 0.0
    for lf in fake_logits:
        total = total + (_weighted_mean(-lf, fake_vis) if kind == "hinge" else _weighted_mean((lf - 1) ** 2, fake_vis))
    return total


def l1_to_views(textures: torch.Tensor, real: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """(n, 3, H, W) candidate textures -> (n,) visibility-weighted mean absolute error over all views'
    visible texels (real (V, 3, H, W), vis (V, 1, H, W))."""
    out = []
    for t in textures:
        out.append(((t[None] - real).abs() * vis).sum() / (3 * vis.sum().clamp_min(1e-6)))
    return torch.stack(out)


def mean_texture(real: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """(3, H, W) visibility-weighted mean of the views, push-pull filled where no view sees."""
    wsum = vis.sum(0)
    mean = (real * vis).sum(0) / wsum.clamp_min(1e-6)
    return push_pull_fill(mean.permute(1, 2, 0), wsum[0] > 0).permute(2, 0, 1)


# ------------------------------------------------------------------------------------------------
# networks, checkpoint
# ------------------------------------------------------------------------------------------------

def build_networks(cfg: TextureGANConfig) -> tuple[TextureGenerator, TextureDiscriminator]:
    g = TextureGenerator(cfg.texture_size, latent=cfg.latent, channels=cfg.channels, upsamplings=cfg.upsamplings,
                         min_channels=cfg.min_channels, attention=cfg.attention, symmetry=cfg.symmetry,
                         qk_channels=cfg.qk_channels, heads=cfg.heads)
    d = TextureDiscriminator(cfg.texture_size, receptive_field=cfg.receptive_field, embedding=cfg.embedding,
                             embedding_channels=cfg.embedding_channels, channels=cfg.d_channels,
                             max_channels=cfg.d_max_channels)
    return g, d


def _to_hwc(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().permute(1, 2, 0).numpy().astype(np.float32)


# ------------------------------------------------------------------------------------------------
# the run
# ------------------------------------------------------------------------------------------------

def run_texture_gan(pseudo_gt, config: TextureGANConfig | None = None, progress: ProgressFn = no_progress,
                    should_stop: ShouldStopFn = never_stop, device="cpu", *, checkpoint=None,
                    resume: bool = False) -> TextureGANResult:
    """Train the GAN on the pseudo-GT textures, then search its latent space for the best texture.

    ``checkpoint``: a file path; the state is saved there every ``checkpoint_every`` iterations, at the
    end of training and when the run is cancelled (then Cancelled is raised). ``resume``: continue from
    that file (CheckpointError when it is missing, corrupt or from another configuration)."""
    cfg = config or TextureGANConfig.preset("small")
    if cfg.loss not in ("hinge", "lsgan"):
        raise ValueError(f"texture GAN loss must be 'hinge' or 'lsgan', got {cfg.loss!r}")
    device = torch.device(device)
    textures, visibility = pseudo_gt[0], pseudo_gt[1]
    names = list(pseudo_gt[2]) if len(pseudo_gt) > 2 else []
    timings: dict[str, float] = {}
    with deterministic():
        real, vis = prepare_pseudo_gt(textures, visibility, cfg.texture_size)
        real, vis = real.to(device), vis.to(device)
        torch.manual_seed(cfg.seed)
        g, d = build_networks(cfg)
        g, d = g.to(device), d.to(device)
        opt = torch.optim.Adam([{"params": list(g.parameters()), "lr": cfg.lr_g},
                                {"params": list(d.parameters()), "lr": cfg.lr_d}], betas=tuple(cfg.betas))
        ema = EMA(g, cfg.ema_decay)
        gen = torch.Generator().manual_seed(cfg.seed + 1)
        z_fixed = torch.randn(cfg.samples, cfg.latent, generator=torch.Generator().manual_seed(cfg.seed + 3))
        log: list[dict] = []
        start = 0
        ckpt_path = Path(checkpoint) if checkpoint is not None else None
        if resume:
            if ckpt_path is None:
                raise InputError("resume needs a checkpoint path")
            # the header first: a configuration mismatch is named as such, not as mismatched shapes
            check_resumable(ckpt_path, checkpoint_header(ckpt_path).get("config"), cfg, ARCHITECTURE_FIELDS, "texture GAN")
            ck = load_checkpoint(ckpt_path, {"generator": g, "discriminator": d}, opt, ema=ema,
                                 generators={"train": gen})
            start, log = ck.step, list(ck.extra.get("log", []))
            progress(TRAIN_END * start / max(cfg.iterations, 1), f"resumed at iteration {start}")

        def save(step: int) -> None:
            if ckpt_path is not None:
                save_checkpoint(ckpt_path, {"generator": g, "discriminator": d}, opt, step=step,
                                config=cfg.to_dict(), ema=ema, generators={"train": gen}, extra={"log": log})

        def batch():
            idx = torch.randint(real.shape[0], (cfg.batch_size,), generator=gen)
            z = torch.randn(cfg.batch_size, cfg.latent, generator=gen).to(device)
            return real[idx.to(device)], vis[idx.to(device)], z

        def d_inputs(rgb, v):
            if cfg.augment:
                rgb, v = augment(rgb, v, gen, cfg.translate)
            return masked(rgb, v), v

        state = {"done": start, "info": {}}

        def step(it: int):
            g.train()
            d.requires_grad_(True)
            for _ in range(cfg.d_steps):
                r_rgb, r_vis, z = batch()
                with torch.no_grad():
                    fake = g(z)
                rx, rv = d_inputs(r_rgb, r_vis)
                fx, fv = d_inputs(fake, r_vis)  # fake seen through the real sample's visibility
                loss_d = d_loss_fn(cfg.loss, d(rx, rv), d(fx, fv), rv, fv)
                if not torch.isfinite(loss_d):
                    raise FloatingPointError(f"texture GAN: the discriminator loss became {float(loss_d)} at iteration {it}")
                opt.zero_grad(set_to_none=True)
                loss_d.backward()
                opt.step()  # only the discriminator has gradients; Adam skips the rest
            d.requires_grad_(False)  # the generator's step must not move the discriminator
            r_rgb, r_vis, z = batch()
            fx, fv = d_inputs(g(z), r_vis)
            loss_g = g_loss_fn(cfg.loss, d(fx, fv), fv)
            state["info"] = {"d": float(loss_d.detach()), "g": float(loss_g.detach())}
            return loss_g, state["info"]

        samples: list[tuple[int, np.ndarray]] = []

        def sample_grid(iteration: int) -> None:
            with ema.applied():
                g.eval()
                with torch.no_grad():
                    samples.append((iteration, image_grid(g(z_fixed.to(device)), cols=min(4, cfg.samples))))
                g.train()

        def after(it: int) -> None:
            d.requires_grad_(True)
            ema.update()
            state["done"] = it + 1
            if (it + 1) % cfg.log_every == 0 or it + 1 == cfg.iterations:
                log.append({"iteration": it + 1, **state["info"]})
            if cfg.sample_every and ((it + 1) % cfg.sample_every == 0 or it + 1 == cfg.iterations):
                sample_grid(it + 1)
            if cfg.checkpoint_every and (it + 1) % cfg.checkpoint_every == 0:
                save(it + 1)

        loop = TrainLoop(opt, should_stop=should_stop, progress=progress, progress_range=(0.0, TRAIN_END),
                         describe=lambda it, info: (f"texture GAN: iteration {it + 1}/{cfg.iterations}, "
                                                    f"D {info.get('d', 0):.3f}, G {info.get('g', 0):.3f}"),
                         post_step=[after], label="texture GAN")
        cpu0, wall0 = time.process_time(), time.perf_counter()
        try:
            with timed(timings, "train"):
                loop.run(step, cfg.iterations, start)
        except Cancelled:
            save(state["done"])
            raise
        finally:
            d.requires_grad_(True)
        trained = max(0, cfg.iterations - start)
        timings["train_cpu"] = time.process_time() - cpu0
        timings["train_iterations"] = trained
        timings["iterations_per_s"] = trained / max(time.perf_counter() - wall0, 1e-9)
        save(max(start, cfg.iterations))
        with timed(timings, "search"):
            best, variations, z_best, figures = search_best_texture(g, ema, real, vis, cfg, progress, should_stop)
        figures["mean_texture_l1"] = float(l1_to_views(mean_texture(real, vis)[None], real, vis)[0])
        colour = (real * vis).sum((0, 2, 3)) / (vis.sum() + 1e-6)
        figures["mean_colour_l1"] = float(l1_to_views(colour.reshape(1, 3, 1, 1).expand(1, 3, *real.shape[-2:]),
                                                      real, vis)[0])
    progress(1.0, f"texture GAN: best texture L1 {figures['best_l1']:.4f} (mean of views {figures['mean_texture_l1']:.4f})")
    return TextureGANResult(best_texture=_to_hwc(best), variations=[_to_hwc(v) for v in variations],
                            best_latent=z_best.cpu().numpy(), mean_texture=_to_hwc(mean_texture(real, vis)),
                            samples=samples, log=log, figures=figures, timings=timings, config=cfg,
                            iterations=max(start, cfg.iterations), names=names)


def search_best_texture(g: TextureGenerator, ema: EMA, real: torch.Tensor, vis: torch.Tensor, cfg: TextureGANConfig,
                        progress: ProgressFn = no_progress, should_stop: ShouldStopFn = never_stop):
    """The EMA generator's texture closest to the views where they see the surface: best of
    ``search_candidates`` random latents by L1, then Adam on z for ``search_steps`` steps on L1 +
    ``search_perceptual`` x EffNet-Lite0 perceptual distance (to every view, masked by its visibility)
    + ``search_prior`` |z|^2 / 2. Returns (best (3, H, W), K variations, z, figures)."""
    from ...losses.perceptual import PerceptualLoss

    dev = real.device
    gen = torch.Generator().manual_seed(cfg.seed + 2 if cfg.variation_seed is None else cfg.variation_seed)
    perceptual = PerceptualLoss() if cfg.search_perceptual > 0 else None
    with ema.applied():
        g.eval()
        g.requires_grad_(False)
        try:
            with torch.no_grad():
                cands = torch.randn(cfg.search_candidates, cfg.latent, generator=gen).to(dev)
                l1 = torch.cat([l1_to_views(g(c), real, vis) for c in cands.split(8)])
                variations = list(g(torch.randn(cfg.variations, cfg.latent, generator=gen).to(dev)))
            z = cands[int(l1.argmin())].clone()[None].requires_grad_(True)
            figures = {"best_of_n_l1": float(l1.min()), "samples_mean_l1": float(l1.mean())}
            opt = torch.optim.Adam([z], lr=cfg.search_lr)
            best_loss, best_z = float("inf"), z.detach().clone()
            for s in range(cfg.search_steps + 1):
                if should_stop():
                    raise Cancelled("cancelled by the user")
                tex = g(z)
                loss = l1_to_views(tex, real, vis)[0]
                if perceptual is not None:
                    loss = loss + cfg.search_perceptual * perceptual(tex.expand(real.shape[0], -1, -1, -1), real, vis)
                loss = loss + cfg.search_prior * 0.5 * z.pow(2).sum()
                if float(loss.detach()) < best_loss:
                    best_loss, best_z = float(loss.detach()), z.detach().clone()
                if s == cfg.search_steps:
                    break
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                progress(TRAIN_END + (1 - TRAIN_END) * (s + 1) / (cfg.search_steps + 1),
                         f"texture GAN: best-texture search {s + 1}/{cfg.search_steps}, loss {float(loss.detach()):.4f}")
            with torch.no_grad():
                best = g(best_z)[0]
                figures["best_l1"] = float(l1_to_views(best[None], real, vis)[0])
                figures["search_loss"] = best_loss
        finally:
            g.requires_grad_(True)
            g.train()
    return best, variations, best_z[0], figures
