"""Stages `finetune` and `evaluate_hallucination`: contrastive fine-tuning of selected layers, held-out evaluation."""
