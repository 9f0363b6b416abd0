"""Stages `score`, `prune` and `evaluate_pruning`: layer scores, pruned models, the retention sweep and its report."""
