"""What every learning pipeline trains with: one optimisation loop (loop), checkpoints that resume
bit-for-bit on CPU (checkpoint), an exponential moving average of weights (ema), and seeded
epoch-by-epoch mini-batches (batches)."""

from .batches import EpochBatches
from .checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from .ema import EMA
from .loop import LoopResult, TrainLoop

__all__ = ["EMA", "Checkpoint", "CheckpointError", "EpochBatches", "LoopResult", "TrainLoop", "load_checkpoint",
           "save_checkpoint"]
