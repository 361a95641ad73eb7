"""Single-image reconstruction: one photo + a category model -> a textured mesh and its camera.

    python scripts/reconstruct_single.py IMAGE --model M --out DIR [--camera transforms.json]
           [--mode encoder|inversion] [--preset tiny|small|full] [--seed S] [--device auto|cpu|cuda] [--overwrite]

IMAGE is a photo of one object of the model's category. Its mask is its alpha channel, else a mask file
beside it (IMAGE_mask.png, masks/IMAGE.png), else a plain backdrop. M is a category-model folder
(scripts/train_category.py): --mode encoder needs its reconstructor (a preview in a second), --mode
inversion (default) its GAN (seed 002: best-of-N latents, then Adam on the latent and the camera, started
from the encoder's prediction). --camera: a one-frame transforms.json with the photo's camera in the
category's frame; without it the encoder's camera (or a search over the category's views) is used.

Writes DIR/mesh.glb, texture.png, input.png (the framed photo), transforms.json (the fitted camera for
input.png) and result.json (camera, latent, input-view IoU / PSNR, config, model), atomically; progress
goes to stdout and DIR/reconstruct.log. Exit 2 on bad input (nothing written but the log), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _arguments() -> list[str]:
    return sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]


def parse_args(argv):
    p = argparse.ArgumentParser(prog="reconstruct_single.py", description=__doc__.split("\n\n")[0])
    p.add_argument("image", help="the photo (PNG with alpha, or with a mask file beside it, or on a plain backdrop)")
    p.add_argument("--model", required=True, help="category-model folder (scripts/train_category.py)")
    p.add_argument("--out", required=True, help="new result folder")
    p.add_argument("--camera", default=None, metavar="TRANSFORMS", help="one-frame transforms.json with the photo's camera")
    p.add_argument("--mode", default="inversion", choices=("encoder", "inversion"))
    p.add_argument("--preset", default="small", choices=("tiny", "small", "full"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out folder")
    return p.parse_args(argv)


def main(argv=None, should_stop=None) -> int:
    """Run the CLI; ``should_stop`` (tests, embedding) is polled besides Ctrl-C. Returns the exit status."""
    args = parse_args(_arguments() if argv is None else argv)
    from texforge.pipelines.inversion.run_folder import reconstruct_image_file
    from texforge.results import LOG_NAME, check_out_dir
    from texforge.runtime.cli import RunLog, choose_device, run_job
    from texforge.runtime.errors import InputError

    out = Path(args.out)
    try:  # before any work: a result that cannot be written is lost after the fit
        check_out_dir(out, args.overwrite)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    log = RunLog(out / LOG_NAME, "reconstruct_single")

    def work(progress, stop):
        reconstruct_image_file(args.image, args.model, out, mode=args.mode, camera=args.camera, preset=args.preset,
                               seed=args.seed, device=choose_device(args.device), overwrite=args.overwrite,
                               progress=progress, should_stop=stop, log=log)
        log(f"wrote {out}/mesh.glb, texture.png, input.png, transforms.json, result.json")

    return run_job(log, work, should_stop)


if __name__ == "__main__":
    status = main()
    if status:
        sys.exit(status)
