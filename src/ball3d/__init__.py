"""Multi-camera 3D football localisation: synthetic scenes, calibration, pre-processing, detection, GTSAM fusion."""
