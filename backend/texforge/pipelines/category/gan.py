"""The category 3D GAN (seed 002, section 3.1, eqs. 1-3): generated deformation + texture maps of the
ConvMesh template against the pseudo-ground-truth maps (UV-space discriminator) and renders of the
generated meshes against the collection's images (image-space PatchGAN), with least-squares losses:

    L_G   = l_uv E[(D_uv(G(z)) - 1)^2] + l_I E[(D_I(R(G(z), pi)) - 1)^2]          (1)
    L_Duv = E[(D_uv(S, T) - 1)^2] + E[D_uv(G(z))^2]                                (2)
    L_DI  = E[(D_I(I) - 1)^2] + E[D_I(R(G(z), pi))^2]                              (3)

pi: random cameras of the collection's :class:`~texforge.data.collection.CameraDistribution`; R: the one
renderer ``texforge.render.render_mesh`` (RGB + DIB-R soft silhouette, so shape gets gradients from D_I).

Real images for D_I are the collection's own renders of its training objects (seed 002: I ~ P_data): they
are what the category looks like, free of the reconstruction network's errors, which is exactly what the
image discriminator adds over the UV one. Without a collection (synthetic development maps) the real
images are renders of the pseudo-GT maps from the same camera distribution.

Training runs on :class:`texforge.training.TrainLoop` like the texture GAN: one Adam with parameter groups
(generator, D_uv, D_I); each iteration's step makes ``d_steps`` discriminator updates itself (fakes
without gradient), then returns the generator loss with both discriminators frozen. One optimizer, one
EMA and one named RNG (latents, batches and cameras all come from it) make one checkpoint that resumes
bit-for-bit on CPU. The pipeline writes nothing but the checkpoint the caller names;
:func:`train_category_gan_folder` writes a training folder (checkpoint, sample grids, loss log).

Maps file: MODEL/maps.safetensors, read by :func:`texforge.models.category_model.load_maps`.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from ...atomic import write_text
from ...data.collection import CameraDistribution
from ...mesh.model import DeformationMapModel
from ...mesh.template import convmesh_sphere
from ...nets.category_gan import CategoryGenerator, ImageDiscriminator, UVDiscriminator
from ...render import render_mesh
from ...render.camera import cameras_from_arrays
from ...runtime.determinism import deterministic
from ...runtime.errors import Cancelled, InputError
from ...runtime.progress import ProgressFn, ShouldStopFn, never_stop, no_progress
from ...runtime.timing import timed
from ...training import EMA, TrainLoop, load_checkpoint, save_checkpoint
from ...training.run_config import check_resumable
from ...training.sample_grid import sample_grid as image_grid
from ...models.category_config import GAN_ARCHITECTURE_FIELDS as ARCHITECTURE_FIELDS, CategoryGanConfig
from ...models.category_model import GAN_FILE, GAN_KIND, build_generator, latent_of_seed, load_maps, read_gan_header


@dataclass
class CategoryGanResult:
    """``log``: one dict per ``log_every`` iterations over the whole run (resumed parts included);
    ``samples``: (iteration, grid (H, W, 3)) made in this session; ``figures``: statistics of EMA
    samples next to the data's (see :func:`map_statistics`)."""

    config: CategoryGanConfig
    iterations: int
    log: list[dict]
    samples: list[tuple[int, np.ndarray]]
    figures: dict
    timings: dict
    real_images: str
    generator: CategoryGenerator | None = field(default=None, repr=False)


