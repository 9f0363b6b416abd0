# Phase `preprocess`: Numba (CUDA or CPU) undistortion, downscaling, tone and background model (docs/vision.md).


rule preprocess_scene:
    input:
        scene=lambda wc: scene_files(wc.split, wc.scene_id),
        cameras="results/calibrate/{split}/{scene_id}",
    output:
        directory("results/preprocess/{split}/{scene_id}"),
    log:
        log_of("preprocess_scene", "{split}_{scene_id}"),
    benchmark:
        bench_of("preprocess_scene", "{split}_{scene_id}")
    wildcard_constraints:
        split="train|val|test|real",
    conda:
        "../envs/pipeline.yaml"
    threads: config["preprocess"]["threads"]
    resources:
        gpu=gpus_for(config["preprocess"]["backend"]),
    params:
        cfg=config["preprocess"],
        cams=lambda wc: scene_cams(wc.split, wc.scene_id),
    script:
        "../scripts/preprocess_scene.py"


rule phase_preprocess:
    input:
        register_phase(
            "preprocess", [f"results/preprocess/{sp}/{sc}" for sp, sc in all_scenes()]
        ),
