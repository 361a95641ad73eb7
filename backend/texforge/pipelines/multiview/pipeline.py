"""run_multiview: photos + rough cameras -> textured mesh, corrected cameras, pruned frames, figures.

Steps (fractions of the progress bar in brackets):
1. validate the input, leaving out frames whose mask is unusable or whose camera does not look at
   the object, and place the object from the silhouettes (least-squares intersection of the rays
   through the mask centroids; radius from the silhouette areas);
2. prune views that disagree with their neighbours in an ordered sequence (input cameras);
3. fit an ellipsoid, then the coarse-to-fine stages of the joint fit (mesh offsets, learned texture,
   gauge-fixed camera corrections; soft silhouettes against the masks grown by a fraction of a pixel,
   so that the surface ends the right size for the colours);
4. after the coarse stages, prune views whose silhouettes stay badly explained, whose corrected
   cameras disagree with their neighbours, or whose colours disagree with the other views
   (leave-one-out projection), and refit without them;
5. move the surface along its normals by the offset that best matches the hard silhouettes, extract
   the final texture by projection (from the photos at up to the texture's size when a reader is
   given) and measure per-view IoU / PSNR (:mod:`.after_fit`); these steps work at the fit's resolution
   and a chunk of views at a time, so they stay a small fraction of the fit whatever the photos' size
   and number.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from ...cameras.placement import mask_centroids, object_centre, place_object
from ...cameras.rig import CameraRig
from ...data.dataset import MultiViewDataset
from ...data.gather import MIN_VIEWS, too_few_views
from ...data.masks import mask_problem
from ...losses.shading import shading_tolerant_l1
from ...losses.silhouette import MaskChamfer, grow_masks, silhouette_iou_loss
from ...mesh.model import MeshModel
from ...mesh.template import uv_sphere
from ...mesh.types import TexturedMesh
from ...render.camera import Cameras
from ...runtime.determinism import deterministic
from ...runtime.errors import InputError
from ...runtime.progress import (
    ProgressFn,
    ProgressThrottle,
    ShouldStopFn,
    check_stop,
    never_stop,
    no_progress,
)
from ...runtime.timing import timed
from ...texture import extract_texture_chunked, project_colors, project_each_view, push_pull_fill, uv_rasterize
from ...texture.exposure import balanced, overlap_log_gains
from ...training.batches import EpochBatches
from ...training.loop import TrainLoop
from . import prune as prune_mod
from .after_fit import eval_resolution, inflate, per_view_figures
from .align import align_cameras
from .config import IMAGE_LOSSES, MultiviewConfig, StageConfig
from .fit import render, resample_views, stage_texture_size, view_ious
from .category_start import category_start_shape, load_encoder
from .pseudo_views import pseudo_gt_views


@dataclass
class MultiviewResult:
    """What :func:`run_multiview` returns; nothing is written to disk (``result_io`` does that).

    mesh: the fitted mesh with UVs and the projected texture; cameras: the corrected cameras of every
    input frame (pruned ones included), input_cameras: the cameras as given; names: frame names in
    input order; pruned: ``{"name", "index", "reason"}`` per dropped frame; per_view: ``{"name", "iou",
    "psnr", "pruned"}`` per frame (training views, against the input images at the evaluation size,
    ``MultiviewConfig.eval_max_size``); timings: seconds per
    stage and ``total``; config: the :class:`MultiviewConfig` as a dict; image_size: (width, height) of
    the working images; metrics: summary figures (train IoU / PSNR means over the kept views, counts);
    visibility: the texel visibility returned by the texture extraction (kept views only); pseudo_gt:
    per-view textures of the kept views (:mod:`.pseudo_views`) or None when ``save_pseudo_gt`` is off;
    cpu_timings: process CPU seconds of the same phases as ``timings`` (benchmarks).
    """

    mesh: TexturedMesh
    cameras: Cameras
    input_cameras: Cameras
    names: list[str]
    pruned: list[dict]
    per_view: list[dict]
    timings: dict
    config: dict
    image_size: tuple[int, int] = (0, 0)
    metrics: dict = field(default_factory=dict)
    visibility: np.ndarray | None = None
    pseudo_gt: dict | None = None
    cpu_timings: dict = field(default_factory=dict)


def validate_dataset(ds: MultiViewDataset) -> MultiViewDataset:
    """The dataset without its unusable frames; InputError naming the frame for input that is wrong
    as a whole (NaN, improper rotations) or when too few usable frames remain.

    A frame whose mask is unusable (:func:`texforge.data.masks.mask_problem`) or whose camera does
    not look at the object the others see is left out: added to ``pruned`` (stage "input") with a
    warning naming it. When most cameras face away the poses are in another convention, and the
    error says so instead of pruning them all."""
    n = len(ds)
    if n < MIN_VIEWS:
        raise InputError(f"{', '.join(ds.names) or 'no frames'}: {too_few_views(n, MIN_VIEWS, n, ds.pruned)}")
    cams = ds.cameras
    for i, name in enumerate(ds.names):
        for what, t in (("intrinsics", cams.K[i]), ("rotation", cams.R[i]), ("translation", cams.t[i])):
            if not bool(torch.isfinite(t).all()):
                raise InputError(f"frame {name}: camera {what} contains NaN or inf")
        if not np.all(np.isfinite(ds.images[i])):
            raise InputError(f"frame {name}: image contains NaN or inf")
    det = torch.linalg.det(cams.R.double())
    for i, name in enumerate(ds.names):
        if abs(float(det[i]) - 1.0) > 1e-3:
            raise InputError(f"frame {name}: camera rotation is not a proper rotation")
    problems = {i: p for i, m in enumerate(ds.masks) if (p := mask_problem(m))}
    good = [i for i in range(n) if i not in problems]
    if len(good) >= MIN_VIEWS:
        problems.update(_aim_problems(ds, good))
    return _without(ds, problems)


def _aim_problems(full: MultiViewDataset, index: list[int]) -> dict[int, str]:
    """{dataset index: reason} for cameras that do not look at the object (behind them, or far
    outside their image): the point closest to the rays through the silhouette centres is the
    object, so one wrong camera barely moves it. (Cameras and masks of ``index`` only: a subset
    of the dataset would copy every photo.)"""
    ds = SimpleNamespace(cameras=full.cameras[index], masks=full.masks[index], names=[full.names[i] for i in index])
    cams = ds.cameras.to(dtype=torch.float64)
    masks = torch.as_tensor(ds.masks, dtype=torch.float64)
    cent, _ = mask_centroids(masks)
    centre = object_centre(cams, masks)
    pix, z = cams.project(centre.unsqueeze(0))
    off = (pix[:, 0] - cent).norm(dim=-1)
    diag = (cams.width ** 2 + cams.height ** 2) ** 0.5
    behind = ~torch.isfinite(z[:, 0]) | (z[:, 0] <= 0)
    found = {}
    for k, i in enumerate(index):
        if behind[k]:
            found[i] = ("the camera faces away from the object the other views see (object centre behind it); "
                        "check its pose")
        elif off[k] > 0.5 * diag:
            found[i] = (f"the camera does not point at the object the other views see (object centre projects "
                        f"{off[k]:.0f} px from the silhouette); check its pose")
    away = int(behind.sum())
    if away > len(index) / 2:
        some = ", ".join(ds.names[k] for k in range(len(index)) if behind[k])
        raise InputError(f"{away} of {len(index)} cameras face away from the object ({some[:200]}): the poses are "
                         f"probably in the OpenCV convention (camera looks down +Z, Y down), but transforms.json "
                         f"holds OpenGL/Blender camera-to-world matrices (camera looks down -Z, Y up); convert "
                         f"them (flip the Y and Z columns of each rotation) and try again")
    return found


def _without(ds: MultiViewDataset, problems: dict[int, str]) -> MultiViewDataset:
    if not problems:
        return ds
    keep = [i for i in range(len(ds)) if i not in problems]
    pruned = list(ds.pruned) + [{"name": ds.names[i], "reason": r, "stage": "input"}
                                for i, r in sorted(problems.items())]
    if len(keep) < MIN_VIEWS:
        raise too_few_views(len(keep), MIN_VIEWS, len(ds) + len(ds.pruned), pruned)
    out = ds.subset(keep)
    out.pruned = pruned
    out.warnings.extend(f"frame {ds.names[i]} left out: {r}" for i, r in sorted(problems.items()))
    return out


class _Run:
    """State of one reconstruction (kept in one object so the stages stay small functions)."""

    def __init__(self, ds: MultiViewDataset, cfg: MultiviewConfig, progress: ProgressFn,
                 should_stop: ShouldStopFn, device):
        self.ds, self.cfg = ds, cfg
        self.device = torch.device(device)
        self.progress = ProgressThrottle(progress)
        self.should_stop = should_stop
        self.photos = torch.as_tensor(ds.images, dtype=torch.float32, device=self.device)
        self.images = self.photos        # the photos with each view's exposure divided out (balance_exposure)
        self.masks = torch.as_tensor(ds.masks, dtype=torch.float32, device=self.device)
        self.log_gains = torch.zeros(len(ds), 3, device=self.device)
        self.input_cameras = ds.cameras.to(self.device, torch.float32)
        self.names = list(ds.names)
        self.n = len(ds)
        bg = ds.background if ds.background is not None else np.zeros(3)
        self.background = torch.as_tensor(np.asarray(bg, dtype=np.float32), device=self.device)
        self.pruned: dict[int, str] = {}
        self.timings: dict[str, float] = {}
        self.cpu_timings: dict[str, float] = {}
        self.gen = torch.Generator().manual_seed(int(cfg.seed))
        self.levels: dict[int, tuple] = {}
        self.silhouette_levels: dict[int, torch.Tensor] = {}   # grown masks (silhouette_targets)
        self.texture_param: torch.Tensor | None = None
        self.encoder = None
        self.start_info = {"kind": "sphere"}
        self.stage_ious: list[dict] = []

    # -- helpers ------------------------------------------------------------------------------
    @contextmanager
    def timed(self, key: str):
        """Wall seconds into ``timings`` and process CPU seconds into ``cpu_timings`` (the steadier
        figure on a machine shared with other jobs)."""
        c0 = time.process_time()
        try:
            with timed(self.timings, key):
                yield
        finally:
            self.cpu_timings[key] = self.cpu_timings.get(key, 0.0) + time.process_time() - c0

    def check(self):
        check_stop(self.should_stop)

    @property
    def active(self) -> list[int]:
        return [i for i in range(self.n) if i not in self.pruned]

    def level(self, resolution: int):
        if resolution not in self.levels:
            self.levels[resolution] = resample_views(self.images, self.masks, resolution)
        return self.levels[resolution]

    def silhouette_targets(self, resolution: int) -> torch.Tensor:
        """The masks at ``resolution`` grown by ``cfg.silhouette_grow_px``: what the soft silhouettes
        are fitted to (see :func:`grow_masks` and the config field)."""
        if resolution not in self.silhouette_levels:
            self.silhouette_levels[resolution] = grow_masks(self.level(resolution)[1], self.cfg.silhouette_grow_px)
        return self.silhouette_levels[resolution]

    def set_active(self):
        act = torch.zeros(self.n, dtype=torch.bool, device=self.device)
        act[self.active] = True
        self.rig.active.copy_(act)

    def prune(self, flags: dict[int, str], scores: dict[int, float]):
        flags = {i: r for i, r in flags.items() if i not in self.pruned}
        budget_flags = prune_mod.cap_pruned({**self.pruned, **flags}, {**{i: -1e9 for i in self.pruned}, **scores},
                                            self.n, self.cfg.max_prune_fraction)
        new = {i: r for i, r in budget_flags.items() if i not in self.pruned}
        self.pruned.update(new)
        self.set_active()
        for i, r in new.items():
            self.progress(self.progress.last, f"pruned frame {self.names[i]}: {r}", force=True)
        return new

    # -- steps --------------------------------------------------------------------------------
    def place(self):
        with self.timed("place"):
            self.centre, self.radius = place_object(self.input_cameras, self.masks, self.names)
            self.rig = CameraRig(self.input_cameras, self.centre).to(self.device)
            if self.cfg.prune and self.cfg.trust.neighbour is not None:
                flags = prune_mod.neighbour_outliers(self.input_cameras, self.centre, list(range(self.n)),
                                                     self.cfg.prune_neighbour_factor * self.cfg.trust.neighbour)
                self.prune(flags, {i: 0.0 for i in flags})
            sphere = uv_sphere(self.cfg.template_segments, self.cfg.template_rings)
            self.unit = torch.as_tensor(sphere.vertices, device=self.device)
            self.faces0 = torch.as_tensor(sphere.faces, device=self.device)
            self.uvs0 = torch.as_tensor(sphere.uvs, device=self.device)
            self.face_uvs0 = torch.as_tensor(sphere.face_uvs, device=self.device)
            base = self.centre + self.radius * self.unit
            if self.encoder is not None:
                base = self.category_base()
            self.mesh = MeshModel(base, self.faces0, self.uvs0, self.face_uvs0, anchor=self.centre).to(self.device)

    def category_base(self) -> torch.Tensor:
        """The category network's shape for the active views, placed at the silhouette centre and scaled
        to the silhouettes' area (:mod:`.category_start`)."""
        act = torch.as_tensor(self.active, device=self.device)
        cams = self.input_cameras[act]
        base, chosen = category_start_shape(self.encoder, self.images[act], self.masks[act], cams, self.centre,
                                            self.faces0)
        chosen["view"] = self.names[self.active[chosen["view"]]]
        self.start_info = {"kind": "category model (network prediction, not fine-tuned)",
                           "model": str(self.cfg.category_model), **chosen}
        self.progress(0.0, f"starting from the category model's shape for frame {chosen['view']} "
                           f"({self.cfg.category_model}; scale {chosen['scale']:.3f}, silhouette IoU "
                           f"{chosen['start_iou']:.3f})", force=True)
        return base

    def cameras_move(self, st: StageConfig) -> bool:
        """Whether stage ``st`` refines the cameras: the stage asks for it and renders at least at the
        camera trust's ``min_resolution``."""
        return st.cameras and st.resolution >= self.cfg.trust.min_resolution

    def stage(self, st: StageConfig, iterations: int, frac0: float, frac1: float, label: str):
        """Run one stage of the joint fit (``iterations`` steps of :class:`TrainLoop`)."""
        with self.timed(label):
            self._stage(st, iterations, frac0, frac1, label)

    def _stage(self, st: StageConfig, iterations: int, frac0: float, frac1: float, label: str):
        if st.subdivide:
            self.mesh = self.mesh.subdivided()
        use_image = st.image_weight > 0 or st.perceptual_weight > 0
        if use_image and self.cfg.exposure_balance:
            self.balance_exposure(st.resolution, st.texture_size)
        images, masks, size = self.level(st.resolution)
        if use_image:
            tex_size = stage_texture_size(st.texture_size, st.resolution, size)
            self.texture_param = nn.Parameter(self.extract(st.resolution, tex_size).permute(2, 0, 1)
                                              .unsqueeze(0).contiguous())
        targets = images * masks.unsqueeze(-1)
        sil_targets = self.silhouette_targets(st.resolution)
        groups = [{"params": [self.mesh.shift], "lr": st.lr_affine * self.radius},
                  {"params": [self.mesh.log_scale], "lr": st.lr_affine}]
        if st.lr_vertices > 0:
            groups.append({"params": [self.mesh.offsets], "lr": st.lr_vertices * self.radius})
        if use_image:
            groups.append({"params": [self.texture_param], "lr": 0.02})
        trust = self.cfg.trust
        moves = self.cameras_move(st)
        if moves:
            groups.append({"params": [self.rig.rot], "lr": st.lr_cam_rot * trust.lr})
            groups.append({"params": [self.rig.pos], "lr": st.lr_cam_pos * trust.lr})
            if st.lr_cam_orbit > 0 and trust.orbit:
                groups.append({"params": [self.rig.orbit], "lr": st.lr_cam_orbit * trust.lr})
            if self.cfg.refine_focal and trust.focal:  # a log zoom: the same units as the centre shifts
                groups.append({"params": [self.rig.focal.requires_grad_(True)], "lr": st.lr_cam_pos * trust.lr})
        opt = torch.optim.Adam(groups)
        perceptual = self.perceptual() if st.perceptual_weight > 0 else None
        # view -> its photo's perceptual features: the photos are fixed for the stage, and running them through
        # the backbone at every step took 30 % of the perceptual term's time (docs/BENCHMARKS.md)
        photo_features = {}

        def perceptual_targets(views: torch.Tensor) -> list[torch.Tensor]:
            views = views.tolist()
            for v in views:
                if v not in photo_features:
                    photo_features[v] = perceptual.target_features(targets[v:v + 1].permute(0, 3, 1, 2))
            return [torch.cat(layer) for layer in zip(*(photo_features[v] for v in views))]
        chamfer = self.chamfer(st.resolution) if st.chamfer > 0 else None
        active = torch.as_tensor(self.active, device=self.device)
        batch = len(active) if st.views_per_iter <= 0 else min(st.views_per_iter, len(active))
        batches = EpochBatches(len(active), batch, self.gen)
        highpass = IMAGE_LOSSES[self.cfg.image_loss]     # (sigma as a fraction of the image, plain share)

        def step(it: int):
            frac = it / max(1, iterations - 1)
            band = st.band_px[0] * (st.band_px[1] / st.band_px[0]) ** frac
            idx = active[batches.next().to(self.device)]
            cams = self.rig(idx, size)
            if not moves:
                cams = cams.detach()
            verts = self.mesh.vertices()
            out = render(self.mesh, verts, cams, self.texture_param if use_image else None, band)
            sil = silhouette_iou_loss(out.soft_mask, sil_targets[idx]).mean()
            loss = sil
            if st.chamfer > 0:
                loss = loss + st.chamfer * chamfer(cams.project(verts)[0], idx).mean()
            if use_image:
                pred = out.rgb[..., :3] * out.hard_mask.unsqueeze(-1).to(out.rgb.dtype)
                if st.image_weight > 0 and highpass:  # both over a black background
                    loss = loss + st.image_weight * shading_tolerant_l1(pred, targets[idx], highpass[0] * max(size),
                                                                        highpass[1])
                elif st.image_weight > 0:
                    loss = loss + st.image_weight * (pred - targets[idx]).abs().mean()
                if perceptual is not None:  # on a few views only: the backbone dominates the CPU cost
                    k = min(st.perceptual_views, len(idx))
                    loss = loss + st.perceptual_weight * perceptual(pred[:k].permute(0, 3, 1, 2),
                                                                    target_features=perceptual_targets(idx[:k]))
            reg = self.mesh.regularizers(verts)
            loss = loss + st.laplacian * reg["laplacian"] + st.normal * reg["normal"] + st.edge * reg["edge"]
            if moves:
                prior_pos = self.cfg.camera_prior_pos if st.camera_prior_pos is None else st.camera_prior_pos
                pos_w = prior_pos / self.cfg.camera_prior
                loss = loss + trust.prior * self.cfg.camera_prior * self.rig.prior(
                    pos_w, pos_w * self.cfg.camera_prior_focal, scale=self.cfg.camera_prior_scale)
            return loss, {"silhouette": sil}

        def settle_cameras(it: int):
            self.rig.fold_orbit()
            self.rig.fix_gauge(st.pin_object_shift)

        hooks = []
        if moves:
            hooks.append(settle_cameras)
        if use_image:
            hooks.append(self._clamp_texture)
        TrainLoop(opt, should_stop=self.should_stop, progress=self.progress, progress_range=(frac0, frac1),
                  describe=lambda it, info: f"{label}: iteration {it + 1}/{iterations}, "
                                            f"silhouette IoU {1 - float(info['silhouette'].detach()):.3f}",
                  post_step=hooks, label=label).run(step, iterations)

    @torch.no_grad()
    def balance_exposure(self, resolution: int, tex_size):
        """Estimate each view's colour gain from what it and the other views see at the same texels
        (at ``resolution``, on a chart of the stage's ``tex_size`` (H, W), at most 64 x 128: the
        gains are means over the object) and divide it out of the working images
        (:mod:`texforge.texture.exposure`)."""
        self.check()
        size = self.level(resolution)[2]
        tex_size = stage_texture_size(tuple(min(t, c) for t, c in zip(tex_size, (64, 128))), resolution, size)
        photos, masks, _ = resample_views(self.photos, self.masks, resolution)
        depth, hard, _, cams = self.render_all(size)
        verts = self.mesh.vertices()
        pts, nrm, covered = uv_rasterize(verts, self.mesh.faces, self.mesh.uvs, self.mesh.face_uvs,
                                         self.mesh.normals(), tex_size)
        colours = torch.zeros(self.n, *tex_size, 3, device=self.device)
        weights = torch.zeros(self.n, *tex_size, device=self.device)
        colours[:, covered], weights[:, covered] = project_each_view(
            pts[covered], nrm[covered], cams, photos, masks, depth, hard, self.radius, self.cfg.texture_cos_power,
            self.cfg.texture_border_px, self.cfg.texture_erode_px, check=self.check)
        self.log_gains = overlap_log_gains(colours, weights, self.active)
        self.images = balanced(self.photos, self.masks, self.log_gains)
        self.levels = {k: v for k, v in self.levels.items() if not isinstance(k, int)}

    @torch.no_grad()
    def _clamp_texture(self, it: int):
        self.texture_param.clamp_(0, 1)

    def chamfer(self, resolution: int) -> MaskChamfer:
        key = ("chamfer", resolution)
        if key not in self.levels:
            self.levels[key] = MaskChamfer(self.level(resolution)[1], seed=self.cfg.seed)
        return self.levels[key]

    def perceptual(self):
        if not hasattr(self, "_perceptual"):
            try:
                from ...losses.perceptual import PerceptualLoss
                self._perceptual = PerceptualLoss().to(self.device).eval()
                for p in self._perceptual.parameters():
                    p.requires_grad_(False)
            except (ImportError, OSError, RuntimeError) as e:  # backbone unavailable: L1 only
                self.progress(self.progress.last, f"perceptual loss unavailable ({e}); using L1 only", force=True)
                self._perceptual = None
        return self._perceptual

    # -- views and textures ------------------------------------------------------------------
    def view_chunks(self, views: list[int] | torch.Tensor | None = None):
        """``views`` (default all) as index tensors of at most ``eval_views_batch`` views: every
        per-view buffer after the fit is allocated one chunk at a time, so memory does not grow with
        the number of views."""
        views = torch.arange(self.n) if views is None else torch.as_tensor(views)
        views = views.to(self.device)
        step = max(1, int(self.cfg.eval_views_batch))
        return [views[s:s + step] for s in range(0, len(views), step)]

    @torch.no_grad()
    def render_all(self, size, texture=None):
        """Depth (N, H, W), hard mask (N, H, W) and rgb (N, H, W, 3) or None, all views (at the fit's
        sizes only: after the fit, where images are large, the views are rendered chunk by chunk)."""
        cams = self.rig(None, size)
        verts = self.mesh.vertices()
        depth, hard, rgb = [], [], []
        for idx in self.view_chunks():
            out = render(self.mesh, verts, cams[idx], texture, 0.5, soft_mask=False)
            depth.append(out.depth)
            hard.append(out.hard_mask.float())
            if texture is not None:
                rgb.append(out.rgb[..., :3])
        return torch.cat(depth), torch.cat(hard), (torch.cat(rgb) if texture is not None else None), cams

    @torch.no_grad()
    def extract(self, resolution: int, tex_size, views: list[int] | None = None, symmetry=None, photos=None):
        """The texture projected from ``views`` (default the active ones) at ``resolution``, one
        chunk of views rendered at a time; keeps the texel visibility in ``last_visibility``.
        ``photos`` (a :class:`texforge.data.photo_reader.PhotoReader`): read each chunk's photos
        from it at ``resolution`` instead of resampling the working images."""
        if photos is None:
            images, masks, size = self.level(resolution)
            read = lambda idx: (images[idx], masks[idx])
        else:
            size = photos.target(resolution)

            def read(idx):
                im, mk = photos([self.names[i] for i in idx.tolist()], resolution)
                mk = torch.as_tensor(mk, device=self.device)
                return balanced(torch.as_tensor(im, device=self.device), mk, self.log_gains[idx]), mk
        cams = self.rig(None, size)
        verts = self.mesh.vertices()
        chunks = self.view_chunks(self.active if views is None else views)

        def rendered():
            for idx in chunks:
                self.check()
                out = render(self.mesh, verts, cams[idx], None, 0.5, soft_mask=False)
                yield (cams[idx], *read(idx), out.depth, out.hard_mask.float())

        tex, vis = extract_texture_chunked(verts, self.mesh.faces, self.mesh.uvs, self.mesh.face_uvs,
                                           self.mesh.normals(), rendered, tuple(tex_size), self.radius, self.centre,
                                           symmetry, self.cfg.texture_cos_power, self.cfg.texture_border_px,
                                           self.cfg.texture_erode_px)
        self.last_visibility = vis
        return tex

    @torch.no_grad()
    def photo_errors(self, resolution: int = 64, tex_size=(64, 128)) -> torch.Tensor:
        """Leave-one-out colour error per view (N,): the texture the other active views project,
        rendered into the view, against its image (mean L1 inside both silhouettes)."""
        images, masks, size = self.level(resolution)
        depth, hard, _, cams = self.render_all(size)
        verts = self.mesh.vertices()
        pts, nrm, covered = uv_rasterize(verts, self.mesh.faces, self.mesh.uvs, self.mesh.face_uvs,
                                         self.mesh.normals(), tex_size)
        fp, fn = pts[covered], nrm[covered]
        errors = torch.zeros(self.n, device=self.device)
        act = self.active
        for i in act:
            self.check()
            others = torch.as_tensor([j for j in act if j != i], device=self.device)
            col, w = project_colors(fp, fn, cams[others], images[others], masks[others], depth[others],
                                    hard[others], self.radius, self.cfg.texture_cos_power,
                                    self.cfg.texture_border_px, self.cfg.texture_erode_px)
            tex = torch.zeros(*tex_size, 3, device=self.device)
            tex[covered] = col
            known = torch.zeros(*tex_size, dtype=torch.bool, device=self.device)
            known[covered] = w > 1e-6
            tex = push_pull_fill(tex, known) if known.any() else tex + 0.5
            out = render(self.mesh, verts, cams[i:i + 1], tex.permute(2, 0, 1).unsqueeze(0), 0.5, soft_mask=False)
            both = (out.hard_mask[0] > 0.5) & (masks[i] > 0.5)
            if both.sum() > 0:
                errors[i] = (out.rgb[0, ..., :3] - images[i]).abs().sum(-1)[both].mean()
            else:
                errors[i] = float("inf")
        return errors

    def prune_after_fit(self, resolution: int):
        """IoU, neighbour and colour tests on the current fit; returns the newly pruned views."""
        _, masks, size = self.level(resolution)
        with torch.no_grad():
            ious = view_ious(self.mesh, self.rig(None, size), masks)
            cams = self.rig(None)
        act = self.active
        flags = prune_mod.iou_outliers(ious, act, self.cfg.prune_iou_ratio, self.cfg.prune_iou_mad, self.names)
        scores = {i: float(ious[i]) for i in flags}
        nb = {}
        if self.cfg.trust.neighbour is not None:
            nb = prune_mod.neighbour_outliers(cams, self.centre, act,
                                              self.cfg.prune_neighbour_factor * self.cfg.trust.neighbour)
        for i, r in nb.items():
            flags.setdefault(i, r)
            scores.setdefault(i, 0.0)
        errs = self.photo_errors()
        ph = prune_mod.photo_outliers(errs, act, self.cfg.prune_photo_factor, self.names)
        for i, r in ph.items():
            flags.setdefault(i, r)
            scores.setdefault(i, -float(errs[i]))
        return self.prune(flags, scores)

    @torch.no_grad()
    def final_texture(self, photos=None) -> torch.Tensor:
        """The texture projected from the photos at up to the texture's longest side: re-read in
        chunks by ``photos`` (a PhotoReader) where they are larger than the working images (the
        working size may be small for memory; the fit never needs more), else the working images."""
        cfg = self.cfg
        working = max(self.input_cameras.width, self.input_cameras.height)
        cap = max(cfg.texture_size)
        if photos is not None and max(photos.target(cap)) > working:
            return self.extract(cap, cfg.texture_size, symmetry=cfg.symmetry, photos=photos)
        return self.extract(working, cfg.texture_size, symmetry=cfg.symmetry)


