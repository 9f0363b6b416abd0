"""Stages `train_detector` and `detect`: the heatmap ball detector, its training, the classical baseline, metrics."""
