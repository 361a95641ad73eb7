"""texforge.runtime: the progress throttle, the determinism scope and the Ctrl-C adapter."""

from __future__ import annotations

import contextlib
import os
import signal
import threading

import pytest
import torch

from texforge.runtime.determinism import deterministic, lstsq
from texforge.runtime.interrupt import SigintStop
from texforge.runtime.progress import ProgressThrottle


def test_throttle_forwards_one_call_per_step_and_every_forced_one():
    seen = []
    p = ProgressThrottle(lambda f, m: seen.append((f, m)), step=0.25)
    for i in range(65):
        p(i / 64, f"iteration {i}")
    assert seen == [(0.0, "iteration 0"), (0.25, "iteration 16"), (0.5, "iteration 32"), (0.75, "iteration 48"),
                    (1.0, "iteration 64")]
    p(p.last, "pruned frame 3", force=True)
    p(1.5, "past the end")   # fractions are clamped for the receiver
    assert seen[-2:] == [(1.0, "pruned frame 3"), (1.0, "past the end")]


def test_throttle_can_drop_repeated_messages_only():
    seen = []
    p = ProgressThrottle(lambda f, m: seen.append((f, m)), step=None, skip_repeats=True)
    for f, m in [(0.2, "a"), (0.1, "b"), (0.1, "b"), (0.3, "b"), (0.05, "a")]:
        p(f, m)
    assert seen == [(0.2, "a"), (0.1, "b"), (0.05, "a")]  # a fraction going back is still reported


@pytest.mark.parametrize("caller", [(False, False), (True, False), (True, True)])
def test_deterministic_scope_restores_the_callers_setting_even_on_error(caller):
    import torch.utils.deterministic as flags

    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    fill = flags.fill_uninitialized_memory
    torch.use_deterministic_algorithms(caller[0], warn_only=caller[1])
    try:
        with pytest.raises(RuntimeError, match="inside"):
            with deterministic():
                assert torch.are_deterministic_algorithms_enabled()
                assert torch.is_deterministic_algorithms_warn_only_enabled()
                assert flags.fill_uninitialized_memory is False    # the NaN fill of new tensors: slow
                raise RuntimeError("inside")
        assert (torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled()) == caller
        assert flags.fill_uninitialized_memory == fill
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])


def test_lstsq_gives_the_minimum_norm_solution_of_a_rank_deficient_system():
    # the exposure system's shape: a graph Laplacian per channel plus a row fixing the mean; view 3
    # overlaps no other, so its column is empty. torch's default CPU driver answered from its
    # uninitialised pivot array here (a different solution with and without the NaN fill).
    import numpy as np

    gen = torch.Generator().manual_seed(0)
    v = 12
    pair = torch.rand(3, v, v, generator=gen)
    pair = pair + pair.transpose(1, 2)
    pair[:, 3, :] = 0
    pair[:, :, 3] = 0
    member = torch.ones(v)
    member[3] = 0
    system = torch.cat([torch.diag_embed(pair.sum(-1)) - pair, member.expand(3, 1, v)], 1)
    target = torch.rand(3, v + 1, 1, generator=gen)
    expected = np.stack([np.linalg.lstsq(system[c].double().numpy(), target[c].double().numpy(), rcond=None)[0]
                         for c in range(3)])
    for scope in (deterministic, contextlib.nullcontext):      # inside the scope and outside it
        with scope():
            x = lstsq(system, target)
        assert x.dtype == target.dtype and x.shape == (3, v, 1)
        assert np.allclose(x.double().numpy(), expected, atol=1e-5)


def test_first_ctrl_c_requests_a_stop_the_second_aborts_and_the_handler_comes_back():
    previous = signal.getsignal(signal.SIGINT)
    notes = []
    with SigintStop(on_first=lambda: notes.append("stopping")) as stop:
        assert stop() is False
        os.kill(os.getpid(), signal.SIGINT)
        assert stop() is True and notes == ["stopping"]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is previous


def test_sigint_stop_also_polls_the_callers_stop_and_installs_nothing_off_the_main_thread():
    flag = {"stop": False}
    previous = signal.getsignal(signal.SIGINT)
    result = {}

    def worker():
        with SigintStop(also=lambda: flag["stop"]) as stop:
            result["handler"] = signal.getsignal(signal.SIGINT)
            result["before"] = stop()
            flag["stop"] = True
            result["after"] = stop()

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert result == {"handler": previous, "before": False, "after": True}


def test_timed_accumulates_a_phase_also_when_it_raises():
    from texforge.runtime.timing import timed

    timings = {"place": 1.0}
    with timed(timings, "place"):
        pass
    with pytest.raises(ValueError):
        with timed(timings, "stage 1"):
            raise ValueError
    assert timings["place"] >= 1.0 and timings["stage 1"] >= 0.0 and set(timings) == {"place", "stage 1"}
