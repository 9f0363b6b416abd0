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
            "results/train_detector/training_curve.png",
            category="Vision",
            subcategory="Detector",
        ),
    log:
        log_of("train_detector"),
    benchmark:
        bench_of("train_detector")
    conda:
        "../envs/pipeline.yaml"
    threads: config["train_detector"]["threads"]
    resources:
        gpu=gpus_for(config["train_detector"]["device"]),
        mem_mb=4000,  # peak RSS 2.8 GB (1080p scenes)
    params:
        train=config["train_detector"],
        detect=config["detect"],
    script:
        "../scripts/train_detector.py"


rule train_detector_views:
    input:
        metrics="results/train_detector/training.json",
    output:
        headline="results/train_detector/headline.json",
        curves=["results/train_detector/curves/loss_vs_step/train.csv"],
    log:
        log_of("train_detector_views"),
    benchmark:
        bench_of("train_detector_views")
    conda:
        "../envs/pipeline.yaml"
    params:
        # headline.json (`dvc metrics show`): validation F1 of the trained detector
        headline={"val_f1": ["val_metrics/overall/f1", 1]},
        curves={
            "loss_vs_step": {
                "source": "results/train_detector/training.json",
                "rows": "curve",
            }
        },
    script:
        "../scripts/views.py"


rule phase_train_detector:
    input:
        register_phase(
            "train_detector",
            [
                "results/train_detector/model.pt",
                "results/train_detector/training.json",
                "results/train_detector/timing.json",
                "results/train_detector/training_curve.png",
            ]
            + list(rules.train_detector_views.output),
        ),
