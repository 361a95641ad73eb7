"""Quality figures of a multi-view reconstruction against a dataset with known ground truth.

    python scripts/eval_multiview_quality.py DATASET --result DIR [--json FILE]
    python scripts/eval_multiview_quality.py DATASET --out DIR [--preset small] [--device cpu] [--seed 0]
        [--camera-align on|off] [--image-loss detail|plain] [--rotation-prior W] [--refine-focal]
        [--camera-trust calibrated|approximate|rough|auto] [--from-exact-cameras | --from-gauge-cameras]

With ``--out`` the reconstruction runs first (texforge.pipelines.multiview.run_folder, wall time
measured). The figures (texforge.eval.multiview.quality_figures: held-out IoU / PSNR raw and with
Procrustes-aligned cameras, Chamfer / F-score, camera errors before and after, pruned frames) are
printed as JSON, and written to ``--json`` when given. ``--from-exact-cameras`` starts the fit from the
dataset's exact cameras (transforms_gt.json): ``rot_err_deg_after`` is then how far the fit moves
correct cameras. ``--from-gauge-cameras`` starts it from where a perfect correction of the noisy cameras
would end: the exact ones moved by what the gauge of the fit's last stage keeps of the noise (the
similarity; with a pinned last stage, as in the tiny preset, also the ring pitch;
texforge.cameras.rig.gauge_kept). With ``--camera-trust calibrated`` they stay there, and the raw held-out
figures are the best that any camera correction could reach on that draw of noise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _arguments() -> list[str]:
    return sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="eval_multiview_quality.py")
    p.add_argument("dataset")
    p.add_argument("--result", help="an existing result folder")
    p.add_argument("--out", help="run the reconstruction into this new folder first")
    p.add_argument("--preset", default="small")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("--camera-align", choices=("on", "off"),
                   help="camera alignment through the texture (default: the preset's setting)")
    p.add_argument("--image-loss", choices=("detail", "plain"),
                   help="the fit's image loss (default: the config's; MultiviewConfig.image_loss)")
    p.add_argument("--rotation-prior", type=float, metavar="W",
                   help="weight of the prior on the rotation corrections (default: the config's; "
                        "MultiviewConfig.camera_prior)")
    p.add_argument("--refine-focal", action="store_true",
                   help="with --out: correct the focal lengths too (MultiviewConfig.refine_focal)")
    p.add_argument("--camera-trust", default="auto", choices=("calibrated", "approximate", "rough", "auto"),
                   help="with --out: how far the cameras may move (default: from the dataset's source)")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--from-exact-cameras", dest="start_cameras", action="store_const", const="exact",
                       default="input",
                       help="with --out: start from the exact cameras (transforms_gt.json), not the noisy ones")
    start.add_argument("--from-gauge-cameras", dest="start_cameras", action="store_const", const="gauge",
                       help="with --out: start from the exact cameras moved by the similarity that the gauge "
                            "keeps of the noisy ones (where a perfect correction ends)")
    args = p.parse_args(_arguments() if argv is None else argv)
    if bool(args.result) == bool(args.out):
        p.error("give exactly one of --result or --out")
    if args.start_cameras != "input" and not args.out:
        p.error(f"--from-{args.start_cameras}-cameras starts a reconstruction: it needs --out")
    if args.camera_trust != "auto" and not args.out:
        p.error("--camera-trust applies to a reconstruction: it needs --out")
    from texforge.atomic import write_text
    from texforge.eval.multiview import quality_figures
    from texforge.runtime.errors import Cancelled, InputError

    wall = None
    if args.out:
        from texforge.pipelines.multiview.run_folder import reconstruct_folder

        def log(msg: str) -> None:
            print(f"[eval_multiview_quality] {msg}", flush=True)

        tenths = [-1]

        def progress(frac: float, msg: str) -> None:  # a line per 10 %: the benchmark logs stay short
            if int(10 * frac) > tenths[0]:
                tenths[0] = int(10 * frac)
                log(f"{100 * frac:5.1f}% {msg}")

        t0 = time.perf_counter()
        try:
            reconstruct_folder(args.dataset, args.out, preset=args.preset, seed=args.seed, device=args.device,
                               progress=progress, log=log, image_loss=args.image_loss,
                               rotation_prior=args.rotation_prior, start_cameras=args.start_cameras,
                               refine_focal=args.refine_focal, camera_trust=args.camera_trust,
                               camera_align=None if args.camera_align is None else args.camera_align == "on")
        except (InputError, FileExistsError) as e:
            print(f"eval_multiview_quality.py: error: {e}", file=sys.stderr)
            return 2
        except (Cancelled, KeyboardInterrupt):
            return 130
        wall = round(time.perf_counter() - t0, 1)
    figures = quality_figures(args.out or args.result, args.dataset)
    if wall is not None:
        figures["wall_s"] = wall
    text = json.dumps(figures, indent=1)
    print(text)
    if args.json:
        write_text(Path(args.json), text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
