# Phase `scenes`: render multi-camera football scenes with exact ground truth, and bring in
# users' real footage (params scenes.real, split "real", no ground truth) (docs/vision.md).
from ball3d.scenes.real import find_real, real_scenes, video_job  # noqa: E402
from ball3d.scenes.generate import camera_names, scene_specs  # noqa: E402

SCENE_CAMS = camera_names(config["scenes"])
REAL_CAMS = {s.scene_id: s.camera_names for s in real_scenes(config["scenes"])}


def scene_cams(split, scene_id):
    """Camera names of one scene: the rendered rig's, or a real scene's own (scenes.real)."""
    return REAL_CAMS[scene_id] if split == "real" else SCENE_CAMS


def scene_files(split, scene_id):
    """truth.json (first: scripts take its folder) and every camera's scene and calibration video."""
    base = f"results/scenes/{split}/{scene_id}"
    files = [f"{base}/truth.json"]
    if split == "real":
        files.append(f"{base}/landmarks_px.json")
    cams = scene_cams(split, scene_id)
    return files + [f"{base}/{p}{c}.avi" for c in cams for p in ("", "calib_")]


def all_scenes():
    """(split, scene_id) of every rendered scene (params `scenes.splits`), then every real one."""
    rendered = [(s.split, s.scene_id) for s in scene_specs(config["scenes"])]
    return rendered + [("real", sc) for sc in REAL_CAMS]


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
    conda:
        "../envs/pipeline.yaml"
    params:
        cfg=config["scenes"],
    script:
        "../scripts/render_scene.py"


def real_video_source(wc):
    """The `file:` source of one video of a real scene (scenes.real[i].cameras.<cam>.video / calib_video)."""
    index, entry = find_real(config["scenes"], wc.scene_id)
    for cam, spec in entry["cameras"].items():
        for key, stem in (("video", cam), ("calib_video", f"calib_{cam}")):
            if stem == wc.video:
                return file_inputs(
                    spec[key], f"scenes.real[{index}].cameras.{cam}.{key}"
                )
    return []  # unknown video: video_job names the error


rule real_scene_video:
    input:
        local=real_video_source,
    output:
        "results/scenes/real/{scene_id}/{video}.avi",
    log:
        log_of("real_scene_video", "{scene_id}_{video}"),
    benchmark:
        bench_of("real_scene_video", "{scene_id}_{video}")
    wildcard_constraints:
        scene_id="[A-Za-z0-9_-]+",
        video="[A-Za-z0-9_]+",
    conda:
        "../envs/pipeline.yaml"
    params:
        job=lambda wc: video_job(config["scenes"], wc.scene_id, wc.video),
    script:
        "../scripts/real_scene_video.py"


rule real_scene:
    input:
        videos=lambda wc: scene_files("real", wc.scene_id)[2:],
        local=lambda wc: file_inputs(
            find_real(config["scenes"], wc.scene_id)[1].get("landmarks_px"),
            f"scenes.real[{find_real(config['scenes'], wc.scene_id)[0]}].landmarks_px",
        ),
    output:
        truth="results/scenes/real/{scene_id}/truth.json",
        landmarks="results/scenes/real/{scene_id}/landmarks_px.json",
    log:
        log_of("real_scene", "{scene_id}"),
    benchmark:
        bench_of("real_scene", "{scene_id}")
    wildcard_constraints:
        scene_id="[A-Za-z0-9_-]+",
    conda:
        "../envs/pipeline.yaml"
    params:
        index=lambda wc: find_real(config["scenes"], wc.scene_id)[0],
        entry=lambda wc: find_real(config["scenes"], wc.scene_id)[1],
    script:
        "../scripts/real_scene.py"


rule plot_scenes:
    input:
        scene_files(*plot_scene()),
    output:
        layout=report(
            "results/scenes/plots/camera_layout.png",
            category="Vision",
            subcategory="Scenes",
        ),
        frames=report(
            "results/scenes/plots/frames.png", category="Vision", subcategory="Scenes"
        ),
    log:
        log_of("plot_scenes"),
    benchmark:
        bench_of("plot_scenes")
    conda:
        "../envs/pipeline.yaml"
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
