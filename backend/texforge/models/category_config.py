"""Configurations of a category model's networks (issue 11): the reconstruction network and pseudo-map
stages (:class:`CategoryConfig`) and the category GAN (:class:`CategoryGanConfig`), each with the presets
tiny (tests: seconds), small (64 px images, CPU) and full (GPU). A checkpoint stores its config, so the
networks can be rebuilt wherever the model is used."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..training.run_config import DictConfig

# what a checkpoint must agree on to be resumed: the network's shapes and the run's randomness
RECONSTRUCTOR_ARCHITECTURE_FIELDS = ("image_size", "channels", "latent", "deformation_size", "texture_size", "seed",
                       "batch_size", "lr", "ema_decay")


@dataclass
class CategoryConfig(DictConfig):
    """Everything that controls :func:`texforge.pipelines.category.reconstructor.run_train_reconstructor`
    and the pseudo-map stage.

    Losses per training pair (view i encoded, rendered in view i and in another view j of the same object,
    seed 004): ``w_silhouette`` x soft-IoU, ``w_l1`` x L1 of the render over the whole image (background
    included, so colour outside the silhouette costs too), ``w_perceptual`` x EffNet-Lite0 perceptual
    distance (0 switches the backbone off), ``w_laplacian`` / ``w_normal`` x the template's Laplacian
    and face-normal consistency, ``w_camera`` x squared error of the camera head to the known camera.
    ``band_px``: the soft silhouette's half-width in pixels."""

    preset_name: str = "small"
    seed: int = 0
    image_size: int = 64
    channels: int = 32
    latent: int = 256
    deformation_size: tuple[int, int] = (32, 32)
    texture_size: tuple[int, int] = (64, 128)
    symmetric: bool = False           # bilateral symmetry is not implemented by this network yet
    iterations: int = 3000
    batch_size: int = 8
    lr: float = 1e-3
    ema_decay: float = 0.99
    w_silhouette: float = 1.0
    w_l1: float = 1.0
    w_perceptual: float = 0.05
    w_laplacian: float = 0.02
    w_normal: float = 0.01
    w_camera: float = 0.1
    band_px: float = 0.25             # at 32-64 px a wider band lets the mesh shrink inside it (measured)
    checkpoint_every: int = 250
    log_every: int = 50
    # pseudo maps: the texture is projected from all views of an object through the averaged mesh
    pseudo_cos_power: float = 3.0

    @classmethod
    def preset(cls, name: str, **overrides) -> CategoryConfig:
        if name == "tiny":       # tests: a few hundred steps on 32 px images on one core
            cfg = cls(preset_name="tiny", image_size=32, channels=16, latent=128, texture_size=(32, 64),
                      iterations=300, batch_size=4, lr=2e-3, ema_decay=0.9, w_perceptual=0.0,
                      checkpoint_every=50, log_every=10)
        elif name == "small":    # CPU: 64 px images, 64 x 128 textures
            cfg = cls(preset_name="small")
        elif name == "full":     # GPU
            cfg = cls(preset_name="full", image_size=128, channels=64, latent=512, texture_size=(128, 256),
                      iterations=50000, batch_size=32, lr=5e-4, ema_decay=0.999, w_perceptual=0.1,
                      checkpoint_every=2000, log_every=200)
        else:
            raise ValueError(f"unknown category preset {name!r} (tiny, small or full)")
        return dataclasses.replace(cfg, **overrides)



# what a checkpoint must agree on to be resumed: the networks' shapes and the run's randomness
GAN_ARCHITECTURE_FIELDS = ("texture_size", "deformation_size", "symmetry", "latent", "channels", "texture_upsamplings",
                       "min_channels", "attention", "qk_channels", "heads", "deformation_scale", "embedding",
                       "embedding_channels", "uv_receptive_field", "d_channels", "d_max_channels", "image_size",
                       "image_receptive_field", "seed", "batch_size", "d_steps", "lr_g", "lr_d", "betas",
                       "ema_decay", "lambda_uv", "lambda_image")


@dataclass
class CategoryGanConfig(DictConfig):
    """Everything that controls :func:`texforge.pipelines.category.gan.run_train_category_gan` (LSGAN, seed 002).

    ``texture_size`` / ``deformation_size``: the generated maps (pseudo-GT maps of other sizes are
    area-resampled); ``image_size``: the longest side of D_I's renders and real images;
    ``attention`` (none | position | self) and ``embedding`` (none | fixed | learned): the texture
    GAN's switches, in the generator's trunk and in D_uv; ``symmetry`` "x": exact bilateral symmetry
    about x = 0."""

    preset_name: str = "small"
    seed: int = 0
    texture_size: tuple[int, int] = (64, 128)
    deformation_size: tuple[int, int] = (32, 32)
    symmetry: str = "none"
    latent: int = 64
    channels: int = 128
    texture_upsamplings: int = 4
    min_channels: int = 16
    attention: str = "position"
    qk_channels: int = 32
    heads: int = 4
    deformation_scale: float = 1.0
    embedding: str = "learned"
    embedding_channels: int = 8
    uv_receptive_field: float = 8.0
    d_channels: int = 32
    d_max_channels: int = 128
    image_size: int = 64
    image_receptive_field: float = 22.0
    lambda_uv: float = 1.0
    lambda_image: float = 1.0
    iterations: int = 1500
    d_steps: int = 1
    batch_size: int = 8
    lr_g: float = 2e-4
    lr_d: float = 8e-4                # two time-scale rule: measured on synthetic maps (tiny), D at 1x lr
                                      # stayed at chance for hundreds of steps and the shapes drifted
    betas: tuple[float, float] = (0.5, 0.999)
    ema_decay: float = 0.995
    log_every: int = 25
    sample_every: int = 250
    samples: int = 16
    checkpoint_every: int = 250

    @classmethod
    def preset(cls, name: str, **overrides) -> CategoryGanConfig:
        if name == "tiny":       # tests: seconds on one core
            cfg = cls(preset_name="tiny", texture_size=(32, 64), channels=32, texture_upsamplings=3, min_channels=8,
                      qk_channels=8, heads=2, embedding_channels=4, uv_receptive_field=4.0, d_channels=16,
                      d_max_channels=32, image_size=32, image_receptive_field=10.0, iterations=240, batch_size=4,
                      lr_g=2e-4, lr_d=1e-3, ema_decay=0.8, log_every=10, sample_every=80, samples=4,
                      checkpoint_every=80)
        elif name == "small":    # CPU: 64x128 textures, 64 px renders
            cfg = cls(preset_name="small")
        elif name == "full":     # GPU: ConvMesh's sizes
            cfg = cls(preset_name="full", texture_size=(256, 512), channels=512, texture_upsamplings=6,
                      min_channels=32, uv_receptive_field=16.0, d_channels=64, d_max_channels=512, image_size=128,
                      image_receptive_field=46.0, iterations=100000, batch_size=32, ema_decay=0.999,
                      log_every=100, sample_every=2000, checkpoint_every=2000)
        else:
            raise ValueError(f"unknown category GAN preset {name!r} (tiny, small or full)")
        return dataclasses.replace(cfg, **overrides)

