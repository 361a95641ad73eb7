"""Configuration of single-image GAN inversion, with the ablation switches of seed 002's Table 4."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

MASK_LOSSES = ("chamfer", "iou")
TEXTURE_LOSSES = ("chamfer", "l1", "none")
FEATURE_LOSSES = ("chamfer", "none")


@dataclass
class InversionConfig:
    """Everything that controls :func:`texforge.pipelines.inversion.run_inversion`.

    The schedule is the seed's: best of ``candidates`` random latents, then ``stages`` x ``steps`` Adam
    steps whose learning rates fall geometrically from ``*_lr[0]`` to ``*_lr[1]``. Weights: mask 10,
    pixel texture 1, feature texture 0.04, latent prior 0.05 (the seed's), smoothness (face-normal
    consistency). Switches (seed 002, Table 4): ``mask_loss`` chamfer | iou, ``texture_loss`` chamfer |
    l1 | none, ``feature_loss`` chamfer | none, ``camera`` finetune | fixed."""

    preset_name: str = "small"
    seed: int = 0
    size: int = 64                    # the photo's longest side while fitting
    candidates: int = 50              # best-of-N latent initialisation (the seed: 500)
    camera_candidates: int = 12       # azimuths searched when no camera is given
    stages: int = 4
    steps: int = 15                   # per stage (the seed: 50)
    latent_lr: tuple[float, float] = (0.1, 0.005)
    camera_lr: tuple[float, float] = (1e-2, 5e-4)
    mask_loss: str = "chamfer"
    texture_loss: str = "chamfer"
    feature_loss: str = "chamfer"
    camera: str = "finetune"
    w_mask: float = 10.0
    w_texture: float = 1.0
    w_feature: float = 0.04
    w_prior: float = 0.05
    w_smooth: float = 0.1
    w_camera_prior: float = 1.0       # keeps the fine-tuned camera near its start (a few degrees)
    points: int = 2048                # sampled points per image for the Chamfer texture loss (the seed: 8192)
    mask_points: int = 1024

    def validate(self) -> None:
        for name, allowed in (("mask_loss", MASK_LOSSES), ("texture_loss", TEXTURE_LOSSES),
                              ("feature_loss", FEATURE_LOSSES), ("camera", ("finetune", "fixed"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, not {getattr(self, name)!r}")
        if self.size < 16 or self.candidates < 1 or self.stages < 1 or self.steps < 0:
            raise ValueError("size >= 16, candidates >= 1, stages >= 1 and steps >= 0 are required")


PRESETS = {
    "tiny": dict(size=48, candidates=16, camera_candidates=8, stages=2, steps=10, points=512, mask_points=512,
                 feature_loss="none"),
    "small": dict(),
    "full": dict(size=128, candidates=500, camera_candidates=24, steps=50, points=8192),
}


def preset(name: str = "small", **overrides) -> InversionConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    config = dataclasses.replace(InversionConfig(), preset_name=name, **PRESETS[name])
    config = dataclasses.replace(config, **overrides)
    config.validate()
    return config
