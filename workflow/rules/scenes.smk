# Phase `scenes`: render multi-camera football scenes with exact ground truth (docs/vision.md).
from ball3d.scenes import camera_names, scene_specs  # noqa: E402

SCENE_CAMS = camera_names(config["scenes"])


def scene_files(split, scene_id):
    """truth.json and every camera's scene and calibration video of one scene folder."""
    base = f"results/scenes/{split}/{scene_id}"
    return [f"{base}/truth.json"] + [
        f"{base}/{p}{c}.avi" for c in SCENE_CAMS for p in ("", "calib_")
    ]


def all_scenes():
    """(split, scene_id) of every scene of params `scenes.splits`."""
    return [(s.split, s.scene_id) for s in scene_specs(config["scenes"])]


def plot_scene():
    """The scene shown in the report: the first test scene (else the first scene)."""
    scenes = all_scenes()
    return next((s for s in scenes if s[0] == "test"), scenes[0])


rule render_scene:
    output:
        truth="results/scenes/{split}/{scene_id}/truth.json",
        videos=[f"results/scenes/{{split}}/{{scene_id}}/{c}.avi" for c in SCENE_CAMS],
        calib=[
            f"results/scenes/{{split}}/{{scene_id}}/calib_{c}.avi" for c in SCENE_CAMS
        ],
    log:
        log_of("render_scene", "{split}_{scene_id}"),
    benchmark:
        bench_of("render_scene", "{split}_{scene_id}")
    wildcard_constraints:
        split="train|val|test",
    params:
        cfg=config["scenes"],
    script:
        "../scripts/render_scene.py"


rule plot_scenes:
    input:
        scene_files(*plot_scene()),
    output:
        layout=report(
            "results/scenes/plots/camera_layout.png", category="Vision: scenes"
        ),
        frames=report("results/scenes/plots/frames.png", category="Vision: scenes"),
    log:
        log_of("plot_scenes"),
    benchmark:
        bench_of("plot_scenes")
    params:
        frame=config["scenes"]["n_frames"] // 2,
    script:
        "../scripts/plot_scenes.py"


rule phase_scenes:
    input:
        register_phase(
            "scenes",
            [f for sp, sc in all_scenes() for f in scene_files(sp, sc)]
            + [
                "results/scenes/plots/camera_layout.png",
                "results/scenes/plots/frames.png",
            ],
        ),
