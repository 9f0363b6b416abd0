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
    conda:
        "../envs/pipeline.yaml"
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
        plot=report(
            "results/detect/f1_subsets.png", category="Vision", subcategory="Detector"
        ),
    log:
        log_of("detect_metrics"),
    benchmark:
        bench_of("detect_metrics")
    conda:
        "../envs/pipeline.yaml"
    params:
        detectors=config["detect"]["detectors"],
        detect=config["detect"],
    script:
        "../scripts/detect_metrics.py"


DETECT_HEAD = config["detect"]["detectors"][0]


rule detect_views:
    input:
        metrics="results/detect/metrics.json",
    output:
        headline="results/detect/headline.json",
    log:
        log_of("detect_views"),
    benchmark:
        bench_of("detect_views")
    conda:
        "../envs/pipeline.yaml"
    params:
        # headline.json (`dvc metrics show`): overall F1 of the first detector of detect.detectors
        headline={f"f1_{DETECT_HEAD}": [f"detectors/{DETECT_HEAD}/overall/f1", 1]},
        curves={},
    script:
        "../scripts/views.py"


rule phase_detect:
    input:
        register_phase(
            "detect",
            detect_outputs(config["detect"]["detectors"])
            + detect_outputs(config["detect"]["detectors"], ".timing.json")
            + ["results/detect/metrics.json", "results/detect/f1_subsets.png"]
            + list(rules.detect_views.output),
        ),
