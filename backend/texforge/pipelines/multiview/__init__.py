"""Multi-view reconstruction (seed 000, stage 1): mesh + texture + camera corrections from photos.

``run_multiview(dataset, config, progress, should_stop, device) -> MultiviewResult``;
``MultiviewConfig.preset("tiny" | "small" | "full")``; ``result_io.write_result(result, out_dir)``.
"""

from .config import MultiviewConfig, StageConfig
from .pipeline import MultiviewResult, run_multiview

__all__ = ["MultiviewConfig", "MultiviewResult", "StageConfig", "run_multiview"]
