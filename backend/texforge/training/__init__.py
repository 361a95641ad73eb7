"""What every learning pipeline trains with: one optimisation loop (loop), checkpoints that resume
bit-for-bit on CPU (checkpoint), and an exponential moving average of weights (ema)."""

from .checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from .ema import EMA
from .loop import LoopResult, TrainLoop

__all__ = ["EMA", "Checkpoint", "CheckpointError", "LoopResult", "TrainLoop", "load_checkpoint",
           "save_checkpoint"]
