"""New textured objects from a category model's GAN.

    python scripts/generate_objects.py MODEL --out DIR [--count N] [--seed S] [--interpolate S1,S2] [--steps K]
           [--format glb|obj] [--overwrite]

MODEL is a category-model folder holding gan.safetensors (or that file itself). Writes one object per
seed (S, S+1, ..., S+N-1), or with --interpolate the K objects between seeds S1 and S2 (both ends
included): DIR/seed_SSSSSS.glb (texture embedded) or DIR/<name>/<name>.obj + .mtl + texture PNG, each
the ConvMesh template with its UV map and a generated texture. DIR appears only when every object is
written; it must not exist or be empty (or pass --overwrite). A corrupt or foreign model file exits 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _arguments() -> list[str]:
    return sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]


def _seed_pair(text: str) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two seeds S1,S2, got {text!r}") from None
    return a, b


def parse_args(argv):
    p = argparse.ArgumentParser(prog="generate_objects.py", description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="category-model folder with gan.safetensors, or the file")
    p.add_argument("--out", required=True, help="new folder for the objects")
    p.add_argument("--count", type=int, default=4, metavar="N", help="objects to generate (default 4)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="first object seed (default 0)")
    p.add_argument("--interpolate", type=_seed_pair, default=None, metavar="S1,S2",
                   help="objects along the way from seed S1 to seed S2 instead")
    p.add_argument("--steps", type=int, default=8, metavar="K", help="objects in an interpolation (default 8)")
    p.add_argument("--format", default="glb", choices=("glb", "obj"))
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out folder")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(_arguments() if argv is None else argv)
    from texforge.pipelines.category.generate import generate_objects, write_objects
    from texforge.results import check_out_dir
    from texforge.runtime.errors import InputError

    try:
        check_out_dir(args.out, args.overwrite)
        interp = None if args.interpolate is None else (*args.interpolate, args.steps)
        meshes, names = generate_objects(args.model, count=args.count, seed=args.seed, interpolate=interp,
                                         return_names=True)
        write_objects(meshes, names, Path(args.out), args.format, args.overwrite)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {len(meshes)} objects to {args.out}")
    return 0


if __name__ == "__main__":
    status = main()
    if status:
        sys.exit(status)
