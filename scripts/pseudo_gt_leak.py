"""How much backdrop colour leaks into per-view pseudo-ground-truth textures, per masking rule.

    python scripts/pseudo_gt_leak.py DATASET --result DIR [--colour R,G,B] [--dilate 0,2] [--within D] [--json FILE]

DATASET's photos are put on the saturated --colour (default magenta 1,0,1; RGBA photos are composited
onto it), DIR's mesh and corrected cameras project each kept view into the UV map with each rule
(photo mask only, mesh silhouette only, mesh silhouette + photo mask: what reconstruct.py saves), with
the photo masks as given and dilated by each --dilate pixels. Prints one line per rule: the % of
visible texels within RGB distance --within of the colour (texforge.eval.pseudo_gt_leak).
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="pseudo_gt_leak.py", description=__doc__.split("\n\n")[0])
    p.add_argument("dataset")
    p.add_argument("--result", required=True, help="a result folder (mesh.glb, result.json)")
    p.add_argument("--colour", default="1,0,1", help="backdrop RGB in [0, 1] (default magenta)")
    p.add_argument("--dilate", default="0,2", help="photo-mask dilations in pixels (default 0,2)")
    p.add_argument("--within", type=float, default=0.5, help="RGB distance that counts as backdrop colour")
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    from texforge.atomic import write_text
    from texforge.eval.pseudo_gt_leak import background_leak
    from texforge.runtime.errors import InputError
    try:
        colour = tuple(float(v) for v in args.colour.split(","))
        dilate = tuple(int(v) for v in args.dilate.split(","))
        if len(colour) != 3:
            raise ValueError
    except ValueError:
        print(f"pseudo_gt_leak.py: error: --colour R,G,B and --dilate A,B expected, got {args.colour!r}, "
              f"{args.dilate!r}", file=sys.stderr)
        return 2
    try:
        rows = background_leak(args.result, args.dataset, colour, dilate, args.within)
    except InputError as e:
        print(f"pseudo_gt_leak.py: error: {e}", file=sys.stderr)
        return 2
    for r in rows:
        print(f"photo masks dilated {r['dilate_px']} px, {r['mask_source']:10s}: {r['leak_pct']:6.2f} % of "
              f"{r['visible_texels']} visible texels within {args.within} of the backdrop colour")
    if args.json:
        write_text(args.json, json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
