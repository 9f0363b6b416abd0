# Phase `calibrate`: intrinsics from each calibration video, extrinsics from the pitch lines (docs/vision.md).


rule calibrate_scene:
    input:
        lambda wc: scene_files(wc.split, wc.scene_id),
    output:
        directory("results/calibrate/{split}/{scene_id}"),
    log:
        log_of("calibrate_scene", "{split}_{scene_id}"),
    benchmark:
        bench_of("calibrate_scene", "{split}_{scene_id}")
    wildcard_constraints:
        split="train|val|test|real",
    conda:
        "../envs/pipeline.yaml"
    params:
        cfg=config["calibrate"],
        rig=config["scenes"]["cameras"],  # nominal poses: the start of the pitch-line alignment
        cams=lambda wc: scene_cams(wc.split, wc.scene_id),
    script:
        "../scripts/calibrate_scene.py"


rule calibrate_summary:
    input:
        [f"results/calibrate/{sp}/{sc}" for sp, sc in all_scenes()],
    output:
        summary="results/calibrate/summary.json",
        plot=report(
            "results/calibrate/calib_errors.png",
            category="Vision",
            subcategory="Calibration",
        ),
    log:
        log_of("calibrate_summary"),
    benchmark:
        bench_of("calibrate_summary")
    conda:
        "../envs/pipeline.yaml"
    script:
        "../scripts/calibrate_summary.py"


rule phase_calibrate:
    input:
        register_phase(
            "calibrate",
            [f"results/calibrate/{sp}/{sc}" for sp, sc in all_scenes()]
            + ["results/calibrate/summary.json", "results/calibrate/calib_errors.png"],
        ),
