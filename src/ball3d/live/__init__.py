"""Live multi-camera tracking: synchronised sources in, one 3D record per frame set out (issue 14)."""
