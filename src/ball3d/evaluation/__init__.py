"""Stage `evaluate_vision`: 3D metrics against truth, plots of one scene, synthetic sweeps and target checks."""