def synthetic_maps(count: int, texture_size=(64, 128), deformation_size=(32, 32), seed: int = 0) -> dict:
    """Development data in the maps format: vase-like radial profiles (a smooth random radius per
    height, displacing the unit sphere's points radially in x, y) and striped textures (2-4 colours in
    horizontal bands with a random phase) seen where a random frontal half is visible."""
    rng = np.random.default_rng(seed)
    hd, wd = deformation_size
    ht, wt = texture_size
    v = 1.0 - (np.arange(hd) + 0.5) / hd
    theta = math.pi * (1.0 - v)                       # polar angle of each row
    phi = 2 * math.pi * (np.arange(wd) + 0.5) / wd
    unit = np.stack([np.sin(theta)[:, None] * np.cos(phi)[None], np.sin(theta)[:, None] * np.sin(phi)[None],
                     np.cos(theta)[:, None].repeat(wd, 1)])  # (3, hd, wd)
    deformation, texture, visibility = [], [], []
    palette = np.array([[0.85, 0.35, 0.2], [0.95, 0.85, 0.6], [0.2, 0.3, 0.6], [0.3, 0.6, 0.35]])
    for _ in range(count):
        a = rng.normal(0, 1, 3)
        radius = 0.55 + 0.15 * a[0] * np.sin(theta) ** 2 + 0.1 * a[1] * np.cos(2 * theta) + 0.05 * a[2] * np.cos(theta)
        radius = np.clip(radius, 0.25, 1.0)
        d = np.zeros((3, hd, wd))
        d[:2] = unit[:2] * (radius[:, None] - 1.0)
        deformation.append(d)
        k = int(rng.integers(2, 5))
        cols = palette[rng.choice(len(palette), size=k, replace=False)] + rng.normal(0, 0.05, (k, 3))
        rows = (np.arange(ht) + 0.5) / ht
        band = np.floor((rows * rng.uniform(3, 7) + rng.uniform(0, 1)) % k).astype(int)
        texture.append(np.clip(cols[band][:, None, :].repeat(wt, 1).transpose(2, 0, 1), 0, 1))
        centre = rng.uniform(0, 1)
        u = (np.arange(wt) + 0.5) / wt
        seen = (np.abs(((u - centre + 0.5) % 1.0) - 0.5) < 0.3).astype(np.float32)
        visibility.append(np.broadcast_to(seen[None, None], (1, ht, wt)))
    return {"deformation": torch.as_tensor(np.stack(deformation), dtype=torch.float32),
            "texture": torch.as_tensor(np.stack(texture), dtype=torch.float32),
            "visibility": torch.as_tensor(np.stack(visibility), dtype=torch.float32),
            "object_ids": [f"synthetic_{i:04d}" for i in range(count)], "symmetric": False}


def prepare_maps(maps: dict, cfg: CategoryGanConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> texture zeroed where unseen (N, 3, Ht, Wt), visibility (N, 1, Ht, Wt), deformation (N, 3, Hd, Wd)
    at the config's sizes (area resampling, visibility-weighted for the texture)."""
    tex, vis, d = maps["texture"].float(), maps["visibility"].float(), maps["deformation"].float()
    if tuple(tex.shape[-2:]) != tuple(cfg.texture_size):
        num = F.interpolate(tex * vis, size=tuple(cfg.texture_size), mode="area")
        vis = F.interpolate(vis, size=tuple(cfg.texture_size), mode="area")
        tex = num / vis.clamp_min(1e-6)
    if tuple(d.shape[-2:]) != tuple(cfg.deformation_size):
        d = F.interpolate(d, size=tuple(cfg.deformation_size), mode="area")
    tex = torch.where(vis > 0, tex, torch.zeros(())).clamp(0, 1)
    return tex.contiguous(), vis.clamp(0, 1).contiguous(), d.contiguous()


# ------------------------------------------------------------------------------------------------
# rendering: the one renderer on the ConvMesh template
# ------------------------------------------------------------------------------------------------

class TemplateRenderer:
    """Maps -> meshes on the ConvMesh template (``DeformationMapModel.vertices_of``) -> RGB + soft
    silhouette from cameras of ``distribution``, at ``image_size`` for the longest side of ``aspect``
    (W, H)."""

    def __init__(self, distribution: CameraDistribution, image_size: int, aspect: tuple[int, int] = (1, 1),
                 device="cpu"):
        m = convmesh_sphere()
        t = lambda a, dt=None: torch.as_tensor(a, dtype=dt, device=device)  # noqa: E731
        self.model = DeformationMapModel(t(m.vertices, torch.float32), t(m.faces), t(m.uvs, torch.float32),
                                         t(m.face_uvs)).requires_grad_(False)
        s = image_size / max(aspect)
        self.width, self.height = max(1, round(aspect[0] * s)), max(1, round(aspect[1] * s))
        self.distribution, self.device = distribution, torch.device(device)

    def meshes(self, deformation: torch.Tensor) -> torch.Tensor:
        return self.model.vertices_of(deformation)

    def cameras(self, count: int, gen: torch.Generator):
        """``count`` cameras from the distribution, drawn from ``gen`` (so a checkpoint holds them)."""
        seed = int(torch.randint(0, 2 ** 31 - 1, (1,), generator=gen))
        K, R, t, _ = self.distribution.sample(count, np.random.default_rng(seed), self.width, self.height)
        return cameras_from_arrays(K, R, t, self.width, self.height, device=self.device)

    def cameras_at(self, azimuths_deg, elevation_deg: float | None = None, distance: float | None = None):
        """Cameras at given azimuths, at the distribution's mid elevation and distance (sample sheets, KID)."""
        K, R, t = self.distribution.ring(azimuths_deg, self.width, self.height, elevation_deg, distance)
        return cameras_from_arrays(K, R, t, self.width, self.height, device=self.device)

    def render(self, texture: torch.Tensor, deformation: torch.Tensor, cameras) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, H, W) RGB on black, (N, 1, H, W) soft silhouette; N maps and N cameras."""
        m = self.model
        out = render_mesh(self.meshes(deformation), m.faces, cameras, uvs=m.uvs, face_uvs=m.face_uvs, texture=texture)
        return out.rgb.permute(0, 3, 1, 2), out.soft_mask.unsqueeze(1)


def collection_images(collection, ids: list[str], image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every view of the objects ``ids`` -> RGB on black (M, 3, H, W) and alpha (M, 1, H, W), the longest
    side ``image_size`` (area resampling)."""
    from ...data.collection import load_object

    rgbs, masks = [], []
    w, h = collection.size
    s = image_size / max(w, h)
    size = (max(1, round(h * s)), max(1, round(w * s)))
    for object_id in ids:
        ds = load_object(collection, object_id, background=(0.0, 0.0, 0.0))
        img = torch.as_tensor(ds.images).permute(0, 3, 1, 2).float()
        mask = torch.as_tensor(ds.masks).unsqueeze(1).float()
        rgbs.append(F.interpolate(img * mask, size=size, mode="area"))
        masks.append(F.interpolate(mask, size=size, mode="area"))
    if not rgbs:
        raise InputError(f"{collection.root}: no objects to take real images from")
    return torch.cat(rgbs).clamp(0, 1), torch.cat(masks).clamp(0, 1)


