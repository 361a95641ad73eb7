"""Training checkpoints: one safetensors file whose JSON header holds everything that is not a tensor.

Tensors: ``module.<name>.<key>`` (each module's state_dict), ``optim.<param index>.<key>`` (optimizer
state), ``ema.<key>`` (EMA weights), ``rng.torch``, ``rng.numpy``, ``rng.gen.<name>`` (named
torch.Generators). The header (safetensors metadata key ``texforge``) holds the format and version, the
step, the caller's config and extra data, the optimizer's class and parameter groups and its
non-tensor state, numpy's and Python's RNG state, and the saved key names.

Loading restores all of that into freshly built objects, so k steps + save + load + (N - k) steps is
bit-for-bit N steps on CPU (CUDA kernels are not all deterministic). A file that is not such a
checkpoint, or that does not fit the given model or optimizer, raises CheckpointError naming the file
and what does not match; nothing is modified then.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..atomic import write_bytes
from ..runtime.errors import InputError

FORMAT, VERSION, HEADER_KEY = "texforge-checkpoint", 1, "texforge"


class CheckpointError(InputError):
    """The file is not a readable texforge checkpoint, or it does not fit the model / optimizer."""


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns besides restoring the objects."""

    step: int
    config: dict | None = None
    extra: dict = field(default_factory=dict)


def _tensor(t: torch.Tensor) -> torch.Tensor:
    return t.detach().cpu().contiguous().clone()  # safetensors refuses views sharing storage


def save_checkpoint(path, modules: dict[str, nn.Module], optimizer: torch.optim.Optimizer | None = None, *,
                    step: int, config: dict | None = None, ema=None,
                    generators: dict[str, torch.Generator] | None = None, extra: dict | None = None) -> Path:
    """Write a checkpoint (atomically: a crash never leaves a truncated file under ``path``).

    ``modules`` by name (e.g. {"model": net}); ``step`` is the next iteration to run; ``config`` and
    ``extra`` must be JSON-serialisable. The global torch, numpy and Python RNG states are saved too."""
    tensors: dict[str, torch.Tensor] = {}
    header: dict = {"format": FORMAT, "version": VERSION, "step": int(step), "config": config,
                    "extra": extra or {}, "modules": {}}
    for name, module in modules.items():
        state = module.state_dict()
        header["modules"][name] = list(state)
        tensors.update({f"module.{name}.{k}": _tensor(v) for k, v in state.items()})
    if optimizer is not None:
        sd = optimizer.state_dict()
        scalars = {}
        for pid, st in sd["state"].items():
            for k, v in st.items():
                if torch.is_tensor(v):
                    tensors[f"optim.{pid}.{k}"] = _tensor(v)
                else:
                    scalars.setdefault(str(pid), {})[k] = v
        header["optimizer"] = {"class": type(optimizer).__name__, "param_groups": sd["param_groups"],
                               "scalars": scalars, "tensors": sorted({k.split(".", 2)[2] for k in tensors
                                                                      if k.startswith("optim.")})}
    if ema is not None:
        header["ema"] = sorted(ema.state_dict())
        tensors.update({f"ema.{k}": _tensor(v) for k, v in ema.state_dict().items()})
    tensors["rng.torch"] = torch.get_rng_state()
    for name, gen in (generators or {}).items():
        tensors[f"rng.gen.{name}"] = gen.get_state()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["rng.numpy"] = torch.as_tensor(keys.astype(np.int64))
    header["rng"] = {"numpy": [kind, int(pos), int(has_gauss), float(cached)], "python": random.getstate(),
                     "generators": sorted(generators or {})}
    from safetensors.torch import save
    return write_bytes(path, save(tensors, metadata={HEADER_KEY: json.dumps(header)}))


def _read(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    from safetensors import safe_open

    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        header = json.loads(meta[HEADER_KEY])
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types for corrupt files
        raise CheckpointError(f"checkpoint {path} is corrupt or not a texforge checkpoint "
                              f"({type(exc).__name__}: {exc})") from None
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path}: format {header.get('format')!r} version "
                              f"{header.get('version')!r}, expected {FORMAT!r} version {VERSION}")
    return header, tensors


def checkpoint_header(path) -> dict:
    """The header of a checkpoint (config, step, extra, ...) without restoring anything, so a caller can
    name a configuration mismatch before the module shapes would."""
    return _read(Path(path))[0]


