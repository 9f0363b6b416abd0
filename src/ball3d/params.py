"""Parameters of the vision branch: params.yaml sections scenes ... evaluate_vision.

One pydantic model per params.yaml section: type, default (= params.yaml), valid range and description of
every parameter, written once. workflow/schemas/<section>.schema.yaml is generated from these models
(``make schemas``); tests/test_params_models.py fails when the models, the schemas and params.yaml disagree.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, RootModel

from pipeutil.paramschema import Absent, Given, Opt, Req, Section

__all__ = ["SECTIONS"]


class Vision(Section):
    """The multi-camera ball 3D branch (phases scenes, calibrate, preprocess, train_detector, detect, bundle, evaluate_vision)."""

    enabled: bool = Req(True, "Run this branch: false leaves its rules out of the workflow, `rule all` and dvc.yaml.")


class ScenesSplitsTrain(Section):
    """params.yaml: scenes.splits.train."""

    count: int = Req(6, "Number of scenes in the split.", ge=0)
    first_seed: int = Req(1000, "Seed of the first scene; scene i uses first_seed + i (ranges must not overlap).", ge=0)


class ScenesSplitsVal(Section):
    """params.yaml: scenes.splits.val."""

    count: int = Req(1, "Number of scenes in the split.", ge=0)
    first_seed: int = Req(2000, "Seed of the first scene; scene i uses first_seed + i (ranges must not overlap).", ge=0)


class ScenesSplitsTest(Section):
    """params.yaml: scenes.splits.test."""

    count: int = Req(12, "Number of scenes in the split.", ge=0)
    first_seed: int = Req(3000, "Seed of the first scene; scene i uses first_seed + i (ranges must not overlap).", ge=0)


class ScenesSplits(Section):
    """params.yaml: scenes.splits."""

    train: ScenesSplitsTrain = Req(ScenesSplitsTrain, "Detector training scenes.")
    val: ScenesSplitsVal = Req(ScenesSplitsVal, "Validation scenes.")
    test: ScenesSplitsTest = Req(ScenesSplitsTest, "Test scenes.")


class ScenesCamerasPositionsItem(Section):
    """params.yaml: scenes.cameras.positions.item."""

    name: str = Absent("Camera name (file names use it).", pattern="^[A-Za-z0-9_]+$")
    eye: list[float] = Given("Camera centre, m.", min_length=3, max_length=3)
    target: list[float] = Given("Point looked at, m.", min_length=3, max_length=3)


class ScenesCamerasJitter(Section):
    """params.yaml: scenes.cameras.jitter."""

    position_m: float = Req(1.0, "Camera position, m.", ge=0)
    aim_m: float = Req(1.5, "Aim point, m.", ge=0)
    focal_frac: float = Req(0.03, "Relative focal length.", ge=0, le=0.3)
    principal_px: float = Req(8.0, "Principal point, px at 1920 width.", ge=0)
    dist_frac: float = Req(0.2, "Relative distortion coefficients.", ge=0)


class ScenesCameras(Section):
    """params.yaml: scenes.cameras."""

    count: int = Req(6, "Cameras on an ellipse around the pitch (ignored when positions is given).", ge=1)
    distance_m: float = Req(15.0, "Distance of the ellipse beyond the pitch lines, m.", ge=0)
    height_m: float = Req(18.0, "Camera height, m.", gt=0)
    first_angle_deg: float = Req(30.0, "Angle of cam0 on the ellipse, degrees.")
    aim_fraction: float = Req(0.4, "Aim point = camera ground position x this fraction.", ge=0, le=1)
    positions: list[ScenesCamerasPositionsItem] = Req(
        [], "Optional explicit cameras: {name, eye: [x, y, z], target: [x, y, z]} in metres."
    )
    focal_px: float = Req(1400.0, "Focal length in px at 1920 px width (scaled with width).", gt=0)
    dist: list[float] = Req(
        [-0.08, 0.02, 0.0, 0.0, 0.0], "OpenCV distortion k1 k2 p1 p2 k3.", min_length=5, max_length=5
    )
    jitter: ScenesCamerasJitter = Req(
        ScenesCamerasJitter, "Standard deviations of the per-scene perturbation of the nominal rig."
    )


class ScenesBall(Section):
    """params.yaml: scenes.ball."""

    radius_m: float = Req(0.11, "Ball radius, m.", gt=0)
    mass_kg: float = Req(0.43, "Ball mass, kg.", gt=0)
    drag_coeff: float = Req(0.25, "Quadratic air-drag coefficient Cd.", ge=0)
    restitution: float = Req(0.6, "Vertical speed kept at a bounce.", ge=0, le=1)
    bounce_friction: float = Req(0.8, "Horizontal speed kept at a bounce.", ge=0, le=1)
    rolling_decel: float = Req(0.6, "Rolling resistance, m/s^2.", ge=0)
    kick_rate_hz: float = Req(0.6, "Mean kicks per second.", gt=0)
    kick_speed: list[float] = Req([8.0, 28.0], "Kick speed range, m/s.", min_length=2, max_length=2)
    kick_elevation_deg: list[float] = Req([0.0, 40.0], "Kick elevation range, degrees.", min_length=2, max_length=2)
    play_area: list[float] = Req([38.0, 26.0], "Kicks aim into |x| <= a, |y| <= b, m.", min_length=2, max_length=2)
    dribble_prob: float = Opt(0.5, "Probability that a kick is a dribbling touch along the ground.", ge=0, le=1)
    dribble_speed: list[float] = Opt([2.0, 6.0], "Speed range of a dribbling touch, m/s.", min_length=2, max_length=2)


class ScenesPlayers(Section):
    """params.yaml: scenes.players."""

    count: int = Req(22, "Players (two teams and a referee).", ge=0)
    chasers: int = Req(4, "Players running towards the ball.", ge=0)
    speed_ms: float = Req(8.0, "Running speed, m/s.", ge=0)
    orbit_rad_s: float = Opt(
        1.5, "Chasers turn around the ball at a random angular speed up to this, rad/s (0 = fixed spots).", ge=0
    )


class ScenesConditions(Section):
    """params.yaml: scenes.conditions."""

    exposure: float = Req(0.5, "Shutter-open fraction of the frame interval.", ge=0, le=1)
    blur_samples: int = Req(7, "Sub-frame ball renders averaged per frame.", ge=1)
    low_light_prob: float = Req(0.3, "Probability that a camera is dark and noisy.", ge=0, le=1)
    low_light_gain: float = Req(0.3, "Brightness factor of a low-light camera.", gt=0, le=1)
    read_noise: float = Req(2.0, "Read noise, grey levels.", ge=0)
    shot_noise: float = Req(0.5, "Signal-dependent noise: variance = read^2 + shot x signal.", ge=0)


class ScenesCalibVideoBoard(Section):
    """params.yaml: scenes.calib_video.board."""

    cols: int = Req(9, "Inner corners along x.", ge=3)
    rows: int = Req(6, "Inner corners along y.", ge=3)
    square_m: float = Req(0.1, "Square size, m.", gt=0)


class ScenesCalibVideo(Section):
    """params.yaml: scenes.calib_video."""

    n_frames: int = Req(40, "Frames per calibration video.", ge=2)
    board: ScenesCalibVideoBoard = Req(ScenesCalibVideoBoard, "Rendered chessboard.")
    blur_fraction: float = Req(0.15, "Fraction of frames with a motion-blur streak.", ge=0, le=1)
    noise_sigma: float = Req(2.0, "Gaussian noise, grey levels.", ge=0)


class ScenesRealItemCamerasEntrySha256(Section):
    """params.yaml: scenes.real.item.cameras.entry.sha256."""

    video: str | None = Absent("sha256 of the match video.", pattern="^[0-9a-fA-F]{64}$")
    calib_video: str | None = Absent("sha256 of the calibration video.", pattern="^[0-9a-fA-F]{64}$")


class ScenesRealItemCamerasEntry(Section):
    """params.yaml: scenes.real.item.cameras.entry."""

    video: str = Given("Match video, 'file:<path>' (any container OpenCV reads).", pattern="^file:.+")
    calib_video: str = Given(
        "Chessboard video of the same camera and lens setting (board: params calibrate.board), same image size.",
        pattern="^file:.+",
    )
    sha256: ScenesRealItemCamerasEntrySha256 = Absent(
        "Optional expected sha256 of the files; a mismatch stops the run."
    )


class ScenesRealItem(Section):
    """params.yaml: scenes.real.item."""

    scene_id: str = Given("Scene folder name (unique among the real scenes).", pattern="^[A-Za-z0-9_-]+$")
    fps: float | None = Absent(
        "Frame rate of the match videos, Hz; null = read from the videos (they must agree).", gt=0
    )
    frames: list[Annotated[int, Field(ge=0)]] | None = Absent(
        "[start, stop): frames cut from every match video (0-based, stop excluded); null = all frames (then every camera must have the same count).",
        min_length=2,
        max_length=2,
    )
    cameras: dict[str, ScenesRealItemCamerasEntry] = Given(
        "Camera name (used in file names) -> its videos; the cameras must be synchronised (frame i = same instant).",
        schema={"minProperties": 1, "propertyNames": {"pattern": "^[A-Za-z0-9_]+$"}},
    )
    landmarks_px: str = Given(
        "JSON {camera: {landmark: [u, v]}}: clicked pitch landmarks (names of ball3d.pitch.landmarks()), pixels of the match video, >= 4 per camera.",
        pattern="^file:.+",
    )
    landmarks_sha256: str | None = Absent("Optional expected sha256 of the landmark file.", pattern="^[0-9a-fA-F]{64}$")


class Scenes(Section):
    """Synthetic multi-camera football scenes with exact ground truth, and users' real footage (phase scenes); see docs/vision.md."""

    splits: ScenesSplits = Req(ScenesSplits, "Scenes per split; scene id = <split>_<seed>.")
    n_frames: int = Req(50, "Frames per camera video.", ge=2)
    fps: float = Req(25.0, "Frame rate of every camera, Hz.", gt=0)
    width: int = Req(1920, "Image width, px.", ge=64)
    height: int = Req(1080, "Image height, px.", ge=48)
    video_quality: int = Req(95, "MJPG quality of the AVI files.", ge=1, le=100)
    texture_res_m: float = Req(0.04, "Metres per texel of the pitch texture.", gt=0, le=0.5)
    physics_substeps: int = Req(20, "Ball integration steps per frame interval.", ge=1)
    cameras: ScenesCameras = Req(ScenesCameras, "Ground-truth camera rig (src/ball3d/rig.py).")
    ball: ScenesBall = Req(ScenesBall, "Ball physics (src/ball3d/scenes/physics.py).")
    players: ScenesPlayers = Req(ScenesPlayers, "Moving occluders.")
    conditions: ScenesConditions = Req(ScenesConditions, "Motion blur, low light and sensor noise.")
    calib_video: ScenesCalibVideo = Req(ScenesCalibVideo, "Chessboard calibration video of every camera.")
    real: list[ScenesRealItem] = Req(
        [],
        "Real footage, each entry one scene of split 'real' (results/scenes/real/<scene_id>/, no ground truth); empty = none. See docs/vision.md, section 'Your own videos'.",
    )


