# Phase `train_detector`: train the heatmap ball detector on the training scenes, validate on val (docs/vision_detector.md).


rule train_detector:
    input:
        **prefixed("train", detector_inputs(vision_scenes(["train"]))),
        **prefixed("val", detector_inputs(vision_scenes(["val"]))),
    output:
        model="results/train_detector/model.pt",
        report="results/train_detector/training.json",
        timing="results/train_detector/timing.json",
        curve=report(
            "results/train_detector/training_curve.png", category="Vision: detector"
        ),
    log:
        log_of("train_detector"),
    benchmark:
        bench_of("train_detector")
    threads: config["train_detector"]["threads"]
    resources:
        gpu=gpus_for(config["train_detector"]["device"]),
        mem_mb=4000,  # peak RSS 2.8 GB (1080p scenes)
    params:
        train=config["train_detector"],
        detect=config["detect"],
    script:
        "../scripts/train_detector.py"


rule phase_train_detector:
    input:
        register_phase(
            "train_detector",
            [
                "results/train_detector/model.pt",
                "results/train_detector/training.json",
                "results/train_detector/timing.json",
                "results/train_detector/training_curve.png",
            ],
        ),
