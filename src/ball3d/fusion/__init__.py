"""Stage `bundle`: cross-camera association over the sequence and the GTSAM 3D solve (batch and streaming)."""