class CalibrateBoard(Section):
    """params.yaml: calibrate.board."""

    cols: int = Req(9, "Inner corners along x.", ge=3)
    rows: int = Req(6, "Inner corners along y.", ge=3)
    square_m: float = Req(0.1, "Square size, m.", gt=0)


class CalibrateLinesStagesItem(Section):
    """params.yaml: calibrate.lines.stages.item."""

    trunc_px: float = Given("Distance-transform truncation (capture range), px.", gt=0)
    blur_px: float = Given("Gaussian blur sigma of the truncated distance transform, px.", ge=0)


class CalibrateLines(Section):
    """params.yaml: calibrate.lines."""

    median_frames: int = Req(20, "Frames sampled evenly for the temporal-median background plate.", ge=1)
    tophat_px: float = Req(15, "White top-hat disc diameter, px: wider than the widest line.", ge=3)
    noise_k: float = Req(4.0, "Line pixels exceed this many robust noise sigmas of the top-hat.", ge=0)
    rel_threshold: float = Req(0.25, "... and this fraction of the local top-hat maximum.", ge=0, le=1)
    local_px: float = Req(61, "Window of that local maximum, px.", ge=3)
    model_step_m: float = Req(0.25, "Spacing of the 3D model points along the markings, m.", gt=0)
    search_deg: float = Req(
        6.0,
        "Grid search of pan and tilt over +-this around the initial aim before the first stage, degrees (0 = off).",
        ge=0,
        le=30,
    )
    search_step_deg: float = Req(1.0, "Step of that grid, degrees.", gt=0)
    stages: list[CalibrateLinesStagesItem] = Req(
        [
            {"trunc_px": 120.0, "blur_px": 16.0},
            {"trunc_px": 40.0, "blur_px": 4.0},
            {"trunc_px": 12.0, "blur_px": 1.0},
            {"trunc_px": 6.0, "blur_px": 0.0},
        ],
        "Coarse-to-fine distance-transform stages, in order.",
        min_length=1,
    )
    loss_scale_px: float = Req(1.0, "Soft-L1 scale of the distance residuals, px.", gt=0)
    subpixel: bool = Req(True, "Final point-to-line step against sub-pixel line centres.")
    subpixel_gate_px: float = Req(4.0, "Points farther than this from a line pixel do not pull in that step, px.", gt=0)
    subpixel_loss_px: float = Req(0.5, "Soft-L1 scale of that step, px.", gt=0)
    max_iterations: int = Req(200, "Least-squares function evaluations per stage.", ge=1)
    margin_px: float = Req(2.0, "Model points this close to the border are not used, px.", ge=0)
    min_line_pixels: int = Req(2000, "Fewer line pixels stop the run (scaled linearly with the width).", ge=0)
    min_points: int = Req(100, "Fewer model points inside the image stop the run.", ge=6)
    max_residual_px: float = Req(1.5, "A larger median point-to-line distance is a failure, px.", gt=0)
    min_inlier_frac: float = Req(
        0.2,
        "A smaller fraction of model points matched to a detected line (within the last truncation) is a failure.",
        ge=0,
        le=1,
    )
    min_explained_frac: float = Req(
        0.5,
        "A smaller fraction of detected line pixels on the projected model (within the last truncation) is a failure.",
        ge=0,
        le=1,
    )
    max_move_m: float = Req(8.0, "A larger camera-centre move from the initial guess is a failure, m.", gt=0)
    max_turn_deg: float = Req(15.0, "A larger rotation from the initial guess is a failure, degrees.", gt=0)
    restart_step_m: float = Req(
        2.0,
        "A fit failing the checks restarts from 10 camera centres this far around the initial one (+-x, +-y, the horizontal diagonals, +-z); the passing fit with the smallest median residual wins; 0 = off, metres.",
        ge=0,
    )


