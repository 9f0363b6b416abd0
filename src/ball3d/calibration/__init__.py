"""Stage `calibrate`: intrinsics from board videos, extrinsics from the pitch lines, errors vs truth."""
