"""LLM branch: activation statistics (AVSS / EAVSS), layer pruning, contrastive fine-tuning, evaluation."""