class Calibrate(Section):
    """Camera calibration from video (phase calibrate); see docs/vision.md."""

    board: CalibrateBoard = Req(
        CalibrateBoard, "Calibration board (must match the rendered board on synthetic scenes)."
    )
    max_samples: int = Req(25, "Frames sampled evenly from each calibration video.", ge=3)
    detect_width: int = Req(1280, "Board search on a copy downscaled to at most this width, px.", ge=160)
    blur_ratio: float = Req(
        0.5, "Reject blurred views: sharpness (Laplacian variance) < ratio x median sharpness.", ge=0, le=1
    )
    min_area_frac: float = Req(0.02, "Reject boards covering less than this image fraction.", ge=0, le=1)
    min_shift_frac: float = Req(
        0.01, "Reject near-duplicate views (corner shift below this fraction of the diagonal).", ge=0
    )
    min_views: int = Req(6, "Fewer accepted views stop the run.", ge=3)
    outlier_factor: float = Req(
        3.0, "Views with error > factor x median are dropped before a second calibration.", gt=1
    )
    fix_k3: bool = Req(True, "Keep k3 = 0.")
    zero_tangent: bool = Req(False, "Keep p1 = p2 = 0.")
    landmark_noise_px: float = Req(
        0.5,
        "Synthetic scenes: noise of the projected landmark clicks (extrinsics landmarks_truth and its comparison row), px.",
        ge=0,
    )
    landmark_seed: int = Req(7, "Seed of that noise (plus the scene seed).", ge=0)
    min_landmarks: int = Req(6, "Fewer visible landmarks stop the run.", ge=4)
    extrinsics: Literal["lines", "landmarks_truth"] = Req(
        "lines",
        "How camera poses are found: lines = align the painted pitch lines of each scene video with the pitch model, starting from landmarks_px.json clicks or the nominal rig pose; landmarks_truth = PnP on clicks or, on rendered scenes, on the true landmark projections plus noise (reads the truth; comparison only).",
    )
    lines: CalibrateLines = Req(
        CalibrateLines,
        "Pitch-line alignment (ball3d.linereg). Pixel values are for 1920 px wide images and scale with the width.",
    )


