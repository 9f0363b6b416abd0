"""Physical constants of the vision branch, defined once (pitch geometry: ball3d.pitch).

params.yaml repeats two of them as tunable values (bundle.graph.gravity_mps2, ball_radius_m; scenes.ball.radius_m);
their defaults are these (tests/test_params_models.py compares the record defaults with params.yaml).
"""
GRAVITY_MPS2 = 9.81  # standard gravity, m/s^2 (world z up: acceleration (0, 0, -GRAVITY_MPS2))
BALL_RADIUS_M = 0.11  # FIFA size-5 ball, 22 cm diameter, metres
RHO_AIR_KGM3 = 1.2  # air density at sea level, ~20 degC, kg/m^3
