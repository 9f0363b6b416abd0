"""Stage `preprocess`: Numba (CPU / CUDA) undistortion, downscaling, tone and background model."""
