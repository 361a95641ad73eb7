"""texforge.training: the one optimisation loop, safetensors checkpoints that resume bit-for-bit on
CPU, and the EMA of weights."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from torch import nn

from texforge.runtime.errors import Cancelled, InputError
from texforge.training import EMA, CheckpointError, TrainLoop, load_checkpoint, save_checkpoint

N_STEPS, SPLIT = 12, 5


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))
        self.register_buffer("seen", torch.zeros(()))


def make(seed: int):
    """A model, its optimizer (two parameter groups), its EMA and a batch-order generator."""
    torch.manual_seed(seed)
    net = Net()
    opt = torch.optim.Adam([{"params": net.body[0].parameters(), "lr": 1e-2},
                            {"params": net.body[3].parameters(), "lr": 3e-3}])
    return net, opt, EMA(net, decay=0.9), torch.Generator().manual_seed(seed + 100)


def step_fn(net, gen):
    """A loss that draws from every RNG a resumed run must restore: torch (data, dropout), a torch
    Generator (batch order), numpy and Python's random."""
    data = torch.randn(32, 4, generator=torch.Generator().manual_seed(5))  # the data set: fixed

    def step(it):
        idx = torch.randperm(32, generator=gen)[:8]
        x = data[idx] + 0.1 * torch.randn(8, 4) + float(np.random.normal()) + random.random()
        net.seen += 1
        return (net.body(x) - x[:, :2]).pow(2).mean(), {}
    return step


def train(net, opt, ema, gen, start, stop):
    TrainLoop(opt, ema=ema).run(step_fn(net, gen), stop, start=start)