class Preprocess(Section):
    """Numba pre-processing of every camera video (phase preprocess); see docs/vision.md."""

    backend: Literal["auto", "cpu", "gpu"] = Req(
        "auto", "auto = CUDA when numba finds a GPU; cpu forces the GPU off; gpu fails without one."
    )
    threads: int = Req(2, "CPU threads of the Numba kernels (Snakemake threads of the rule).", ge=1)
    compress_level: int = Req(1, "Deflate level of the .npz outputs (0 = stored: fastest, largest).", ge=0, le=9)
    scale: int = Req(2, "Downscaling factor of the undistorted output.", ge=1, le=8)
    target_luma: float = Req(100.0, "Dark videos are gained up to this mean luminance.", gt=0, le=255)
    max_gain: float = Req(4.0, "Largest low-light gain.", ge=1)
    low_light_gain_threshold: float = Req(1.5, "Gains at or above this also get low_light_gamma.", ge=1)
    low_light_gamma: float = Req(0.8, "Gamma of low-light videos (< 1 lifts shadows).", gt=0, le=2)
    white_balance: list[Annotated[float, Field(gt=0)]] = Req(
        [1.0, 1.0, 1.0], "Per-channel B G R factors.", min_length=3, max_length=3
    )
    bg_alpha: float = Req(0.05, "Running-mean background update rate.", gt=0, le=1)
    fg_threshold: float = Req(18.0, "Foreground when |luminance - background| exceeds this, grey levels.", ge=0)


class TrainDetectorNetwork(Section):
    """params.yaml: train_detector.network."""

    n_frames: int = Req(3, "Consecutive grey frames stacked as input (t-n+1 .. t).", ge=1, le=8)
    use_foreground: bool = Req(True, "Add the foreground channel of frame t.")
    color: bool = Req(True, "Frames as 3 BGR channels each instead of grey.")
    width: int = Req(8, "Channels of the full-resolution stage (doubled per stride-2 stage).", ge=2, le=128)
    scale: float = Req(
        0.5, "Detector frame size / full-resolution size (0.5 = the preprocess output at scale 2).", gt=0, le=1
    )
    sigma: float = Req(1.5, "Gaussian target sigma, detector pixels.", gt=0)


class TrainDetector(Section):
    """Training of the heatmap ball detector (phase train_detector); see docs/vision_detector.md."""

    input: Literal["preprocess", "video"] = Req(
        "preprocess",
        "Frames the detector reads: preprocess = the preprocess phase's undistorted npz (+ calibrated cameras); video = the raw scene videos with the detector's own background model.",
    )
    network: TrainDetectorNetwork = Req(TrainDetectorNetwork, "Network and input layout; stored in the checkpoint.")
    seed: int = Req(0, "Seed of window sampling, initialisation and augmentation.", ge=0)
    steps: int = Req(1600, "Optimiser steps.", ge=1)
    batch_size: int = Req(16, "Windows per step.", ge=1)
    crop: int = Req(64, "Training window side, detector pixels.", ge=8, multiple_of=4)
    margin: int = Req(8, "Border stored around each bank window for translation jitter, detector pixels.", ge=0)
    pos_per_clip: int = Req(120, "Windows around the ball (visible or hidden) per camera clip.", ge=0)
    neg_per_clip: int = Req(40, "Random windows per camera clip.", ge=0)
    lr: float = Req(0.003, "Adam learning rate (divided by 10 for the last 30 % of the steps).", gt=0)
    weight_decay: float = Req(1e-05, "Adam weight decay.", ge=0)
    pos_weight: float = Req(30.0, "Extra loss weight on the Gaussian target (weighted BCE).", ge=0)
    min_visible: float = Req(0.25, "A ball less visible than this gets no target.", ge=0, le=1)
    occluded_boost: float = Req(
        1.0,
        "Positive training windows are drawn this many times more often from frames where the ball is partly hidden (1 = uniform).",
        gt=0,
    )
    occluded_below: float = Req(
        0.75, "Visible fraction below which a frame counts as partly hidden for occluded_boost.", ge=0, le=1
    )
    threads: int = Req(2, "Torch CPU threads (Snakemake threads of the rule).", ge=1)
    log_every: int = Req(50, "Steps between training-curve points.", ge=1)
    device: Literal["auto", "cpu", "cuda"] = Req(
        "auto", "auto = cuda when torch sees a GPU, else cpu; cuda fails without one."
    )


