"""Stage `capture`: streamed per-layer activation statistics and the leave-one-out perplexity baseline."""