def seed_all(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def test_resume_from_checkpoint_is_bit_for_bit(tmp_path):
    net, opt, ema, gen = make(0)
    seed_all(7)
    train(net, opt, ema, gen, 0, N_STEPS)

    net2, opt2, ema2, gen2 = make(0)
    seed_all(7)
    train(net2, opt2, ema2, gen2, 0, SPLIT)
    path = save_checkpoint(tmp_path / "ckpt.safetensors", {"model": net2}, opt2, step=SPLIT, config={"lr": 1e-2},
                           ema=ema2, generators={"order": gen2}, extra={"stage": "a"})
    # a fresh process would start from other RNG states and other weights
    seed_all(99)
    net3, opt3, ema3, gen3 = make(1)
    assert not torch.equal(net3.body[0].weight, net2.body[0].weight)
    ck = load_checkpoint(path, {"model": net3}, opt3, ema=ema3, generators={"order": gen3})
    assert (ck.step, ck.config, ck.extra) == (SPLIT, {"lr": 1e-2}, {"stage": "a"})
    train(net3, opt3, ema3, gen3, ck.step, N_STEPS)

    for (name, a), b in zip(net.state_dict().items(), net3.state_dict().values()):
        assert torch.equal(a, b), name
    for name in ema.shadow:
        assert torch.equal(ema.shadow[name], ema3.shadow[name]), name
    assert torch.equal(opt.state_dict()["state"][0]["exp_avg"], opt3.state_dict()["state"][0]["exp_avg"])
    # without restoring the RNG states the continuation differs: the test would catch a lost state
    net4, opt4, ema4, gen4 = make(1)
    load_checkpoint(path, {"model": net4}, opt4, ema=ema4, generators={"order": gen4}, restore_rng=False)
    train(net4, opt4, ema4, gen4, SPLIT, N_STEPS)
    assert not torch.equal(net4.body[0].weight, net.body[0].weight)


def test_checkpoint_header_is_json_with_config_step_and_rng(tmp_path):
    from safetensors import safe_open

    net, opt, ema, gen = make(0)
    path = save_checkpoint(tmp_path / "c.safetensors", {"model": net}, opt, step=3, config={"preset": "tiny"})
    with safe_open(str(path), framework="pt") as f:
        header = json.loads(f.metadata()["texforge"])
        keys = set(f.keys())
    assert header["format"] == "texforge-checkpoint" and header["step"] == 3 and header["config"] == {"preset": "tiny"}
    assert header["optimizer"]["class"] == "Adam" and len(header["optimizer"]["param_groups"]) == 2
    assert {"rng.torch", "rng.numpy", "module.model.body.0.weight", "module.model.seen"} <= keys
    assert header["rng"]["python"][0] == 3


@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing"])
def test_corrupt_checkpoint_is_a_clear_error_and_changes_nothing(tmp_path, damage):
    net, opt, ema, gen = make(0)
    path = save_checkpoint(tmp_path / "c.safetensors", {"model": net}, opt, step=1)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint at all" * 10)
    else:
        path.unlink()
    fresh, opt2, _, _ = make(1)
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    with pytest.raises(CheckpointError, match="c.safetensors") as err:
        load_checkpoint(path, {"model": fresh}, opt2)
    assert isinstance(err.value, InputError)
    assert all(torch.equal(before[k], v) for k, v in fresh.state_dict().items())


def test_mismatched_checkpoint_names_what_differs_and_changes_nothing(tmp_path):
    net, opt, ema, gen = make(0)
    path = save_checkpoint(tmp_path / "c.safetensors", {"model": net}, opt, step=1, ema=ema)
    other = nn.Sequential(nn.Linear(4, 8))
    with pytest.raises(CheckpointError, match="does not match module 'model'"):
        load_checkpoint(path, {"model": other})
    wide = Net()
    wide.body[0] = nn.Linear(4, 16, bias=True)
    wide.body[3] = nn.Linear(16, 3)
    before = wide.body[0].weight.detach().clone()
    with pytest.raises(CheckpointError, match=r"body\.3\.weight is \(2, 16\).*\(3, 16\)"):
        load_checkpoint(path, {"model": wide})
    assert torch.equal(wide.body[0].weight, before)  # checked before anything was loaded
    with pytest.raises(CheckpointError, match="SGD"):
        load_checkpoint(path, {"model": Net()}, torch.optim.SGD(Net().parameters(), lr=0.1))
    with pytest.raises(CheckpointError, match="no module 'encoder'"):
        load_checkpoint(path, {"encoder": Net()})


def test_ema_follows_the_weights():
    lin = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        lin.weight.fill_(1.0)
    ema = EMA(lin, decay=0.75)
    for value in (2.0, 4.0):
        with torch.no_grad():
            lin.weight.fill_(value)
        ema.update()
    # 1 -> 0.75 * 1 + 0.25 * 2 = 1.25 -> 0.75 * 1.25 + 0.25 * 4 = 1.9375
    assert float(ema.shadow["weight"]) == pytest.approx(1.9375, abs=1e-7)
    with ema.applied():
        assert float(lin.weight.detach()) == pytest.approx(1.9375, abs=1e-7)
    assert float(lin.weight.detach()) == 4.0
    with pytest.raises(ValueError, match="decay"):
        EMA(lin, decay=1.0)


def test_loop_order_stop_check_and_finite_guard():
    p = nn.Parameter(torch.tensor([1.0]))
    opt = torch.optim.SGD([p], lr=0.5)
    events, messages = [], []

    def step(it):
        events.append(("step", it))
        return (p ** 2).sum(), {"value": it}

    loop = TrainLoop(opt, progress=lambda f, m: messages.append((f, m)), progress_range=(0.5, 1.0),
                     describe=lambda it, info: f"it {info['value']}", post_step=[lambda it: events.append(("hook", it))])
    res = loop.run(step, 2)
    assert events == [("step", 0), ("hook", 0), ("step", 1), ("hook", 1)]
    assert messages == [(0.75, "it 0"), (1.0, "it 1")]
    assert float(p.detach()) == pytest.approx(0.0) and res.steps == 2 and res.next_iteration == 2
    assert res.last_loss == pytest.approx(0.0)  # loss of the last step (p was 0 after the first update)

    # should_stop is polled before any work of an iteration
    calls = iter([False, True])
    with pytest.raises(Cancelled):
        TrainLoop(opt, should_stop=lambda: next(calls)).run(step, 5)
    assert events[-1] == ("step", 0)

    # a non-finite loss stops the loop before the update, naming the stage and iteration
    with torch.no_grad():
        p.fill_(1.0)
    with pytest.raises(FloatingPointError, match="stage 2: the loss became nan at iteration 3"):
        TrainLoop(opt, label="stage 2").run(lambda it: (p * float("nan") if it == 3 else p).sum(), 5)
    assert torch.isfinite(p).all()


def test_epoch_batches_cover_each_item_once_per_epoch_and_follow_the_seed():
    from texforge.training import EpochBatches

    b = EpochBatches(10, 3, torch.Generator().manual_seed(4))
    epoch = torch.cat([b.next() for _ in range(3)])
    assert len(set(epoch.tolist())) == 9           # three distinct batches; the short tail is skipped
    after = b.next()
    assert len(set(after.tolist())) == 3 and b.pos == 3  # a new permutation started
    again = EpochBatches(10, 3, torch.Generator().manual_seed(4))
    assert torch.equal(torch.cat([again.next() for _ in range(4)]), torch.cat([epoch, after]))
    with pytest.raises(ValueError, match="batch size"):
        EpochBatches(4, 5, torch.Generator())