class DetectClassical(Section):
    """params.yaml: detect.classical."""

    scale: float = Req(0.5, "Frame size it works at / full resolution.", gt=0, le=1)
    fg_threshold: float = Req(0.5, "Foreground strength above which a pixel is foreground.", ge=0, le=1)
    min_radius_px: float = Req(1.0, "Smallest ball radius considered, full-resolution pixels.", gt=0)
    max_radius_px: float = Req(8.0, "Largest ball radius considered, full-resolution pixels.", gt=0)
    min_score: float = Req(0.05, "Candidates below this score are dropped.", ge=0, le=1)
    top_k: int = Req(5, "Candidates kept per frame and camera.", ge=1)


class DetectMetrics(Section):
    """params.yaml: detect.metrics."""

    tol_px: float = Req(5.0, "Distance to the truth for a true positive, full-resolution pixels.", gt=0)
    score_threshold: float = Req(0.5, "The best candidate counts as an answer at or above this score.", ge=0, le=1)
    min_visible: float = Req(0.25, "Ball visible fraction below which the frame is a negative.", ge=0, le=1)
    occluded_below: float = Req(0.75, "Visible fraction below which a frame is in the occluded subset.", ge=0, le=1)
    blurred_above: float = Req(
        8.0, "Blur streak length (full-res px) at or above which a frame is in the blurred subset.", ge=0
    )


class DetectMonitor(Section):
    """params.yaml: detect.monitor."""

    enabled: bool = Req(True, "false: the track is never declared lost (roi3d before issue 16).")
    window: int = Req(8, "Frames with a fix whose evidence is pooled.", ge=1)
    min_frames: int = Req(4, "Fixes in the window before a loss can be declared (<= window).", ge=1)
    min_agree_frac: float = Req(
        0.5, "Pooled agreeing views / cameras whose image contains the fix, below -> lost.", ge=0, le=1
    )
    max_disagree: float = Req(
        1.0,
        "Pooled cameras per frame that contradict the fix (confident elsewhere, nothing at the fix), above -> lost.",
        ge=0,
    )
    max_speed_ms: float = Req(
        40.0, "Faster steps between consecutive fixes are implausible (the fix is not reported), m/s.", gt=0
    )
    speed_slack_m: float = Req(0.5, "Triangulation error allowed on top of the speed limit, metres.", ge=0)
    search_frames: int = Req(
        2, "Full-frame passes in every camera after a loss (the lost position banned).", ge=1
    )
    hover_frames: int = Req(
        8,
        "That many airborne fixes in a row are checked against gravity (0 = no check); a hover loss withdraws the run's detections near the hovering object (those frames become missing, not wrong).",
        ge=0,
    )
    airborne_m: float = Req(0.5, "Ball centres higher than this are in the air, metres.", ge=0)
    hover_max_accel_mps2: float = Req(
        4.0,
        "Airborne fixes on a smooth curve (RMS < 0.1 m) whose vertical acceleration is smaller than this in magnitude hover: the track is lost (a ball falls at 9.8 m/s^2).",
        ge=0,
    )
    hover_max_vz_ms: float = Req(
        0.5,
        "... when their mean vertical speed is below this (a head: 0.0; air drag slows a fast fall to ~4 m/s^2 and a deflection mid-run bends the curve; near its apex a ball falls at g), m/s.",
        gt=0,
    )
    ban_frames: int = Req(
        50, "A hovering object (a head) stays banned from the 3D track until it has been unseen for this many frames.", ge=0
    )
    switch_margin: int = Req(
        1,
        "On a full-frame pass, a hypothesis away from the track with this many more agreeing views than the track's own fix takes over.",
        ge=1,
    )
    switch_min_views: int = Req(3, "... provided it has at least this many agreeing views.", ge=2)


class Detect(Section):
    """Ball detection per scene and camera, and detection metrics (phase detect); see docs/vision_detector.md."""

    detectors: list[Literal["heatmap", "classical"]] = Req(
        ["heatmap", "classical"],
        "Detectors run on every scene: results/detect/<split>/<scene_id>/<detector>.json.",
        schema={"uniqueItems": True},
        min_length=1,
    )
    splits: list[Literal["train", "val", "test", "real"]] = Req(
        ["test"],
        "Scene splits detected and scored (held-out: val, test); real = the scenes.real footage (detected, not scored: no truth).",
        schema={"uniqueItems": True},
        min_length=1,
    )
    top_k: int = Req(5, "Candidates kept per frame and camera.", ge=1)
    min_score: float = Req(0.05, "Heatmap candidates below this score are dropped.", ge=0, le=1)
    nms_radius: int = Req(3, "Non-maximum suppression radius, detector pixels.", ge=1)
    mode: Literal["roi3d", "roi", "full"] = Req(
        "roi3d",
        "roi3d = all cameras frame by frame, crops around the projection of the 3D track (needs results/calibrate; 2D extrapolation and full-frame fallback per camera); roi = each camera alone, crops around its own 2D extrapolation with full-frame fallback; full = every frame whole.",
    )
    roi_size: int = Req(96, "ROI crop side, detector pixels.", ge=16, multiple_of=4)
    track_threshold: float = Req(0.3, "Best ROI peak below this = target lost, rerun on the full frame.", ge=0, le=1)
    max_gap: int = Req(
        5,
        "Frames a track (2D per camera; in roi3d also the 3D prediction) coasts on extrapolation before it is dropped.",
        ge=0,
    )
    full_every: int = Req(
        20,
        "roi / roi3d modes: every N-th frame runs on the full frame in every camera (re-acquisition; in roi3d the lost-track monitor's safety net); 0 = never.",
        ge=0,
    )
    roi3d_fallback: bool = Req(
        False,
        "roi3d: a crop at the 3D track's projection whose best peak is below track_threshold reruns the full frame (true) or is kept, the ball being occluded in that camera while the others carry the track (false).",
    )
    disagree_factor: float = Req(
        0.5,
        "roi3d: with a 3D fix in the frame, the scores of a camera's candidates farther than the re-association gate from its projection are multiplied by this and the candidates re-sorted (1 = off).",
        ge=0,
        le=1,
    )
    monitor: DetectMonitor = Req(
        DetectMonitor,
        "roi3d: lost-track monitor (src/ball3d/detection/monitor.py, docs/vision_detector.md): evidence of every frame against its 3D fix; a lost track is re-acquired on the full frame.",
    )
    chunk: int = Req(4, "Frames per batch in full-frame mode.", ge=1)
    device: Literal["auto", "cpu", "cuda"] = Req(
        "auto", "auto = cuda when torch sees a GPU, else cpu; cuda fails without one."
    )
    threads: int = Req(2, "Torch CPU threads (Snakemake threads of the rules).", ge=1)
    checkpoint: str | None = Req(
        None,
        "Heatmap detector weights: null = this run's results/train_detector/model.pt; 'file:<path>' = a checkpoint written by train_detector elsewhere.",
        pattern="^file:.+",
    )
    checkpoint_sha256: str | None = Req(
        None, "Optional sha256 of the detect.checkpoint file (null = not checked).", pattern="^[0-9a-fA-F]{64}$"
    )
    classical: DetectClassical = Req(DetectClassical, "Classical baseline (foreground blobs + size + circularity).")
    metrics: DetectMetrics = Req(DetectMetrics, "Precision / recall / F1 definition and subset thresholds.")


