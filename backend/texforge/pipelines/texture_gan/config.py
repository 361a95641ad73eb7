"""Configuration of the texture GAN (seed 000, 3.2 and 4.3) with the presets tiny / small / full and
the ablation switches (attention none / position / self, discriminator embedding none / fixed / learned)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ...training.run_config import DictConfig

# what a checkpoint must agree on to be resumed: the networks' shapes and the run's randomness
ARCHITECTURE_FIELDS = ("texture_size", "symmetry", "latent", "channels", "upsamplings", "min_channels",
                       "attention", "qk_channels", "heads", "embedding", "embedding_channels",
                       "receptive_field", "d_channels", "d_max_channels", "seed", "batch_size", "d_steps",
                       "lr_g", "lr_d", "betas", "ema_decay", "augment", "loss")


@dataclass
class TextureGANConfig(DictConfig):
    """Everything that controls :func:`texforge.pipelines.texture_gan.run_texture_gan`.

    ``texture_size`` (H, W): the GAN's texture; pseudo-GT textures of another size are area-resampled
    to it. ``receptive_field``: the first discriminator scale's in texels (seed 000: 16 at 512 px wide,
    32 for the second scale; presets scale it with the width). ``loss``: "hinge" (the recipe's: with tens
    of training textures the discriminator soon classifies them confidently, and the hinge stops pushing
    on patches beyond the margin instead of growing quadratically as LSGAN does) or "lsgan"."""

    preset_name: str = "small"
    seed: int = 0
    texture_size: tuple[int, int] = (64, 128)
    symmetry: str = "none"            # "width": generate the left half and mirror it
    latent: int = 64
    channels: int = 64                # the seed's 512 / 8
    upsamplings: int = 4
    min_channels: int = 16
    attention: str = "position"       # none | position | self
    qk_channels: int = 32
    heads: int = 4
    embedding: str = "learned"        # none | fixed | learned
    embedding_channels: int = 8
    receptive_field: float = 8.0
    d_channels: int = 32
    d_max_channels: int = 128
    loss: str = "hinge"
    iterations: int = 2000            # generator steps
    d_steps: int = 2                  # discriminator steps per generator step (recipe)
    batch_size: int = 8
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    betas: tuple[float, float] = (0.0, 0.9)
    ema_decay: float = 0.995          # the recipe's 0.999 averages over more steps than a CPU run takes
    augment: bool = True              # DiffAugment colour + translation on real and fake alike
    translate: float = 0.0625         # largest shift, as a fraction of the texture side
    log_every: int = 50
    sample_every: int = 500
    samples: int = 8                  # textures per sample grid (fixed latents)
    checkpoint_every: int = 500
    # best-texture search (EMA generator fixed): best of N random latents, then Adam on z
    search_candidates: int = 64
    search_steps: int = 100
    search_lr: float = 0.05
    search_perceptual: float = 0.1    # weight of the EffNet-Lite0 perceptual term next to the L1
    search_prior: float = 1e-3        # |z|^2 / 2: keeps z where the generator was trained
    variations: int = 4
    # seeds the search's candidates and the variations (None: seed + 2). Not an architecture field: a
    # trained checkpoint gives new variations for a new variation_seed without training again
    variation_seed: int | None = None

    @classmethod
    def preset(cls, name: str, **overrides) -> TextureGANConfig:
        if name == "tiny":       # tests: seconds on one core
            cfg = cls(preset_name="tiny", texture_size=(16, 32), channels=32, upsamplings=2, min_channels=8,
                      qk_channels=8, heads=2, embedding_channels=4, receptive_field=4.0, d_channels=8,
                      d_max_channels=16, iterations=150, batch_size=4, d_steps=1, lr_g=1e-3, lr_d=4e-3, ema_decay=0.9, log_every=5,
                      sample_every=20, samples=4, checkpoint_every=20, search_candidates=8, search_steps=20,
                      search_perceptual=0.0, variations=2)
        elif name == "small":    # CPU: half texture 64x128 in the seed's layout, channels / 8
            cfg = cls(preset_name="small")
        elif name == "full":     # GPU, the seed's sizes: 512 x 512 from a 4 x 8 map, 6 upsamplings
            cfg = cls(preset_name="full", texture_size=(256, 512), channels=512, upsamplings=6, min_channels=32,
                      receptive_field=16.0, d_channels=64, d_max_channels=512, iterations=100000, batch_size=32,
                      ema_decay=0.999, log_every=100, sample_every=2000, checkpoint_every=2000,
                      search_candidates=500, search_steps=200)
        else:
            raise ValueError(f"unknown texture GAN preset {name!r} (tiny, small or full)")
        return dataclasses.replace(cfg, **overrides)

