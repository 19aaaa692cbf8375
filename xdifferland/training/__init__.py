"""Hybrid training: the spatialization network fitted end to end through DALEC993."""

from .config import FitConfig
from .data import STREAMS, TrainingData, training_data
from .loop import Splits, TrainingError, fit, split_patches

__all__ = ["FitConfig", "fit", "TrainingError", "Splits", "split_patches", "STREAMS",
           "TrainingData", "training_data"]