def _check_module(path: Path, name: str, module: nn.Module, header: dict, tensors: dict) -> dict:
    if name not in header["modules"]:
        raise CheckpointError(f"checkpoint {path} has no module {name!r} (it holds {sorted(header['modules'])})")
    own = module.state_dict()
    saved = {k: tensors[f"module.{name}.{k}"] for k in header["modules"][name]}
    missing, unexpected = sorted(set(own) - set(saved)), sorted(set(saved) - set(own))
    if missing or unexpected:
        raise CheckpointError(f"checkpoint {path} does not match module {name!r}: missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]}")
    for k, v in own.items():
        if saved[k].shape != v.shape or saved[k].dtype != v.dtype:
            raise CheckpointError(f"checkpoint {path}, module {name!r}: {k} is {tuple(saved[k].shape)} "
                                  f"{saved[k].dtype}, the model has {tuple(v.shape)} {v.dtype}")
    return saved


def _optimizer_state(path: Path, optimizer: torch.optim.Optimizer, header: dict, tensors: dict) -> dict:
    info = header.get("optimizer")
    if info is None:
        raise CheckpointError(f"checkpoint {path} holds no optimizer state")
    if info["class"] != type(optimizer).__name__:
        raise CheckpointError(f"checkpoint {path} was saved with a {info['class']} optimizer, not "
                              f"{type(optimizer).__name__}")
    groups = optimizer.param_groups
    if [len(g["params"]) for g in info["param_groups"]] != [len(g["params"]) for g in groups]:
        raise CheckpointError(f"checkpoint {path}: the optimizer's parameter groups differ from the saved ones")
    params = [p for g in groups for p in g["params"]]
    state: dict[int, dict] = {}
    for key, t in tensors.items():
        if key.startswith("optim."):
            _, pid, k = key.split(".", 2)
            state.setdefault(int(pid), {})[k] = t
    for pid, scalars in info["scalars"].items():
        state.setdefault(int(pid), {}).update(scalars)
    for pid, st in state.items():
        for k, t in st.items():
            if torch.is_tensor(t) and t.dim() > 0 and t.shape != params[pid].shape:
                raise CheckpointError(f"checkpoint {path}: optimizer state {k} of parameter {pid} is "
                                      f"{tuple(t.shape)}, the parameter is {tuple(params[pid].shape)}")
    return {"state": state, "param_groups": info["param_groups"]}


def load_checkpoint(path, modules: dict[str, nn.Module], optimizer: torch.optim.Optimizer | None = None, *,
                    ema=None, generators: dict[str, torch.Generator] | None = None,
                    restore_rng: bool = True) -> Checkpoint:
    """Restore ``modules``, ``optimizer``, ``ema``, named ``generators`` and (``restore_rng``) the global
    RNG states from ``path``. Everything is checked before anything is changed."""
    path = Path(path)
    header, tensors = _read(path)
    saved = {name: _check_module(path, name, m, header, tensors) for name, m in modules.items()}
    opt_state = _optimizer_state(path, optimizer, header, tensors) if optimizer is not None else None
    if ema is not None and (sorted(header.get("ema") or []) != sorted(ema.state_dict())
                            or any(tensors[f"ema.{k}"].shape != v.shape for k, v in ema.state_dict().items())):
        raise CheckpointError(f"checkpoint {path}: its EMA weights do not match the model's parameters")
    missing_gens = sorted(set(generators or {}) - set(header["rng"]["generators"]))
    if missing_gens:
        raise CheckpointError(f"checkpoint {path} holds no state for generator(s) {missing_gens}")

    for name, module in modules.items():
        module.load_state_dict(saved[name])
    if opt_state is not None:
        optimizer.load_state_dict(opt_state)
    if ema is not None:
        ema.load_state_dict({k: tensors[f"ema.{k}"] for k in header["ema"]})
    for name, gen in (generators or {}).items():
        gen.set_state(tensors[f"rng.gen.{name}"])
    if restore_rng:
        torch.set_rng_state(tensors["rng.torch"])
        kind, pos, has_gauss, cached = header["rng"]["numpy"]
        np.random.set_state((kind, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
        version, state, gauss = header["rng"]["python"]
        random.setstate((version, tuple(state), gauss))
    return Checkpoint(step=int(header["step"]), config=header.get("config"), extra=header.get("extra") or {})
