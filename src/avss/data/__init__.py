"""Stage `download`: the model and the datasets from their sources, normalised and checked."""
