"""Evaluate a reconstruction against its dataset: Blender renders + metrics + report.json / report.html.

    python scripts/evaluate.py RESULT --dataset DATASET [--gt-mesh MESH] --out DIR
           [--engine CYCLES|BLENDER_EEVEE|BLENDER_WORKBENCH] [--samples N] [--lighting flat|studio]
           [--turntable-size PX] [--seed S] [--texture NAME=PATH ...]
    blender -b --factory-startup --python-exit-code 1 -P scripts/evaluate.py -- RESULT --dataset ... --out DIR

RESULT is a result folder (mesh.glb, result.json). The result mesh is rendered with Blender at the
held-out cameras (DATASET/transforms_test.json; without one, the training views through
result.json's corrected cameras) and on a turntable (12 azimuths x 2 elevations, the dataset's framing),
with the dataset's samples and pixel filter (DATASET/dataset.json) and flat lighting (the texture shown
unlit: it already carries the photographed shading) unless given.
Metrics: held-out mask IoU, PSNR, SSIM and a perceptual distance; KID and an FID-style distance
between all photos and all renders, on EffNet-Lite0 features (not Inception);
texture realism (report.json "texture_realism"): KID / FID / PSNR between the held-out renders and the
held-out photos, both masked onto the dataset background, for the result's texture and each --texture; Chamfer-L1/L2, F-score at 0.5/1/2 % and normal consistency against the
ground-truth mesh (DATASET/gt_mesh.ply by default); camera rotation / centre errors of result.json's
input and corrected cameras against DATASET/transforms_gt.json; and the held-out IoU / PSNR again with
the held-out cameras Procrustes-aligned (the similarity of the corrected onto the exact camera
centres). Writes DIR/report.json, DIR/report.html and PNGs under DIR/images/ (referenced relatively)
through a temporary folder renamed to DIR at the end: an interrupted run leaves no DIR. DIR must not
exist or be empty, unless --overwrite. The work is texforge_blender.evaluate_render.evaluate.
"""

from __future__ import annotations

import argparse
import sys


def parse_args(argv):
    p = argparse.ArgumentParser(prog="evaluate.py", description=__doc__.split("\n\n")[0])
    p.add_argument("result", help="result folder (mesh.glb, result.json)")
    p.add_argument("--dataset", required=True, help="dataset folder (transforms*.json, images)")
    p.add_argument("--gt-mesh", default=None, help="ground-truth mesh (default: DATASET/gt_mesh.ply if present)")
    p.add_argument("--out", required=True, help="new output folder for report.json / report.html / images")
    p.add_argument("--engine", default="CYCLES", help="CYCLES (default, CPU), EEVEE or WORKBENCH (need OpenGL)")
    p.add_argument("--samples", type=int, default=None, help="render samples (default: the dataset's, or 16)")
    p.add_argument("--lighting", choices=("flat", "studio"), default=None,
                   help="default: flat (a reconstructed texture already holds the photos' shading); "
                        "studio to light a mesh that carries an albedo texture")
    p.add_argument("--turntable-size", type=int, default=48)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--texture", action="append", default=[], metavar="NAME=PATH",
                   help="also score the result mesh with this texture image (repeatable; e.g. a GAN's best "
                        "texture and samples): KID / FID / PSNR against the held-out views, as for the result's")
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out folder")
    return p.parse_args(argv)


def main(argv=None) -> int:
    if argv is None:  # inside Blender the script's own arguments follow "--"
        argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    args = parse_args(argv)
    from texforge_blender.evaluate_render import evaluate
    from texforge.eval.evaluation import default_log, summary_line
    from texforge.runtime.errors import InputError
    from texforge.eval.texture_realism import parse_texture_args
    try:
        report = evaluate(args.result, args.dataset, args.out, gt_mesh=args.gt_mesh, engine=args.engine,
                          samples=args.samples, lighting=args.lighting, seed=args.seed,
                          turntable_size=args.turntable_size, overwrite=args.overwrite,
                          textures=parse_texture_args(args.texture))
    except (InputError, FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"evaluate.py: error: {e}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("evaluate.py: interrupted; nothing written", file=sys.stderr, flush=True)
        return 130
    default_log(summary_line(report["metrics"]))
    for name, fig in report["texture_realism"].items():
        default_log(f"texture {name}: KID {fig['kid']:.4f} FID {fig['fid']:.2f} PSNR {fig['psnr']:.2f} dB "
                    f"({fig['views']} held-out views, {fig['features']})")
    return 1 if report.get("problems") else 0


if __name__ == "__main__":
    sys.exit(main())
