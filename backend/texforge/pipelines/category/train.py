"""A collection folder -> a category-model folder, stage by stage (what scripts/train_category.py runs).

Stages, in order; each writes its part atomically and then records itself in MODEL/model.json
(:mod:`texforge.models.category_model`), so an interrupted run leaves every finished stage usable and ``resume`` goes on
from the first unfinished one:

1. ``reconstructor``: the reconstruction network (:mod:`.reconstructor`); while it trains, its state
   lives in MODEL/checkpoints/reconstructor_train.safetensors (every ``checkpoint_every`` steps and on
   Cancel), from which ``resume`` continues bit-for-bit.
2. ``maps``: pseudo-ground-truth maps of every training object (:mod:`.pseudo_maps`).
   Then, when the collection has held-out objects, MODEL/evaluation.json (:mod:`.evaluate`).
3. ``gan``: the category GAN (:mod:`.gan`) trains on MODEL/maps.safetensors and the collection's
   training images; MODEL/gan.safetensors is its checkpoint while it trains (resumable) and the finished
   generator once model.json lists the stage (samples in MODEL/samples/, losses in MODEL/log.json).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from ...atomic import write_text
from ...data.collection import read_collection
from ...runtime.errors import InputError
from ...runtime.progress import ProgressFn, ShouldStopFn, never_stop, no_progress
from ...models.category_config import CategoryConfig
from ...models.category_model import (MODEL_JSON, add_stage, load_maps, new_header, read_model, save_maps, save_reconstructor,
                       write_model_json)

LOG_NAME = "train_category.log"
TRAIN_CHECKPOINT = "checkpoints/reconstructor_train.safetensors"
STAGES = ("reconstructor", "maps", "gan")
TRAIN_END, MAPS_END, GAN_END = 0.45, 0.5, 0.95   # progress fractions


def check_model_out_dir(out, resume: bool = False) -> Path:
    """Before any work: a fresh run needs an absent or empty MODEL (its log aside); ``resume`` needs a
    MODEL/model.json from an earlier run."""
    from ...results import check_out_dir

    out = Path(out)
    if resume:
        if not (out / MODEL_JSON).is_file():
            raise InputError(f"nothing to resume: {out / MODEL_JSON} not found (start a run without --resume)")
        check_out_dir(out, overwrite=True, log_name=LOG_NAME)   # only the parent's writability
        return out
    return check_out_dir(out, False, log_name=LOG_NAME, overwrite_hint="choose a new folder or pass --resume")


def train_category_model(collection_path, out, preset: str = "small", iterations: int | None = None,
                         seed: int = 0, resume: bool = False, device: str = "cpu", evaluate: bool = True,
                         gan_iterations: int | None = None,
                         progress: ProgressFn = no_progress, should_stop: ShouldStopFn = never_stop,
                         log=print, **overrides) -> Path:
    """Train MODEL ``out`` on the collection (see the module docstring). ``gan_iterations``: the GAN
    stage's length (None: the preset's; 0: no GAN stage). InputError on bad input; Cancelled when
    ``should_stop`` asks (finished stages and the training checkpoints stay)."""
    from .evaluate import evaluate_reconstructor, mean_texture_of
    from .pseudo_maps import build_pseudo_maps
    from .reconstructor import run_train_reconstructor

    out = check_model_out_dir(out, resume)
    collection = read_collection(collection_path)
    if iterations is not None:
        overrides["iterations"] = int(iterations)
    cfg = CategoryConfig.preset(preset, seed=seed, **overrides)
    if resume:
        model = read_model(out)
        header = model.header
        if header["collection"].get("split") != collection.header().get("split"):
            raise InputError(f"{out / MODEL_JSON}: the model was trained on another collection "
                             f"({header['collection'].get('source')!r}); resume it with that collection")
    else:
        out.mkdir(parents=True, exist_ok=True)
        header = new_header(out.name, collection.header(), cfg.texture_size, cfg.symmetric)
        write_model_json(out, header)
    done = set(header.get("stages", {}))
    log(f"collection {collection.root}: {len(collection.train)} training / {len(collection.heldout)} held-out "
        f"objects x {collection.views} views; preset {cfg.preset_name}, {cfg.iterations} iterations, device {device}"
        + (f"; finished stages: {sorted(done)}" if done else ""))

    result = None
    if "reconstructor" not in done:
        ckpt = out / TRAIN_CHECKPOINT
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        result = run_train_reconstructor(collection, cfg, lambda f, m: progress(TRAIN_END * f, m), should_stop,
                                         device, checkpoint=ckpt, resume=resume and ckpt.is_file())
        save_reconstructor(out, result.network, cfg, result.iterations, extra={"log": result.log})
        write_text(out / "losses.json", json.dumps(result.log, indent=1))
        header = add_stage(out, header, "reconstructor", {"iterations": result.iterations,
                                                          "timings": result.timings, "config": cfg.to_dict()})
        log(f"reconstructor: {result.iterations} iterations, {result.timings['train_cpu_s']:.0f} CPU-s this session "
            f"-> {out}/reconstructor.safetensors")

    from .data import load_collection_views
    from ...models.category_model import load_reconstructor

    net, cfg_saved, template = load_reconstructor(read_model(out), device)
    if "maps" not in header.get("stages", {}):
        views = result.views if result is not None else load_collection_views(collection, collection.train,
                                                                              cfg_saved.image_size, should_stop=should_stop)
        t0 = time.process_time()
        maps = build_pseudo_maps(net, template, views.to(device), cfg_saved.texture_size,
                                 lambda f, m: progress(TRAIN_END + (MAPS_END - TRAIN_END) * f, m), should_stop,
                                 cfg_saved.pseudo_cos_power)
        save_maps(out, maps["deformation"], maps["texture"], maps["visibility"], maps["object_ids"], cfg_saved.symmetric)
        header = add_stage(out, header, "maps", {"objects": len(maps["object_ids"]),
                                                 "cpu_s": time.process_time() - t0})
        log(f"pseudo maps of {len(maps['object_ids'])} objects -> {out}/maps.safetensors")

    if gan_iterations != 0 and "gan" not in header.get("stages", {}):
        from ...models.category_model import GAN_FILE
        from .gan import train_gan_into

        gan_overrides = {"seed": seed} if gan_iterations is None else {"seed": seed, "iterations": int(gan_iterations)}
        t0 = time.process_time()
        train_gan_into(out, load_maps(out), collection.root, preset, resume and (out / GAN_FILE).is_file(), device,
                       lambda f, m: progress(MAPS_END + (GAN_END - MAPS_END) * f, m), should_stop, log, **gan_overrides)
        header = add_stage(out, header, "gan", {"cpu_s": time.process_time() - t0})

    if evaluate and collection.heldout and not (out / "evaluation.json").is_file():
        maps = load_maps(out)
        with torch.no_grad():
            ev = evaluate_reconstructor(net, template, collection, mean_texture_of(maps).to(device),
                                        image_size=cfg_saved.image_size,
                                        progress=lambda f, m: progress(GAN_END + (1 - GAN_END) * f, m),
                                        should_stop=should_stop)
        write_text(out / "evaluation.json", json.dumps(ev, indent=1))
        log("held-out evaluation (" + str(ev["count"]) + " objects): " + format_evaluation(ev))
    progress(1.0, f"category model written to {out}")
    return out


def format_evaluation(ev: dict) -> str:
    keys = ("input_iou", "heldout_iou", "heldout_psnr", "chamfer_l1")
    row = lambda r: ", ".join(f"{k} {r[k]:.3f}" for k in keys)  # noqa: E731
    return f"network: {row(ev['network'])}; template + mean texture: {row(ev['template'])}"