# ------------------------------------------------------------------------------------------------
# networks, statistics, checkpoint
# ------------------------------------------------------------------------------------------------

def build_networks(cfg: CategoryGanConfig):
    g = build_generator(cfg)
    d_uv = UVDiscriminator(cfg.texture_size, receptive_field=cfg.uv_receptive_field, embedding=cfg.embedding,
                           embedding_channels=cfg.embedding_channels, channels=cfg.d_channels,
                           max_channels=cfg.d_max_channels)
    d_img = ImageDiscriminator(cfg.image_receptive_field, channels=cfg.d_channels, max_channels=cfg.d_max_channels)
    return g, d_uv, d_img


def map_statistics(texture: torch.Tensor, deformation: torch.Tensor, visibility: torch.Tensor | None = None,
                   renderer_model: DeformationMapModel | None = None) -> dict:
    """What a batch of maps looks like in numbers: the mean colour of the (visible) texels, the mean
    and spread over objects of the mesh's mean vertex distance from the origin, and the mean per-object
    spread of vertex radii (0 for a sphere)."""
    vis = torch.ones_like(texture[:, :1]) if visibility is None else visibility
    colour = (texture * vis).sum((0, 2, 3)) / (vis.sum() + 1e-6)
    if renderer_model is None:
        m = convmesh_sphere()
        renderer_model = DeformationMapModel(torch.as_tensor(m.vertices), torch.as_tensor(m.faces),
                                             torch.as_tensor(m.uvs), torch.as_tensor(m.face_uvs))
    with torch.no_grad():
        r = renderer_model.vertices_of(deformation.cpu()).norm(dim=-1)   # (N, V)
    per_object = r.mean(1)
    return {"mean_colour": [float(c) for c in colour], "mean_radius": float(per_object.mean()),
            "radius_spread_objects": float(per_object.std()) if len(per_object) > 1 else 0.0,
            "radius_spread_within": float(r.std(1).mean())}


def sample_sheet(g: CategoryGenerator, z: torch.Tensor, renderer: TemplateRenderer, azimuth_deg: float = 30.0) -> np.ndarray:
    """One row per sample: the texture and the rendered object (one view), side by side."""
    with torch.no_grad():
        tex, d = g(z)
        rgb, _ = renderer.render(tex, d, renderer.cameras_at([azimuth_deg] * len(z)))
    h = rgb.shape[-2]
    tex_small = F.interpolate(tex, size=(h, round(h * tex.shape[-1] / tex.shape[-2])), mode="area")
    pairs = torch.cat([tex_small, torch.ones(len(z), 3, h, 1), rgb.cpu()], dim=-1)
    return image_grid(pairs, cols=min(4, len(z)))


# ------------------------------------------------------------------------------------------------
# the run
# ------------------------------------------------------------------------------------------------

