"""Texture GAN on a reconstruction: per-view pseudo-GT textures -> best texture + K variations.

    python scripts/texture_gan.py RESULT --out DIR [--preset tiny|small|full] [--iterations N] [--variations K]
           [--resume] [--seed S] [--device auto|cpu|cuda] [--overwrite]

RESULT is a reconstruct.py result folder holding pseudo_gt.safetensors. Writes DIR/best_texture.png,
variation_NN.png, best.glb and variation_NN.glb (RESULT/mesh.glb wearing each texture),
mean_texture.png, samples/ (grids of fixed latents during training), losses.json, texture_gan.json
(pseudo-GT L1 of the best texture, the mean of the views and RESULT/texture.png; timings; config) and
checkpoints/texture_gan.safetensors. DIR must not exist or be empty (or pass --overwrite). While it
trains, DIR holds only its log and the checkpoint; Ctrl-C saves the checkpoint and exits 130, and
--resume continues that run bit-for-bit (same options). Bad input exits 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _arguments() -> list[str]:
    return sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]


def parse_args(argv):
    p = argparse.ArgumentParser(prog="texture_gan.py", description=__doc__.split("\n\n")[0])
    p.add_argument("result", help="reconstruct.py result folder with pseudo_gt.safetensors")
    p.add_argument("--out", required=True, help="new folder for the textures, GLBs and checkpoint")
    p.add_argument("--preset", default="small", choices=("tiny", "small", "full"))
    p.add_argument("--iterations", type=int, default=None, metavar="N", help="generator steps (default: the preset's)")
    p.add_argument("--variations", type=int, default=None, metavar="K", help="variation textures (default: the preset's)")
    p.add_argument("--resume", action="store_true", help="continue the run whose checkpoint is in --out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out folder")
    return p.parse_args(argv)


def main(argv=None, should_stop=None) -> int:
    args = parse_args(_arguments() if argv is None else argv)
    from texforge.pipelines.texture_gan.run_folder import check_gan_out_dir, texture_gan_folder
    from texforge.runtime.cli import RunLog, choose_device, run_job
    from texforge.runtime.errors import InputError

    out = Path(args.out)
    for name in ("iterations", "variations"):
        value = getattr(args, name)
        if value is not None and value < (1 if name == "iterations" else 0):
            print(f"error: --{name} must be {'positive' if name == 'iterations' else '0 or more'}, got {value}",
                  file=sys.stderr)
            return 2
    try:  # before any work
        check_gan_out_dir(out, args.resume, args.overwrite)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    log = RunLog(out / "texture_gan.log", "texture_gan")

    def work(progress, stop):
        texture_gan_folder(args.result, out, preset=args.preset, iterations=args.iterations,
                           variations=args.variations, seed=args.seed, resume=args.resume,
                           overwrite=args.overwrite, device=choose_device(args.device), progress=progress,
                           should_stop=stop, log=log)
        log(f"wrote {out}/best_texture.png, variation_*.png, *.glb, texture_gan.json")

    return run_job(log, work, should_stop, step=0.01,
                   cancelled=f"the checkpoint in {out}/checkpoints holds the run so far (continue with --resume)",
                   aborted="nothing written but this log and the last periodic checkpoint")


if __name__ == "__main__":
    status = main()
    if status:
        sys.exit(status)