def run_multiview(dataset: MultiViewDataset, config: MultiviewConfig | None = None, progress: ProgressFn | None = None,
                  should_stop: ShouldStopFn | None = None, device="cpu", photos=None) -> MultiviewResult:
    """Reconstruct a textured mesh from a multi-view dataset (see the module docstring).

    ``photos``: optional :class:`texforge.data.photo_reader.PhotoReader` of the same frames; the
    final texture then reads them at up to the texture's size (see ``_Run.final_texture``).

    Raises InputError (naming the frame) for unusable input and Cancelled when ``should_stop()``
    returns True; nothing is written by this function. The same seed gives the same result on
    CPU: deterministic algorithms are switched on for the run only and the caller's setting is
    restored afterwards (the pipeline also runs inside Blender's process)."""
    with deterministic():
        return _run_multiview(dataset, config, progress, should_stop, device, photos)


def _run_multiview(dataset, config, progress, should_stop, device, photos=None) -> MultiviewResult:
    cfg = config or MultiviewConfig.preset("small")
    progress = progress or no_progress
    should_stop = should_stop or never_stop
    t_start = time.perf_counter()
    screened = validate_dataset(dataset)
    torch.manual_seed(int(cfg.seed))
    run = _Run(screened, cfg, progress, should_stop, device)
    if cfg.category_model:   # before any work: a wrong model folder is an input error
        with run.timed("category_start"):
            run.encoder = load_encoder(cfg.category_model, cfg.template_segments, cfg.template_rings, device)
    focal_note = ""
    if cfg.refine_focal:
        focal_note = ", focal lengths corrected" if cfg.trust.focal else ", focal lengths kept as calibrated"
    run.progress(0.0, f"multi-view reconstruction of {run.n} views ({cfg.preset_name} preset, {device}, "
                      f"{cfg.camera_trust} cameras{focal_note})", force=True)
    for p in screened.pruned[len(dataset.pruned):]:
        run.progress(0.0, f"pruned frame {p['name']}: {p['reason']}", force=True)
    run.place()
    stages = list(cfg.stages)
    if run.encoder is not None and stages and stages[0].lr_vertices == 0 and len(stages) > 1:
        # The ellipsoid stage only places and stretches the template, which the category start already
        # is; run on it, its regularisers (meant for free offsets) and the soft silhouettes' shrinking
        # bias at 32 px flatten the predicted shape (synthetic hourglass: IoU 0.95 -> 0.67 in 10 steps).
        stages = stages[1:]
        run.start_info["skipped_stages"] = 1
    total = sum(s.iterations for s in stages) + cfg.refine_iterations
    done = 0
    frac = lambda d: 0.85 * d / max(total, 1)
    # the stages before the first subdivision are "coarse": prune after them, then refine
    n_coarse = next((k for k, s in enumerate(stages) if s.subdivide), len(stages))
    align_after = {k % len(stages) for k in cfg.camera_align_after}
    for k, st in enumerate(stages):
        if k == n_coarse and cfg.prune:
            _prune_and_refine(run, stages[max(k - 1, 0)], frac(done), frac(done + cfg.refine_iterations))
            done += cfg.refine_iterations
        run.stage(st, st.iterations, frac(done), frac(done + st.iterations), f"stage {k + 1}/{len(stages)}")
        done += st.iterations
        if cfg.camera_align and run.cameras_move(st) and k in align_after:
            with run.timed(f"camera alignment after stage {k + 1}"):
                align_cameras(run, st.resolution, f"camera alignment after stage {k + 1}")
        _, masks, size = run.level(st.resolution)
        ious = view_ious(run.mesh, run.rig(None, size).detach(), masks, batch=cfg.eval_views_batch)
        run.stage_ious.append({"stage": k + 1 + run.start_info.get("skipped_stages", 0), "iterations_done": done,
                               "train_iou": float(ious[run.active].mean()),
                               "cpu_s": round(sum(run.cpu_timings.values()), 2)})
        if k == 0 and cfg.prune:
            # gross silhouette failures (a wrong image, a garbage mask) before the cameras move: judged
            # on the shapes alone, since an uncorrected camera only a few degrees off (common under
            # Gaussian noise) shifts its silhouette far enough at this size to fail a plain IoU test
            shapes = view_ious(run.mesh, run.rig(None, size).detach(), masks, batch=cfg.eval_views_batch,
                               centred=True)
            flags = prune_mod.iou_outliers(shapes, run.active, cfg.prune_iou_ratio_coarse, cfg.prune_iou_mad,
                                           run.names, what="silhouette IoU (centred on the mask)")
            run.prune(flags, {i: float(shapes[i]) for i in flags})
    if n_coarse == len(stages) and cfg.prune:
        _prune_and_refine(run, stages[-1], frac(done), 0.9)
    with run.timed("inflate"):
        inflated = inflate(run)
    run.progress(0.9, f"surface moved {inflated:+.2f} px along its normals (best hard-mask IoU); "
                      f"extracting the texture by projection", force=True)
    with run.timed("texture"):
        if cfg.exposure_balance:   # once more on the final surface: the best registration the gains get
            run.balance_exposure(eval_resolution(run.cfg), stages[-1].texture_size)
        texture = run.final_texture(photos)
    with run.timed("pseudo_gt"):
        pseudo_gt = pseudo_gt_views(run, cfg.texture_size) if cfg.save_pseudo_gt else None
    with run.timed("evaluate"):
        ious, psnr = per_view_figures(run, texture)
    run.timings["total"] = time.perf_counter() - t_start
    with torch.no_grad():
        cams = run.rig(None).detach().to("cpu")
        verts = run.mesh.vertices().detach().cpu().numpy()
    mesh = TexturedMesh(verts, run.mesh.faces.cpu().numpy(), run.mesh.uvs.cpu().numpy(),
                        run.mesh.face_uvs.cpu().numpy(), texture.cpu().numpy())
    gains = torch.exp(run.log_gains).cpu().tolist()
    per_view = [{"name": run.names[i], "iou": float(ious[i]), "psnr": float(psnr[i]),
                 "pruned": i in run.pruned, "exposure_gain": [round(g, 4) for g in gains[i]]} for i in range(run.n)]
    act = run.active
    metrics = {"train_iou_mean": float(ious[act].mean()), "train_psnr_mean": float(psnr[act].mean()),
               "views": run.n, "views_used": len(act), "vertices": int(verts.shape[0]),
               "faces": int(mesh.faces.shape[0]), "inflate_px": inflated, "start": run.start_info,
               "stage_train_iou": run.stage_ious}
    pruned = screened.pruned + [{"name": run.names[i], "index": i, "reason": r} for i, r in sorted(run.pruned.items())]
    run.progress(1.0, f"done in {run.timings['total']:.0f} s: train IoU {metrics['train_iou_mean']:.3f}, "
                      f"PSNR {metrics['train_psnr_mean']:.1f} dB, {len(pruned)} frames pruned", force=True)
    return MultiviewResult(mesh=mesh, cameras=cams, input_cameras=run.input_cameras.to("cpu"), names=run.names,
                           pruned=pruned, per_view=per_view, timings=dict(run.timings), config=cfg.to_dict(),
                           image_size=(run.input_cameras.width, run.input_cameras.height), metrics=metrics,
                           visibility=run.last_visibility.cpu().numpy(), pseudo_gt=pseudo_gt,
                           cpu_timings=dict(run.cpu_timings))


def _prune_and_refine(run: _Run, st: StageConfig, frac0: float, frac1: float):
    run.progress(frac0, "checking frames (silhouette, neighbours, colours)", force=True)
    with run.timed("prune"):
        new = run.prune_after_fit(st.resolution)
    if new and run.cfg.refine_iterations > 0:
        run.stage(st, run.cfg.refine_iterations, frac0, frac1, "refine after pruning")