class BundleAssociation(Section):
    """params.yaml: bundle.association."""

    gate_px: float = Opt(
        6.0, "Reprojection gate, undistorted pixels at 1920 px image width (scaled with the width).", gt=0
    )
    min_views: int = Opt(2, "Fewer consistent cameras -> frame reported missing.", ge=2)
    min_score: float = Opt(0.05, "Candidates below this detector score are ignored.", ge=0, le=1)
    max_hypotheses: int = Opt(600, "Candidate pairs tried per frame (highest score products first).", ge=1)
    first_chunk: int = Opt(16, "Pairs tried before the early-exit test (all cameras agree -> stop).", ge=1)
    bounds_m: list[float] = Opt(
        [-70.0, 70.0, -50.0, 50.0, 0.0, 40.0],
        "Plausible ball centre box [xmin, xmax, ymin, ymax, zmin, zmax], metres.",
        min_length=6,
        max_length=6,
    )
    jump_m: float = Opt(
        1.0, "A fix this far from the midpoint of its two neighbours is re-associated near that midpoint, metres.", gt=0
    )
    reassoc_gate_px: float = Opt(
        40.0, "Candidates kept around the midpoint's projection when re-associating, pixels at 1920 px width.", gt=0
    )
    sequence: bool = Opt(
        True,
        "Sequence association (src/ball3d/fusion/sequence.py): Viterbi over the top hypotheses of every frame; its track ransac_seq feeds the graph and streaming. false = per-frame MSAC only.",
    )
    hypotheses_per_frame: int = Opt(8, "Distinct 3D hypotheses kept per frame (plus the missing state).", ge=1)
    score_weight: float = Opt(
        0.5, "Support bonus per consistent view per unit of detector score (a view earns up to 1 + this x score).", ge=0
    )
    max_speed_ms: float = Opt(40.0, "Steps faster than this between chosen hypotheses are jumps, m/s.", gt=0)
    speed_slack_m: float = Opt(0.5, "Triangulation error allowed on top of the speed limit per step, metres.", ge=0)
    step_weight: float = Opt(
        0.5, "Cost of a step at the speed limit (quadratic in step / limit), in consistent views.", ge=0
    )
    jump_cost: float = Opt(
        10.0, "Cost of (re)starting a track or jumping beyond the speed limit, in consistent views.", ge=0
    )
    missing_cost: float = Opt(0.5, "Cost per frame left missing, in consistent views.", ge=0)
    max_skip_frames: int = Opt(
        10, "Missing frames a track may cross without a jump (speed limit scaled by the elapsed time).", ge=0
    )


