"""Train a category model on a collection: reconstruction network -> pseudo maps -> category GAN.

    python scripts/train_category.py COLLECTION --out MODEL [--preset tiny|small|full] [--iterations N]
           [--gan-iterations N] [--resume] [--device auto|cpu|cuda] [--seed S] [--no-eval]

COLLECTION is a folder written by scripts/render_collection.py (collection.json + objects/). MODEL gets
model.json, reconstructor.safetensors, maps.safetensors (pseudo-ground-truth deformation / texture /
visibility maps of every training object), gan.safetensors (the category GAN: new objects with
scripts/generate_objects.py MODEL), losses.json and, when the collection has held-out objects,
evaluation.json (held-out input-view and other-view IoU, PSNR, Chamfer-L1, next to the template sphere).
Each stage is written atomically and recorded in model.json when complete. Ctrl-C saves the training
checkpoint (MODEL/checkpoints/) and exits 130; --resume continues bit-for-bit (same options). Bad input
exits 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _arguments() -> list[str]:
    return sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]


def parse_args(argv):
    p = argparse.ArgumentParser(prog="train_category.py", description=__doc__.split("\n\n")[0])
    p.add_argument("collection", help="collection folder (collection.json + objects/)")
    p.add_argument("--out", required=True, help="new category-model folder (or the one to --resume)")
    p.add_argument("--preset", default="small", choices=("tiny", "small", "full"))
    p.add_argument("--iterations", type=int, default=None, metavar="N", help="training steps (default: the preset's)")
    p.add_argument("--gan-iterations", type=int, default=None, metavar="N",
                   help="category GAN steps (default: the preset's; 0 skips the GAN stage)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation")
    return p.parse_args(argv)


def main(argv=None, should_stop=None) -> int:
    args = parse_args(_arguments() if argv is None else argv)
    from texforge.pipelines.category.train import LOG_NAME, check_model_out_dir, train_category_model
    from texforge.runtime.cli import RunLog, choose_device, run_job
    from texforge.runtime.errors import InputError

    out = Path(args.out)
    if args.iterations is not None and args.iterations < 1:
        print(f"error: --iterations must be positive, got {args.iterations}", file=sys.stderr)
        return 2
    try:  # before any work
        check_model_out_dir(out, args.resume)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    log = RunLog(out / LOG_NAME, "train_category")

    def work(progress, stop):
        train_category_model(args.collection, out, preset=args.preset, iterations=args.iterations, seed=args.seed,
                             resume=args.resume, device=choose_device(args.device), evaluate=not args.no_eval,
                             gan_iterations=args.gan_iterations,
                             progress=progress, should_stop=stop, log=log)
        log(f"wrote {out}/model.json, reconstructor.safetensors, maps.safetensors"
            + (", gan.safetensors" if args.gan_iterations != 0 else ""))

    return run_job(log, work, should_stop, step=0.01,
                   cancelled=f"finished stages and the training checkpoint in {out} hold the run so far "
                             "(continue with --resume)",
                   aborted="finished stages, this log and the last periodic checkpoint")


if __name__ == "__main__":
    status = main()
    if status:
        sys.exit(status)
