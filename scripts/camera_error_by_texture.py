"""Where a fit's remaining camera error sits: per training view, against how much texture its photo shows.

    python scripts/camera_error_by_texture.py DATASET --result DIR [--json FILE]

DATASET is a rendered dataset with exact cameras (transforms_gt.json), DIR the result folder of a fit on
it. Each training view's rotation error before and after the fit is taken after each rig's own
similarity alignment (texforge.eval.cameras.similarity_aligned: the part a fit could correct). Its
texture signal is the mean colour-gradient magnitude inside its eroded mask, after a 1-pixel blur that
removes detail finer than the fit's texture can hold. On a near-symmetric object, silhouettes cannot
see a camera's turn about the symmetry axis and only the texture can: views of a plain side are not
expected to improve. The views are printed from the weakest signal up, then the error ratio of the
weakest quarter and of the rest.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _arguments() -> list[str]:
    return sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]


def texture_signal(image, mask, blur_px: float = 1.0, erode_px: int = 3) -> float:
    """Mean colour-gradient magnitude of ``image`` (H, W, 3) inside ``mask`` (H, W) eroded by
    ``erode_px`` (the outline is the silhouette's business), after a Gaussian blur of ``blur_px``."""
    import numpy as np
    from scipy.ndimage import binary_erosion, gaussian_filter

    smooth = gaussian_filter(np.asarray(image, np.float64), sigma=(blur_px, blur_px, 0))
    gy, gx = np.gradient(smooth, axis=(0, 1))
    magnitude = np.sqrt((gx ** 2 + gy ** 2).sum(-1))
    inside = binary_erosion(np.asarray(mask) > 0.5, iterations=erode_px)
    return float(magnitude[inside].mean()) if inside.any() else 0.0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="camera_error_by_texture.py", description=__doc__.split("\n\n")[0])
    p.add_argument("dataset")
    p.add_argument("--result", required=True, help="the fit's result folder (result.json)")
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args(_arguments() if argv is None else argv)
    import numpy as np

    from texforge.data.transforms_io import load_dataset
    from texforge.eval.cameras import before_after_errors, cameras_from_transforms

    dataset = Path(args.dataset)
    result = json.loads((Path(args.result) / "result.json").read_text())
    errors = before_after_errors(result, cameras_from_transforms(dataset / "transforms_gt.json"))
    if errors["before_aligned"] is None or errors["after_aligned"] is None:
        p.error("the result has no input and corrected cameras for three or more of the dataset's views")
    before = {v["name"]: v["rot_deg"] for v in errors["before_aligned"]["per_view"]}
    after = {v["name"]: v["rot_deg"] for v in errors["after_aligned"]["per_view"]}
    train = load_dataset(dataset, "train")
    rows = sorted(({"name": n, "signal": round(texture_signal(train.images[i], train.masks[i]), 5),
                    "rot_deg_before": round(before[n], 3), "rot_deg_after": round(after[n], 3)}
                   for i, n in enumerate(train.names) if n in after), key=lambda r: r["signal"])
    for r in rows:
        print(f"{r['name']:28s} texture {r['signal']:.4f}  rotation error {r['rot_deg_before']:.2f} -> "
              f"{r['rot_deg_after']:.2f} deg")
    quarter = max(1, len(rows) // 4)
    for label, part in (("weakest quarter", rows[:quarter]), ("the rest", rows[quarter:])):
        if part:
            b = np.mean([r["rot_deg_before"] for r in part])
            a = np.mean([r["rot_deg_after"] for r in part])
            print(f"{label}: {len(part)} views, {b:.2f} -> {a:.2f} deg (ratio {a / max(b, 1e-9):.2f})")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
