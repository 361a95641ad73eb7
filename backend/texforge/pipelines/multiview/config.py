"""Configuration of the multi-view reconstruction pipeline, with the presets tiny / small / full."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass
class StageConfig:
    """One coarse-to-fine stage of the joint fit.

    ``subdivide``: midpoint-subdivide the mesh before the stage. ``resolution``: longest image side the
    stage renders at (images/masks are area-downsampled). ``band_px``: soft-silhouette half-width in
    pixels at the start and end of the stage (sigmainv is derived from it per resolution and annealed
    geometrically from wide to sharp). ``views_per_iter``: minibatch of views (0 = all).
    ``cameras``: refine camera corrections in this stage. ``image_weight``: weight of the masked L1
    image loss (0 = silhouette only). ``texture_size``: (H, W) of the texture learned by gradient in
    this stage (only used for the image loss; the final texture is extracted by projection).
    """

    iterations: int = 100
    resolution: int = 64
    subdivide: bool = False
    band_px: tuple[float, float] = (2.0, 0.5)
    views_per_iter: int = 0
    cameras: bool = True
    image_weight: float = 1.0
    perceptual_weight: float = 0.0
    perceptual_views: int = 2      # views per iteration that get the perceptual term
    chamfer: float = 0.0           # mask-Chamfer weight (global pull towards the silhouettes)
    texture_size: tuple[int, int] = (64, 128)
    lr_vertices: float = 0.004     # relative to the object radius (0: offsets frozen)
    lr_affine: float = 0.01        # global shift (relative to the radius) and per-axis log-scale
    lr_cam_rot: float = 0.003      # radians
    # relative to the mean camera distance; slower than rotation so that image shifts are first
    # explained by rotations (a shift costs the same rotation angle as relative translation)
    lr_cam_pos: float = 0.001
    # each camera's orbit about the object centre (radians; 0: none): the motion only the texture sees
    # on a near-symmetric object (texforge.cameras.rig); the presets use it where images are >= 128 px
    lr_cam_orbit: float = 0.0
    laplacian: float = 2.0
    normal: float = 0.02
    edge: float = 0.02
    camera_prior_pos: float | None = None   # this stage's centre-shift prior (None: the config's)
    # keep the cameras' mean pointing along the rig's weak axis (CameraRig.fix_gauge): the fit drifts
    # along that near-null "object shift" mode (a ring pitching together as the object rises); the
    # small and full presets leave it free in their last stage (FREE_PITCH)
    pin_object_shift: bool = True


# orbit steps (StageConfig.lr_cam_orbit) in the stages at 128 px and finer: 0.001 corrects the barrel
# and fruit further but loses on the bottle, whose plain side says nothing about an orbit, and 0.002
# broke it (docs/BENCHMARKS.md, "Orbit steps")
ORBIT_LR = 0.0005

# the last stage leaves the ring-pitch mode (StageConfig.pin_object_shift) to the photos. Earlier stages
# pin it: their drift along it follows the coarse mesh's shape error. But a pin keeps the input rig's
# mean pitch error, which the photos tell better once the mesh is fine: raw held-out PSNR +0.43 dB on
# average over twelve noisy scenes, none worse by more than 0.03 dB; freeing both 128 px stages gained
# as much on average but lost 0.34 dB on two scenes (small preset; docs/BENCHMARKS.md, "What a perfect
# camera correction would score"). The full preset at 128 px: +0.49 dB raw and +0.32 dB aligned over eight
# scenes, but from -0.67 to +2.04 dB, and a worse rotation ratio (docs/BENCHMARKS.md, "The full preset
# with the ring pitch freed")
FREE_PITCH = dict(pin_object_shift=False)


@dataclass(frozen=True)
class CameraTrust:
    """How far a fit may move the input cameras, as factors on the approximate (default) settings.

    ``lr``: camera learning rates; ``prior``: weight of the rig prior (rotation and centre alike);
    ``neighbour``: tolerance of the neighbour test of ordered sequences (None: no neighbour test);
    ``min_resolution``: stages that render smaller images leave the cameras where they are;
    ``orbit``: whether the stages' orbit steps (``StageConfig.lr_cam_orbit``) run; ``focal``: whether
    ``MultiviewConfig.refine_focal`` may correct the focal lengths (calibrated intrinsics are kept).
    Calibrated cameras (COLMAP, a photogrammetry tool) are better than anything silhouettes of a
    coarse mesh can tell: left free, a long fit moves them along the near-null modes and makes the
    held-out figures worse than frozen cameras (issue 13), so they move slowly within a tight prior
    and are never judged by their neighbours. Nor do they move in stages below 128 px: a pixel there
    spans a degree or more, far coarser than a calibration, and on the development capture any
    refinement at the tiny preset's 64 px (even its last stage alone) cost 0.1-0.3 dB against frozen
    cameras. Nor do they take orbit steps: the orbit is a coordinate the rig prior does not see until
    it is folded into the corrections, so each step moves a camera by its full learning rate whatever
    the prior. On the development capture at the full preset (256 px) they cost 0.34 dB against frozen
    cameras, and without them calibrated refinement came out 0.15 dB above frozen (since the stages'
    textures follow their images, within 0.05 dB of it); at the small preset it is within 0.01 dB of
    frozen (docs/BENCHMARKS.md). Orbit steps are there to undo turns of degrees about a symmetry axis,
    which calibrated cameras do not have.
    Rough cameras (placed by hand, a turntable) get a looser prior and a more tolerant neighbour test."""

    lr: float = 1.0
    prior: float = 1.0
    neighbour: float | None = 1.0
    min_resolution: int = 0
    orbit: bool = True
    focal: bool = True


CAMERA_TRUST = {
    # spot with exact cameras (scripts/bench_framing.py, docs/BENCHMARKS.md): lr 0.1 / prior 100 still
    # moved them 0.38 deg (tiny preset); these keep them within 0.07 deg, and at the small preset
    # match frozen cameras where "approximate" drifts 0.5 deg and loses 0.03 held-out IoU
    "calibrated": CameraTrust(lr=0.05, prior=1e5, neighbour=None, min_resolution=128, orbit=False,
                              focal=False),
    "approximate": CameraTrust(),
    "rough": CameraTrust(lr=1.5, prior=0.25, neighbour=1.5),
}


# The fit's image losses (MultiviewConfig.image_loss): None, the plain L1; or the sigma of the Gaussian
# whose blur is taken off both images, as a fraction of the stage's longest image side, and the share of
# the plain L1 kept beside the high-pass one (texforge.losses.shading). Under a key light that follows
# the camera (a turntable under fixed lamps, a flash) the plain loss lets the camera corrections trade
# shading around; "detail" took the rotation error ratio from 1.06 to 0.36 (fruit), 0.41 to 0.26
# (barrel), 0.67 to 0.46 (bottle), 0.34 to 0.34 (spot). Under fixed lamps the four scenes came out even
# on average (ratio 0.36 -> 0.35, raw PSNR -0.1 dB, aligned +0.1 dB: fruit worse, barrel and bottle
# better; docs/BENCHMARKS.md, "Lamps that move with the camera"), so it is the default.
IMAGE_LOSSES = {"detail": (0.03, 0.25), "plain": None}


@dataclass
class MultiviewConfig:
    """Everything that controls :func:`texforge.pipelines.multiview.run_multiview`."""

    preset_name: str = "small"   # (the classmethod preset() builds a config by name)
    seed: int = 0
    template_segments: int = 32
    template_rings: int = 16
    stages: list[StageConfig] = field(default_factory=list)
    # refinement after pruning (the last stage config is reused with these many iterations)
    refine_iterations: int = 60
    # Priors on the rotation corrections (rad^2) and the centre corrections (relative distance^2; both
    # squared up to camera_prior_scale, below). A turn and a sideways shift move the object's image alike,
    # so what the photos cannot attribute (an orbit seen on a plain side of a near-symmetric object) is
    # split between them in the ratio of these weights. Equal weights split it evenly, as a degree of turn
    # and a 1.7 % shift are equally likely; the rotation prior was 1e-3, which put all of it on the turn
    # (nine near-symmetric scenes: mean rotation error ratio 0.43 -> 0.38, raw held-out IoU 0.918 ->
    # 0.923; spot level; docs/BENCHMARKS.md, "An even rotation prior")
    camera_prior: float = 1.0
    camera_prior_pos: float = 1.0
    # Each camera's rotation and centre corrections cost r^2 up to this size (rad; fraction of the
    # distance) and only about 2 x scale x r beyond it (CameraRig.prior; None: r^2 everywhere). The images'
    # pull on a camera is bounded, so under r^2 a camera that heavy-tailed noise put far off stops partway
    # back. The small preset takes 0.1: over 25 near-symmetric and spot scenes (Gaussian and Student-t
    # noise) raw held-out PSNR +0.19 dB, aligned +0.29 dB, rotation ratio -0.018; on the five Student-t
    # scenes +0.52 dB raw. Over eight of those scenes the full preset (a longer schedule, finer stages) lost
    # with it (raw -0.82 dB, aligned -0.53) and the tiny preset too (aligned -0.18 dB), for reasons not
    # looked into (docs/BENCHMARKS.md, "A robust rig prior"), so the default stays squared.
    camera_prior_scale: float | None = None
    # Correct each camera's focal length too (CameraRig.focal; never for calibrated cameras), under an L2
    # prior on the log zoom of ``camera_prior_focal`` x the centre prior. A zoom and a move along the
    # viewing axis change the image alike (only perspective tells them apart), so that ratio decides how
    # a change of scale is split; even, as for the turn and the shift. Off by default: on the
    # near-symmetric scenes with 10 % focal noise it gained 1.0 dB of raw held-out PSNR (3 %: 0.3 dB),
    # but with exact focal lengths it cost 0.26 dB on average, 0.7 on the bottle (docs/BENCHMARKS.md,
    # "Focal-length noise").
    refine_focal: bool = False
    camera_prior_focal: float = 1.0
    camera_trust: str = "approximate"   # "calibrated" | "approximate" | "rough": see CAMERA_TRUST
    # exposure: before every stage that fits colours, each view's colour gain against what the other
    # views see is estimated and divided out of its photo (texforge.texture.exposure; photos of mixed
    # exposure otherwise bend the cameras and get pruned)
    exposure_balance: bool = True
    # the fit's image loss (a key of IMAGE_LOSSES): "detail", the L1 of the photos' high-pass parts plus a
    # quarter of the plain L1, which lamps that move with the camera do not pull around; "plain", the L1
    image_loss: str = "detail"
    # camera alignment through the texture (see .align): after the stages listed in
    # camera_align_after (0-based; negative counts from the end), every view's camera is corrected
    # against the colours the other views project onto the frozen mesh (silhouettes cannot see a
    # turn about a near-symmetry axis); camera_align False switches it off
    camera_align: bool = False
    camera_align_after: tuple[int, ...] = (-1,)
    camera_align_rounds: int = 1
    camera_align_steps: int = 12
    camera_align_max_resolution: int = 64   # the finest round's image size (cost: 13 renders a step)
    camera_align_texture_size: tuple[int, int] = (128, 256)
    camera_align_photo: float = 100.0    # colour term weight (the soft-silhouette loss has weight 1)
    camera_align_silhouette: float = 1.0   # soft-silhouette term weight
    camera_align_robust: float = 0.05    # Charbonnier epsilon of the colour difference (RGB distance)
    camera_align_relax: float = 1.0      # fraction of the Gauss-Newton step taken
    camera_align_damping: float = 1e-4   # Levenberg-Marquardt damping relative to the mean curvature
    camera_align_max_step: float = 0.02  # largest change of one correction per step (rad / distance)
    # pruning
    prune: bool = True
    prune_iou_ratio_coarse: float = 0.6   # IoU below this x median after the first stage -> pruned ...
    prune_iou_ratio: float = 0.8    # ... after the coarse stages (cameras refined) ...
    prune_iou_mad: float = 6.0      # ... and below median - k * MAD
    prune_neighbour_factor: float = 1.5   # ordered sequences: direction error > max(60 deg, k x median step)
    # photometric (leave-one-out colour) error above k x median -> pruned: for gross failures only. After
    # the coarse stages the cameras have not yet been turned about a near-symmetry axis (orbit steps run
    # at 128 px), and good views still a few degrees off reached 3.08 x (bottle, Gaussian seed 0) and
    # 4.37 x (fruit, seed 1, a camera 4.6 deg off): pruning them cost 3.7 dB and 1.2 dB of held-out
    # PSNR. Frames flipped by 180 degrees reach only 1.7-3.5 x (neighbour test off); the neighbour and
    # IoU tests are what catch those (docs/BENCHMARKS.md, "Lamps that move with the camera", "An even
    # rotation prior")
    prune_photo_factor: float = 6.0
    max_prune_fraction: float = 0.34
    # the soft silhouettes are fitted to the masks grown by this many pixels (of each stage's size).
    # Fitted to the masks themselves, the surface ends ~0.7 px too small (the soft mask reaches 0.5
    # outside the hard edge; the Laplacian shrinks it further): the inflation search below found
    # 0.69-0.76 px on the near-symmetric scenes. Colours rendered from a surface that small sit at
    # different places in views that see them from either side, and where the texture is uneven that
    # turns cameras about the object's axis. Grown by 0.6 px, the search finds 0.00-0.07 px, and on nine
    # near-symmetric scenes the mean rotation error ratio fell from 0.38 to 0.32 (docs/BENCHMARKS.md,
    # "Silhouettes fitted to grown masks")
    silhouette_grow_px: float = 0.6
    # after the fit: search (lo, hi, evaluations) pixels (at the evaluation size) of offset along the
    # normals for the best hard-mask IoU of the training views (evaluations 0: off); see after_fit.inflate
    inflate_search_px: tuple[float, float, int] = (-0.5, 1.5, 9)
    # final texture
    texture_size: tuple[int, int] = (512, 1024)   # (H, W): the sphere's UV chart is twice as wide as tall
    texture_cos_power: float = 3.0
    texture_border_px: float = 2.0    # weight ramps up over this many pixels inside the silhouette
    texture_erode_px: int = 1
    symmetry: str | None = None       # None or "x" | "y" | "z": mirror plane through the object centre
    save_pseudo_gt: bool = True       # per-view textures (pseudo_gt.safetensors) for training without the photos
    # the steps after the fit (inflation search, per-view figures) render at most this longest side
    # (0: the finest stage's resolution), 2x supersampled, and handle views in chunks of
    # eval_views_batch (texture projection too): their time and memory stay a fraction of the fit's
    # whatever the photos' size and number
    eval_max_size: int = 0
    eval_views_batch: int = 8
    # a category-model folder (scripts/train_category.py): the fit starts from its reconstruction network's
    # shape for the input views instead of the sphere (.category_start; the network is not fine-tuned)
    category_model: str | None = None

    def __post_init__(self):
        if self.camera_trust not in CAMERA_TRUST:
            raise ValueError(f"unknown camera trust {self.camera_trust!r}; expected one of "
                             f"{', '.join(CAMERA_TRUST)}")
        if self.image_loss not in IMAGE_LOSSES:
            raise ValueError(f"unknown image loss {self.image_loss!r}; expected one of {', '.join(IMAGE_LOSSES)}")

    @property
    def trust(self) -> CameraTrust:
        return CAMERA_TRUST[self.camera_trust]

    # -- presets -------------------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str, **overrides) -> MultiviewConfig:
        # Stage 1 is an ellipsoid fit (offsets frozen) with the cameras, pulled globally by the mask
        # Chamfer term; later stages free the vertices, add the image loss and go finer.
        ellipsoid = dict(lr_vertices=0.0, lr_affine=0.03, chamfer=1.0, image_weight=0.0, band_px=(0.7, 0.5),
                         cameras=False)
        if name == "tiny":
            cfg = cls(preset_name="tiny", refine_iterations=20, texture_size=(128, 256), stages=[
                StageConfig(iterations=25, resolution=32, **ellipsoid),
                StageConfig(iterations=50, resolution=48, chamfer=0.3, band_px=(0.7, 0.5), texture_size=(32, 64)),
                StageConfig(iterations=30, resolution=64, subdivide=True, band_px=(0.6, 0.4), views_per_iter=5,
                            texture_size=(64, 128), laplacian=1.0, normal=0.01),
            ])
        elif name == "small":
            cfg = cls(preset_name="small", texture_size=(512, 1024), refine_iterations=150, stages=[
                StageConfig(iterations=80, resolution=32, **ellipsoid),
                # stages 2-3 at 330 / 350 iterations (were 400 / 400): 24 views at 128 px in 114 s on two
                # idle cores, held-out figures within +-0.003 IoU (docs/BENCHMARKS.md, speed section)
                StageConfig(iterations=330, resolution=64, chamfer=0.3, band_px=(0.7, 0.5), texture_size=(64, 128)),
                # the perceptual term's gradient also reaches the cameras, mostly as noise that drowns
                # their orbit signal; kept off them, the fruit and the barrel gained on one noise draw
                # and the bottle lost 0.18 of ratio (docs/BENCHMARKS.md, "What moves the orbit")
                StageConfig(iterations=350, resolution=128, subdivide=True, band_px=(0.6, 0.35),
                            views_per_iter=12, texture_size=(128, 256), laplacian=1.0, normal=0.01,
                            perceptual_weight=0.1, lr_cam_orbit=ORBIT_LR),
                # one more subdivision with a weaker Laplacian: thin parts (ears, legs) and a
                # better-conditioned camera fit (spot24: rotation ratio 0.37 -> 0.26, Chamfer 0.69 -> 0.39 %)
                StageConfig(iterations=200, resolution=128, subdivide=True, band_px=(0.45, 0.35),
                            views_per_iter=12, texture_size=(128, 256), laplacian=0.3, normal=0.005,
                            lr_vertices=0.002, lr_cam_orbit=ORBIT_LR, **FREE_PITCH),
            ], camera_prior_scale=0.1)
        elif name == "full":
            cfg = cls(preset_name="full", texture_size=(1024, 2048), refine_iterations=300, stages=[
                StageConfig(iterations=150, resolution=32, **ellipsoid),
                StageConfig(iterations=300, resolution=64, chamfer=0.3, band_px=(0.7, 0.5), texture_size=(64, 128)),
                StageConfig(iterations=300, resolution=128, band_px=(0.7, 0.5), texture_size=(128, 256),
                            lr_cam_orbit=ORBIT_LR),
                StageConfig(iterations=400, resolution=256, subdivide=True, band_px=(0.7, 0.4),
                            views_per_iter=16, texture_size=(256, 512), laplacian=1.0, normal=0.01,
                            perceptual_weight=0.1, lr_cam_orbit=ORBIT_LR),
                StageConfig(iterations=400, resolution=512, subdivide=True, band_px=(0.7, 0.4),
                            views_per_iter=8, texture_size=(512, 1024), laplacian=0.5, normal=0.005,
                            perceptual_weight=0.1, lr_cam_orbit=ORBIT_LR, **FREE_PITCH),
            ])
        else:
            raise ValueError(f"unknown multi-view preset {name!r}; expected 'tiny', 'small' or 'full'")
        return dataclasses.replace(cfg, **overrides) if overrides else cfg

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def scaled(self, factor: float) -> MultiviewConfig:
        """The same config with every stage's and the refinement's iterations times ``factor`` (at least
        one each): a shorter schedule for a fit that starts close to the answer (a category model)."""
        n = lambda k: max(1, round(k * factor))  # noqa: E731
        return dataclasses.replace(self, refine_iterations=n(self.refine_iterations),
                                   stages=[dataclasses.replace(s, iterations=n(s.iterations)) for s in self.stages])
