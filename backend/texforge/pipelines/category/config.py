"""Configuration of a category model's reconstruction network and pseudo-map stages (issue 11), with
the presets tiny (tests: seconds), small (64 px images, CPU) and full (GPU)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# what a checkpoint must agree on to be resumed: the network's shapes and the run's randomness
ARCHITECTURE_FIELDS = ("image_size", "channels", "latent", "deformation_size", "texture_size", "seed",
                       "batch_size", "lr", "ema_decay")


@dataclass
class CategoryConfig:
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

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> CategoryConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in known})