class BundleGraph(Section):
    """params.yaml: bundle.graph."""

    pixel_sigma_px: float = Opt(
        1.0, "Detection noise, undistorted pixels at 1920 px image width (scaled with the width).", gt=0
    )
    robust: Literal["huber", "cauchy", "none"] = Opt("huber", "M-estimator on projection and motion factors.")
    robust_k: float = Opt(1.345, "M-estimator threshold, whitened units.", gt=0)
    motion_prior: bool = Opt(True, "Ballistic prior between consecutive frames (graph_smoothed).")
    accel_sigma_mps2: float = Opt(1.0, "Unmodelled acceleration, m/s^2.", gt=0)
    gravity_mps2: float = Opt(9.81, "Gravity, m/s^2.", ge=0)
    drag_per_m: float = Opt(0.013, "Quadratic drag k in a = -k|v|v, 1/m (0.013 for a size-5 ball).", ge=0)
    ball_radius_m: float = Opt(0.11, "Ball radius, metres.", gt=0)
    ground_tol_m: float = Opt(0.05, "Centre below radius + this (3 frames) = rolling: no gravity, ground prior.", ge=0)
    ground_sigma_m: float = Opt(0.02, "Height sigma of a rolling ball's centre, metres.", gt=0)
    rolling_decel_mps2: float = Opt(0.6, "Rolling resistance on grass, m/s^2.", ge=0)
    break_sigma: float = Opt(8.0, "Whitened motion residual above which the prior is broken (bounce, kick).", gt=0)
    max_gap_frames: int = Opt(5, "Longest run of frames without a 2-view fix bridged by the prior.", ge=0)
    gap_gate_px: float = Opt(
        8.0, "Single-view detections this close to the prediction join gap frames, pixels at 1920 px width.", gt=0
    )
    weak_prior_sigma_m: float = Opt(30.0, "Weak prior keeping bridged frames determined, metres.", gt=0)
    max_std_m: float = Opt(0.5, "Bridged frames with a larger marginal std are reported missing, metres.", gt=0)
    refine_cameras: bool = Opt(
        False, "Refine camera poses and intrinsics jointly (GeneralSFMFactor2, true bundle adjustment)."
    )
    pose_rot_sigma_deg: float = Opt(0.03, "Camera rotation prior, degrees.", gt=0)
    pose_pos_sigma_m: float = Opt(0.03, "Camera position prior, metres.", gt=0)
    calib_sigma_px: float = Opt(1.0, "Intrinsics prior, pixels.", gt=0)
    max_iterations: int = Opt(100, "Levenberg-Marquardt iterations of the final solve.", ge=1)
    first_pass_iterations: int = Opt(15, "Iterations of the pass that finds bounces and kicks.", ge=1)
    first_pass_sigma_scale: float = Opt(3.0, "That pass uses accel_sigma_mps2 times this.", ge=1)
    max_passes: int = Opt(3, "Solves with the final prior; stops once the set of breaks is stable.", ge=1)
    estimate_skew: bool = Opt(False, "Estimate and correct a clock skew per camera (camera 0 is the reference).")
    max_skew_s: float = Opt(0.05, "Bound of the estimated skews, seconds.", gt=0)


class BundleStreaming(Section):
    """params.yaml: bundle.streaming."""

    enabled: bool = Req(True, "Also run the streaming solver.")
    lag_frames: int = Req(10, "Smoother window, frames.", ge=3)
    innovation_gate_m: float = Req(
        0.3, "A fix this far from the ballistic prediction starts a new piece (bounce/kick), metres.", gt=0
    )


class Bundle(Section):
    """Cross-camera association and GTSAM 3D solve of every scene (phase bundle); see docs/vision_3d.md."""

    splits: list[Literal["train", "val", "test", "real"]] = Req(
        ["test"],
        "Scene splits solved (results/bundle/<split>/<scene_id>/<detector>.json); real = the scenes.real footage (not evaluated: no truth).",
        min_length=1,
    )
    detectors: list[Literal["heatmap", "classical"]] = Req(
        ["heatmap", "classical"],
        "Detectors whose candidates are fused (results/detect/<split>/<scene_id>/<detector>.json).",
        min_length=1,
    )
    skew_variant: bool = Opt(
        True, "Also solve graph_smoothed with per-camera clock-skew estimation (track graph_smoothed_skew)."
    )
    cameras: Literal["calibrated", "truth"] = Req(
        "calibrated",
        "calibrated = cameras of the calibrate phase; truth = ground-truth cameras of truth.json (ablation only).",
    )
    association: BundleAssociation = Req(
        BundleAssociation, "RANSAC over views with a reprojection gate (src/ball3d/association.py)."
    )
    graph: BundleGraph = Req(BundleGraph, "GTSAM factor graph of one sequence (src/ball3d/fusion/graph.py).")
    streaming: BundleStreaming = Req(
        BundleStreaming,
        "Fixed-lag smoother (GTSAM IncrementalFixedLagSmoother) updated per frame (src/ball3d/fusion/streaming.py).",
    )


class Live(Section):
    """The live tracker run on the scenes' videos (phase live; python -m ball3d.live); see docs/vision_live.md."""

    splits: list[Literal["train", "val", "test", "real"]] = Req(
        ["test"],
        "Scene splits tracked live (results/live/<split>/<scene_id>/); real = the scenes.real footage (tracked, not evaluated).",
        min_length=1,
    )
    pace: Literal["fast", "realtime"] = Req(
        "fast",
        "fast = the videos as fast as possible (queues block, nothing dropped, reproducible track); realtime = each video read at its frame rate like a camera (a full queue drops the frame).",
    )
    queue_frames: int = Req(4, "Frames buffered per camera between its decoding thread and the tracker.", ge=1)
    threads: int = Req(2, "CPU threads of torch and the Numba kernels (the rule's Snakemake threads).", ge=1)
    covariance: bool = Req(True, "Write the smoother's marginal covariance of every frame (m^2) in the records.")
    overlay_scene: str | None = Req(
        None, "Scene id of the overlay videos and the top view; null (or an unknown id) = the first scene of live.splits with ground truth."
    )
    trail_frames: int = Req(12, "Frames of the reprojected 3D track drawn behind the ball in the overlay videos.", ge=0)


class EvaluateVisionSweepsBase(Section):
    """params.yaml: evaluate_vision.sweeps.base."""

    n_cameras: int = Opt(4, "Cameras on the ring.", ge=2)
    noise_px: float = Opt(1.0, "Gaussian detection noise, pixels.", ge=0)
    false_rate: float = Opt(0.5, "Mean false detections per frame and camera (Poisson).", ge=0)
    occlusion_prob: float = Opt(0.1, "Probability a view misses the ball.", ge=0, le=1)
    skew_max_s: float = Opt(0.0, "Per-camera clock skew bound, seconds.", ge=0)
    kick_frame: int | None = Opt(70, "Frame of a kick (null = none).", ge=1)
    focal_px: float = Opt(1400.0, "Focal length of the 1080p ring cameras, pixels.", gt=0)
    radius_m: float = Opt(55.0, "Ring size (x half-axis 1.25 r, y 0.9 r), metres.", gt=0)
    top_k: int = Absent("Candidates kept per frame and camera.", ge=1)


