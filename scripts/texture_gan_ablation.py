"""Texture GAN ablation on one result (seed 000, Table 2): ConvMesh baseline / + learned discriminator
embedding / + position attention in the generator, each over several seeds.

    python scripts/texture_gan_ablation.py RESULT --out DIR [--seeds N] [--iterations N] [--preset tiny|small|full]
           [--samples N] [--device auto|cpu|cuda] [--overwrite]

Prints (and writes to DIR/ablation.md and DIR/ablation.json) a table with the mean and spread over seeds
of KID on EffNet-Lite0 features between generated textures and the pseudo-GT textures, both masked by
the views' visibility (lower is more realistic), the best texture's pseudo-GT L1, and training CPU time.
The table compares the samples, so the best-texture search is shortened to 20 L1-only steps.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

SETUPS = [  # (label, overrides): seed 000, Table 2's rows in order
    ("baseline (ConvMesh)", {"attention": "none", "embedding": "none"}),
    ("+ learned embedding", {"attention": "none", "embedding": "learned"}),
    ("+ position attention", {"attention": "position", "embedding": "learned"}),
]


def _arguments() -> list[str]:
    return sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]


def parse_args(argv):
    p = argparse.ArgumentParser(prog="texture_gan_ablation.py", description=__doc__.split("\n\n")[0])
    p.add_argument("result", help="reconstruct.py result folder with pseudo_gt.safetensors")
    p.add_argument("--out", required=True, help="new folder for the table")
    p.add_argument("--seeds", type=int, default=3, metavar="N", help="seeds per setup (0 .. N-1)")
    p.add_argument("--iterations", type=int, default=None, metavar="N", help="generator steps (default: the preset's)")
    p.add_argument("--preset", default="small", choices=("tiny", "small", "full"))
    p.add_argument("--samples", type=int, default=32, metavar="N", help="generated textures per KID")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out folder")
    return p.parse_args(argv)


def main(argv=None, should_stop=None) -> int:
    args = parse_args(_arguments() if argv is None else argv)
    import numpy as np
    import torch

    from texforge.atomic import write_bytes
    from texforge.pipelines.texture_gan import TextureGANConfig, run_texture_gan
    from texforge.pipelines.texture_gan.figures import EXTRACTOR, texture_kid
    from texforge.pipelines.texture_gan.pipeline import prepare_pseudo_gt
    from texforge.pipelines.texture_gan.run_folder import load_result_pseudo_gt
    from texforge.results import check_out_dir
    from texforge.runtime.errors import Cancelled, InputError
    from texforge.runtime.interrupt import SigintStop

    if args.seeds < 1 or args.samples < 2:
        print("error: --seeds must be at least 1 and --samples at least 2", file=sys.stderr)
        return 2
    try:
        out = check_out_dir(args.out, args.overwrite, log_name="ablation.log")
        pseudo = load_result_pseudo_gt(args.result)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    stop = SigintStop(lambda: print("Ctrl-C: stopping", flush=True), also=should_stop).install()
    rows, t0 = [], time.perf_counter()
    try:
        for label, switches in SETUPS:
            runs = []
            for seed in range(args.seeds):
                over = dict(switches, variations=args.samples, search_steps=20, search_perceptual=0.0)
                if args.iterations is not None:
                    over["iterations"] = args.iterations
                cfg = TextureGANConfig.preset(args.preset, seed=seed, **over)
                r = run_texture_gan(pseudo, cfg, should_stop=stop, device=device)
                real, vis = prepare_pseudo_gt(pseudo[0], pseudo[1], cfg.texture_size)
                k = texture_kid(np.stack(r.variations), real, vis, device=device)
                runs.append({"seed": seed, "kid": k, "best_l1": r.figures["best_l1"],
                             "train_cpu_s": r.timings["train_cpu"], "it_per_s": r.timings["iterations_per_s"]})
                print(f"[{time.perf_counter() - t0:7.1f}s] {label}, seed {seed}: KID {k:.4f}, "
                      f"best L1 {r.figures['best_l1']:.4f}, {r.timings['train_cpu']:.0f} s CPU", flush=True)
            rows.append({"setup": label, "switches": switches, "runs": runs,
                         **{f"{m}_{s}": float(getattr(np, s)([x[m] for x in runs]))
                            for m in ("kid", "best_l1", "train_cpu_s") for s in ("mean", "std")}})
    except Cancelled:
        print("cancelled: nothing written", flush=True)
        return 130
    finally:
        stop.restore()
    table = [f"Texture GAN ablation on {args.result} ({args.preset} preset, {args.seeds} seeds, "
             f"{cfg.iterations} iterations, KID of {args.samples} textures on {EXTRACTOR})", "",
             "| setup | KID (mean ± std) | best-texture L1 (mean ± std) | train CPU s |", "| --- | --- | --- | --- |"]
    for r in rows:
        table.append(f"| {r['setup']} | {r['kid_mean']:.4f} ± {r['kid_std']:.4f} | {r['best_l1_mean']:.4f} ± "
                     f"{r['best_l1_std']:.4f} | {r['train_cpu_s_mean']:.0f} |")
    text = "\n".join(table) + "\n"
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    write_bytes(out / "ablation.md", text.encode())
    write_bytes(out / "ablation.json", json.dumps({"extractor": EXTRACTOR, "rows": rows}, indent=1).encode())
    return 0


if __name__ == "__main__":
    status = main()
    if status:
        sys.exit(status)
