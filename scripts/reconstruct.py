"""Multi-view reconstruction: a dataset or photo capture folder -> textured mesh, corrected cameras, figures.

    python scripts/reconstruct.py DATASET --out DIR [--preset tiny|small|full] [--device auto|cpu|cuda]
           [--seed S] [--max-size PX] [--symmetry x|y|z] [--camera-trust calibrated|approximate|rough|auto]
           [--refine-focal] [--no-prune] [--overwrite] [--category-model MODEL] [--schedule F]
    blender -b --factory-startup --python-exit-code 1 -P scripts/reconstruct.py -- DATASET --out DIR ...

DATASET is a folder with transforms.json, a COLMAP capture (images/ plus a sparse model in sparse/0/,
sparse/ or the folder itself; distorted photos are undistorted), an LLFF capture (images/ or images_N/
plus poses_bounds.npy), an IDR / NeuS capture (image/, mask/ and cameras.npz or cameras_sphere.npz), or
a transforms json file. Mask files are found next to the photos by name (masks/IMG_0001.png, or
IMG_0001_mask.png beside the photo).

Writes DIR/mesh.glb (UVs + base-colour texture), DIR/texture.png and DIR/result.json (corrected and
input cameras, pruned frames with reasons, per-view IoU / PSNR, timings, config), atomically (temp
folder + rename). DIR must not exist or be empty (or pass --overwrite), and its parent must be
writable; both are checked before anything is loaded. Photos are scaled down to --max-size (default
1024 px, the longest side). Frames that cannot be used (empty or whole-image mask, a camera facing
away) are left out with a warning and listed in result.json. Progress goes to stdout and
DIR/reconstruct.log; on bad input or Ctrl-C the log is the only thing written and the exit status
is non-zero (2 bad input, 130 cancelled).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _arguments() -> list[str]:
    # Inside Blender, sys.argv holds Blender's own options; ours follow "--".
    return sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]


def parse_args(argv):
    from texforge.data.gather import MASK_SOURCES
    from texforge.data.working_size import DEFAULT_MAX_SIZE

    p = argparse.ArgumentParser(prog="reconstruct.py", description=__doc__.split("\n\n")[0])
    p.add_argument("dataset", help="dataset folder (transforms.json, a COLMAP model or poses_bounds.npy with "
                                   "images/, or cameras.npz / cameras_sphere.npz with image/) or a transforms json file")
    p.add_argument("--out", required=True, help="new result folder")
    p.add_argument("--preset", default="small", choices=("tiny", "small", "full"))
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-size", type=int, default=DEFAULT_MAX_SIZE, metavar="PX",
                   help="working size: photos are scaled down so that their longest side is at most PX "
                        "(default %(default)s, the Blender add-on's default too; 0: full size, needs much more memory)")
    p.add_argument("--symmetry", default=None, choices=("x", "y", "z"),
                   help="fill unseen texels by mirroring across this world plane through the object centre")
    p.add_argument("--camera-trust", default="auto", choices=("calibrated", "approximate", "rough", "auto"),
                   help="how far the fit may move the cameras: calibrated (COLMAP / photogrammetry: a tight "
                        "prior), approximate, rough (placed by hand, a turntable: a looser prior); auto "
                        "(default): calibrated for a COLMAP, LLFF or IDR folder, approximate for transforms.json")
    p.add_argument("--refine-focal", action="store_true",
                   help="correct each camera's focal length too (not for calibrated cameras): for focal lengths "
                        "guessed or read from EXIF; it costs a little where they are exact (docs/BENCHMARKS.md)")
    p.add_argument("--no-prune", action="store_true",
                   help="keep every usable frame (frames with unusable masks or cameras are always left out)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out folder")
    p.add_argument("--category-model", metavar="MODEL",
                   help="a category-model folder (scripts/train_category.py) of the object's category: the fit "
                        "starts from its reconstruction network's shape for the input views instead of a sphere "
                        "(the network's prediction only; its weights are not fine-tuned)")
    p.add_argument("--schedule", type=float, default=1.0, metavar="F",
                   help="factor on the preset's iterations (e.g. 0.5 with --category-model: a shorter fit)")
    p.add_argument("--mask-source", default="AUTO", choices=MASK_SOURCES,
                   help="where masks come from for photos without mask files: AUTO (alpha, else a plain "
                        "backdrop), ALPHA, BACKGROUND, or SEGMENT (automatic, any background)")
    return p.parse_args(argv)


def main(argv=None, should_stop=None) -> int:
    """Run the CLI; ``should_stop`` (tests, embedding) is polled besides Ctrl-C. Returns the exit status."""
    args = parse_args(_arguments() if argv is None else argv)
    from texforge.pipelines.multiview.run_folder import reconstruct_folder
    from texforge.results import LOG_NAME, check_out_dir
    from texforge.runtime.cli import RunLog, choose_device, run_job
    from texforge.runtime.errors import InputError

    out = Path(args.out)
    if args.max_size < 0:
        print(f"error: --max-size must be 0 (no cap) or a positive number of pixels, got {args.max_size}",
              file=sys.stderr)
        return 2
    try:  # before any work: a result that cannot be written is lost after the whole fit
        check_out_dir(out, args.overwrite)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    log = RunLog(out / LOG_NAME, "reconstruct")

    def work(progress, stop):
        reconstruct_folder(args.dataset, out, preset=args.preset, seed=args.seed, device=choose_device(args.device),
                           max_size=args.max_size, symmetry=args.symmetry, prune=not args.no_prune,
                           camera_trust=args.camera_trust, mask_source=args.mask_source,
                           refine_focal=args.refine_focal, category_model=args.category_model, schedule=args.schedule,
                           overwrite=args.overwrite, progress=progress, should_stop=stop, log=log)
        log(f"wrote {out}/mesh.glb, texture.png, result.json")

    return run_job(log, work, should_stop)


if __name__ == "__main__":
    status = main()
    if status:
        sys.exit(status)