class EvaluateVisionSweepsAxes(Section):
    """params.yaml: evaluate_vision.sweeps.axes."""

    n_cameras: list[Annotated[int, Field(ge=2)]] = Opt([2, 3, 4, 6, 8, 12], "Number of cameras.")
    noise_px: list[Annotated[float, Field(ge=0)]] = Opt([0.5, 1.0, 2.0, 4.0], "Detection noise, pixels.")
    false_rate: list[Annotated[float, Field(ge=0)]] = Opt(
        [0.0, 1.0, 3.0], "Mean false detections per frame and camera."
    )
    skew_max_s: list[Annotated[float, Field(ge=0)]] = Opt(
        [0.0, 0.005, 0.01, 0.02], "Per-camera clock skew drawn in [-s, s], seconds."
    )
    occlusion_prob: list[Annotated[float, Field(ge=0, le=1)]] = Absent("Probability a view misses the ball.")


class EvaluateVisionSweeps(Section):
    """params.yaml: evaluate_vision.sweeps."""

    n_frames: int = Req(100, "Frames per synthetic sequence.", ge=10)
    seeds: list[int] = Req([0, 1], "One sequence per seed and value.", min_length=1)
    base: EvaluateVisionSweepsBase = Req(EvaluateVisionSweepsBase, "The fixed values of the non-swept quantities.")
    axes: EvaluateVisionSweepsAxes = Req(EvaluateVisionSweepsAxes, "Values of each swept quantity.")
    plot_methods: list[str] = Opt(
        ["ransac", "ransac_seq", "graph_robust", "graph_smoothed", "graph_smoothed_skew", "streaming_fixed_lag"],
        "Methods drawn in sweeps.png.",
    )


class EvaluateVisionTargets(Section):
    """params.yaml: evaluate_vision.targets."""

    n_frames: int = Req(100, "Frames per sequence.", ge=10)
    seeds: list[int] = Req([0, 1, 2], "Sequences pooled per check.", min_length=1)
    focal_px: float = Opt(1400.0, "Focal length of the ring cameras, pixels at 1920 px.", gt=0)
    radius_m: float = Opt(55.0, "Ring size (x half-axis 1.25 r, y 0.9 r), metres.", gt=0)


class EvaluateVisionDetection3D(Section):
    """params.yaml: evaluate_vision.detection_3d."""

    enabled: bool = Req(True, "Also score each camera's answer re-read with the 3D track (metrics_<detector>.json: detection_3d).")
    method: Literal[
        "dlt", "ransac", "ransac_seq", "graph_robust", "graph_smoothed", "graph_smoothed_skew",
        "streaming_filtered", "streaming_fixed_lag",
    ] = Req("graph_smoothed", "Bundle track whose reprojection picks each camera's answer.")
    radius_px: float = Req(
        4.0, "A candidate this close (full-resolution px) to the track's reprojection becomes the answer; none that close and the reprojection inside the image: no answer.", gt=0
    )


class EvaluateVision(Section):
    """3D evaluation against ground truth, plots and synthetic sweeps (phase evaluate_vision); see docs/vision_3d.md."""

    detector: Literal["heatmap", "classical"] = Req(
        "heatmap", "Detector whose bundle output is plotted (one of bundle.detectors; every detector is scored)."
    )
    plot_scene: str | None = Req(None, "Scene id drawn in the plots; null (or an unknown id) = the first solved scene.")
    plot_frame: int | None = Req(
        None, "Frame drawn in detections.png; null = the frame with the most candidates.", ge=0
    )
    table_methods: list[
        Literal[
            "dlt", "ransac", "ransac_seq", "graph_robust", "graph_smoothed", "graph_smoothed_skew",
            "streaming_filtered", "streaming_fixed_lag", "live_filtered", "live_fixed_lag",
        ]
    ] = Req(
        ["graph_smoothed", "ransac_seq", "streaming_fixed_lag", "live_fixed_lag"],
        "Methods tabulated per scene in results/evaluate_vision/scenes_<detector>.md (RMSE, median, p95, coverage, wrong fixes, missing).",
        min_length=1,
    )
    detection_3d: EvaluateVisionDetection3D = Req(
        EvaluateVisionDetection3D, "Per-camera detection F1 of the answers re-read with a 3D track, beside the detector's own (docs/vision_detector.md)."
    )
    sweeps: EvaluateVisionSweeps = Req(
        EvaluateVisionSweeps, "Synthetic sequences (src/ball3d/evaluation/synth.py), each axis varied alone around `base`."
    )
    targets: EvaluateVisionTargets = Req(
        EvaluateVisionTargets,
        "Clean synthetic sequences (1 px noise, 3 and 8 views) checked against the DESIGN.md targets.",
    )


SECTIONS: dict[str, type[Section | RootModel]] = {
    "vision": Vision,
    "scenes": Scenes,
    "calibrate": Calibrate,
    "preprocess": Preprocess,
    "train_detector": TrainDetector,
    "detect": Detect,
    "bundle": Bundle,
    "live": Live,
    "evaluate_vision": EvaluateVision,
}
