"""Stage `scenes`: rendered multi-camera scenes with exact ground truth, and users' real footage."""