def _lsgan_d(real_logits, fake_logits) -> torch.Tensor:
    real_logits = real_logits if isinstance(real_logits, list) else [real_logits]
    fake_logits = fake_logits if isinstance(fake_logits, list) else [fake_logits]
    return sum(((r - 1) ** 2).mean() + (f ** 2).mean() for r, f in zip(real_logits, fake_logits))


def _lsgan_g(fake_logits) -> torch.Tensor:
    fake_logits = fake_logits if isinstance(fake_logits, list) else [fake_logits]
    return sum(((f - 1) ** 2).mean() for f in fake_logits)


def run_train_category_gan(maps: dict, cameras: CameraDistribution | None = None,
                           config: CategoryGanConfig | None = None, progress: ProgressFn = no_progress,
                           should_stop: ShouldStopFn = never_stop, device="cpu", *,
                           real_images: tuple[torch.Tensor, torch.Tensor] | None = None,
                           image_aspect: tuple[int, int] = (1, 1), checkpoint=None, resume: bool = False,
                           on_sample: Callable[[int, np.ndarray], None] | None = None) -> CategoryGanResult:
    """Train the GAN on ``maps`` (what :func:`load_maps` returns).

    ``cameras``: the collection's camera distribution (default: CameraDistribution()); ``real_images``:
    (rgb (M, 3, H, W), alpha (M, 1, H, W)) for D_I at the render size (see :func:`collection_images`),
    None to render the pseudo-GT maps instead; ``image_aspect`` (W, H) of the renders.
    ``checkpoint``: a file path, saved every ``checkpoint_every`` iterations, at the end and on Cancel
    (then Cancelled is raised); ``resume``: continue from it (CheckpointError when it is missing, corrupt
    or from another configuration)."""
    cfg = config or CategoryGanConfig.preset("small")
    device = torch.device(device)
    distribution = cameras or CameraDistribution()
    timings: dict[str, float] = {}
    with deterministic():
        real_tex, real_vis, real_def = (x.to(device) for x in prepare_maps(maps, cfg))
        renderer = TemplateRenderer(distribution, cfg.image_size, image_aspect, device)
        if real_images is not None:
            img_rgb, img_mask = (x.to(device).float() for x in real_images)
            if tuple(img_rgb.shape[-2:]) != (renderer.height, renderer.width):
                raise InputError(f"real images are {tuple(img_rgb.shape[-2:])}, the renders "
                                 f"{(renderer.height, renderer.width)}; resample them to the render size")
        torch.manual_seed(cfg.seed)
        g, d_uv, d_img = build_networks(cfg)
        g, d_uv, d_img = g.to(device), d_uv.to(device), d_img.to(device)
        modules = {"generator": g, "uv_discriminator": d_uv, "image_discriminator": d_img}
        opt = torch.optim.Adam([{"params": list(g.parameters()), "lr": cfg.lr_g},
                                {"params": list(d_uv.parameters()), "lr": cfg.lr_d},
                                {"params": list(d_img.parameters()), "lr": cfg.lr_d}], betas=tuple(cfg.betas))
        ema = EMA(g, cfg.ema_decay)
        gen = torch.Generator().manual_seed(cfg.seed + 1)
        z_fixed = torch.stack([latent_of_seed(s, cfg.latent) for s in range(cfg.samples)]).to(device)
        log: list[dict] = []
        start = 0
        ckpt_path = Path(checkpoint) if checkpoint is not None else None
        real_source = "collection images" if real_images is not None else "renders of the pseudo-GT maps"
        if resume:
            if ckpt_path is None:
                raise InputError("resume needs a checkpoint path")
            _, header = read_gan_header(ckpt_path)
            check_resumable(ckpt_path, header["config"], cfg, ARCHITECTURE_FIELDS, "category GAN")
            ck = load_checkpoint(ckpt_path, modules, opt, ema=ema, generators={"train": gen})
            start, log = ck.step, list(ck.extra.get("log", []))
            progress(start / max(cfg.iterations, 1), f"resumed at iteration {start}")

        def save(step: int) -> None:
            if ckpt_path is not None:
                save_checkpoint(ckpt_path, modules, opt, step=step, config=cfg.to_dict(), ema=ema,
                                generators={"train": gen},
                                extra={"kind": GAN_KIND, "log": log, "real_images": real_source,
                                       "image_aspect": list(image_aspect)})

        def batch(n: int):
            idx = torch.randint(real_tex.shape[0], (n,), generator=gen).to(device)
            z = torch.randn(n, cfg.latent, generator=gen).to(device)
            return real_tex[idx], real_vis[idx], real_def[idx], z

        def real_image_batch(n: int):
            if real_images is not None:
                idx = torch.randint(img_rgb.shape[0], (n,), generator=gen).to(device)
                return img_rgb[idx], img_mask[idx]
            idx = torch.randint(real_tex.shape[0], (n,), generator=gen).to(device)
            with torch.no_grad():  # invisible texels render black: the pseudo-GT knows nothing there
                return renderer.render(real_tex[idx], real_def[idx], renderer.cameras(n, gen))

        state = {"done": start, "info": {}}
        discriminators = (d_uv, d_img)

        def step(it: int):
            g.train()
            for d in discriminators:
                d.requires_grad_(True)
            for _ in range(cfg.d_steps):
                r_tex, r_vis, r_def, z = batch(cfg.batch_size)
                with torch.no_grad():
                    f_tex, f_def = g(z)
                    f_rgb, f_sil = renderer.render(f_tex, f_def, renderer.cameras(cfg.batch_size, gen))
                i_rgb, i_sil = real_image_batch(cfg.batch_size)
                loss_uv = _lsgan_d(d_uv(r_tex, r_def, r_vis), d_uv(f_tex, f_def, r_vis))
                loss_img = _lsgan_d(d_img(i_rgb, i_sil), d_img(f_rgb, f_sil))
                loss_d = cfg.lambda_uv * loss_uv + cfg.lambda_image * loss_img
                if not torch.isfinite(loss_d):
                    raise FloatingPointError(f"category GAN: the discriminator loss became {float(loss_d)} "
                                             f"at iteration {it}")
                opt.zero_grad(set_to_none=True)
                loss_d.backward()
                opt.step()  # only the discriminators have gradients; Adam skips the generator
            for d in discriminators:
                d.requires_grad_(False)  # the generator's step must not move them
            _, r_vis, _, z = batch(cfg.batch_size)
            f_tex, f_def = g(z)
            f_rgb, f_sil = renderer.render(f_tex, f_def, renderer.cameras(cfg.batch_size, gen))
            g_uv, g_img = _lsgan_g(d_uv(f_tex, f_def, r_vis)), _lsgan_g(d_img(f_rgb, f_sil))
            loss_g = cfg.lambda_uv * g_uv + cfg.lambda_image * g_img
            state["info"] = {"d_uv": float(loss_uv.detach()), "d_image": float(loss_img.detach()),
                             "g_uv": float(g_uv.detach()), "g_image": float(g_img.detach())}
            return loss_g, state["info"]

        samples: list[tuple[int, np.ndarray]] = []

        def sample_grid(iteration: int) -> None:
            with ema.applied():
                g.eval()
                grid = sample_sheet(g, z_fixed, renderer)
                g.train()
            samples.append((iteration, grid))
            if on_sample is not None:
                on_sample(iteration, grid)

        def after(it: int) -> None:
            for d in discriminators:
                d.requires_grad_(True)
            ema.update()
            state["done"] = it + 1
            if (it + 1) % cfg.log_every == 0 or it + 1 == cfg.iterations:
                log.append({"iteration": it + 1, **state["info"]})
            if cfg.sample_every and ((it + 1) % cfg.sample_every == 0 or it + 1 == cfg.iterations):
                sample_grid(it + 1)
            if cfg.checkpoint_every and (it + 1) % cfg.checkpoint_every == 0:
                save(it + 1)

        loop = TrainLoop(opt, should_stop=should_stop, progress=progress, progress_range=(0.0, 0.98),
                         describe=lambda it, info: (f"category GAN: iteration {it + 1}/{cfg.iterations}, "
                                                    f"D uv {info.get('d_uv', 0):.3f} image {info.get('d_image', 0):.3f}, "
                                                    f"G uv {info.get('g_uv', 0):.3f} image {info.get('g_image', 0):.3f}"),
                         post_step=[after], label="category GAN")
        cpu0, wall0 = time.process_time(), time.perf_counter()
        try:
            with timed(timings, "train"):
                loop.run(step, cfg.iterations, start)
        except Cancelled:
            save(state["done"])
            raise
        finally:
            for d in discriminators:
                d.requires_grad_(True)
        trained = max(0, cfg.iterations - start)
        timings["train_cpu"] = time.process_time() - cpu0
        timings["train_iterations"] = trained
        timings["iterations_per_s"] = trained / max(time.perf_counter() - wall0, 1e-9)
        save(max(start, cfg.iterations))
        figures = {"data": map_statistics(real_tex.cpu(), real_def.cpu(), real_vis.cpu(), renderer.model)}
        with ema.applied(), torch.no_grad():
            g.eval()
            z = torch.stack([latent_of_seed(10_000 + s, cfg.latent) for s in range(64)]).to(device)
            tex, d = g(z)
            figures["samples"] = map_statistics(tex.cpu(), d.cpu(), None, renderer.model)
            g.train()
    progress(1.0, f"category GAN: {max(start, cfg.iterations)} iterations")
    return CategoryGanResult(config=cfg, iterations=max(start, cfg.iterations), log=log, samples=samples,
                             figures=figures, timings=timings, real_images=real_source, generator=g)


