# Phase `detect`: top-K ball candidates per frame and camera (heatmap network, classical baseline) and their metrics.


rule detect_scene:
    input:
        unpack(detect_scene_inputs),
    output:
        detections="results/detect/{split}/{scene_id}/{detector}.json",
        timing="results/detect/{split}/{scene_id}/{detector}.timing.json",
    log:
        log_of("detect_scene", "{split}_{scene_id}_{detector}"),
    benchmark:
        bench_of("detect_scene", "{split}_{scene_id}_{detector}")
    wildcard_constraints:
        split="train|val|test|real",
        detector="heatmap|classical",
    threads: config["detect"]["threads"]
    resources:
        gpu=gpus_for(config["detect"]["device"]),
        mem_mb=3500,  # peak RSS 2.4 GB (heatmap, one 1080p scene)
    params:
        train=config["train_detector"],
        detect=config["detect"],
        association=config["bundle"]["association"],  # roi3d: per-frame cross-camera association
    script:
        "../scripts/detect_scene.py"


rule detect_metrics:
    input:
        truth=[
            f"results/scenes/{sp}/{sc}/truth.json"
            for sp, sc in vision_scenes(config["detect"]["splits"])
        ],
        detections=detect_outputs(config["detect"]["detectors"]),
    output:
        metrics="results/detect/metrics.json",
        plot=report("results/detect/f1_subsets.png", category="Vision: detector"),
    log:
        log_of("detect_metrics"),
    benchmark:
        bench_of("detect_metrics")
    params:
        detectors=config["detect"]["detectors"],
        detect=config["detect"],
    script:
        "../scripts/detect_metrics.py"


rule phase_detect:
    input:
        register_phase(
            "detect",
            detect_outputs(config["detect"]["detectors"])
            + detect_outputs(config["detect"]["detectors"], ".timing.json")
            + ["results/detect/metrics.json", "results/detect/f1_subsets.png"],
        ),