# ------------------------------------------------------------------------------------------------
# the training folder
# ------------------------------------------------------------------------------------------------

def train_category_gan_folder(maps_path, out, collection=None, preset: str = "small", resume: bool = False,
                              overwrite: bool = False, device: str = "cpu", progress: ProgressFn = no_progress,
                              should_stop: ShouldStopFn = never_stop, log=print, **overrides) -> Path:
    """MODEL/maps.safetensors (+ the collection's training images) -> OUT/gan.safetensors (checkpoint,
    updated while training), OUT/samples/iteration_*.png, OUT/log.json (losses), OUT/gan.json (config,
    figures, timings). ``collection``: a collection folder or None (then D_I's real images are renders
    of the maps). Maps marked symmetric train an x-symmetric generator unless ``symmetry`` is given."""
    from ...results import check_out_dir

    out = Path(out)
    if resume:
        if not (out / GAN_FILE).is_file():
            raise InputError(f"nothing to resume: {out / GAN_FILE} not found (start a run without resume)")
    else:
        check_out_dir(out, overwrite)
    return train_gan_into(out, load_maps(maps_path), collection, preset, resume, device, progress, should_stop, log,
                          **overrides)


def train_gan_into(out: Path, maps: dict, collection=None, preset: str = "small", resume: bool = False,
                   device: str = "cpu", progress: ProgressFn = no_progress, should_stop: ShouldStopFn = never_stop,
                   log=print, **overrides) -> Path:
    """Train the GAN on ``maps`` into the existing folder ``out`` (a training folder, or a category-model
    folder's GAN stage): gan.safetensors, samples/, log.json, gan.json (see train_category_gan_folder)."""
    from ...data.collection import read_collection
    from ...data.images import write_png

    ckpt = out / GAN_FILE
    if maps["symmetric"] and "symmetry" not in overrides:  # a symmetric category model: symmetric samples
        overrides["symmetry"] = "x"
    cfg = CategoryGanConfig.preset(preset, **overrides)
    distribution, real, aspect = None, None, (1, 1)
    if collection is not None:
        coll = read_collection(collection)
        distribution, aspect = coll.cameras, tuple(coll.size)
        ids = [i for i in maps["object_ids"] if i in set(coll.train)] or coll.train
        real = collection_images(coll, ids, cfg.image_size)
        log(f"{len(maps['object_ids'])} pseudo-GT maps from {maps['path']}, {real[0].shape[0]} real images of "
            f"{len(ids)} training objects from {coll.root}")
    else:
        log(f"{len(maps['object_ids'])} pseudo-GT maps from {maps['path']}; no collection: D_I sees renders of the maps")
    (out / "samples").mkdir(parents=True, exist_ok=True)

    def write_sample(iteration: int, grid: np.ndarray) -> None:
        write_png(out / "samples" / f"iteration_{iteration:06d}.png", grid)

    result = run_train_category_gan(maps, distribution, cfg, progress, should_stop, device, real_images=real,
                                    image_aspect=aspect, checkpoint=ckpt, resume=resume, on_sample=write_sample)
    write_text(out / "log.json", json.dumps(result.log, indent=1))
    write_text(out / "gan.json", json.dumps({"config": cfg.to_dict(), "iterations": result.iterations,
                                             "real_images": result.real_images, "figures": result.figures,
                                             "timings": result.timings, "maps": maps["path"],
                                             "collection": None if collection is None else str(collection)},
                                            indent=1))
    log(f"category GAN: {result.timings['train_iterations']:.0f} iterations, {result.timings['train_cpu']:.1f} s CPU; "
        f"samples mean radius {result.figures['samples']['mean_radius']:.3f} (data "
        f"{result.figures['data']['mean_radius']:.3f})")
    return out
