# Phase `evaluate_pruning`: dense and pruned models (every method x ratio of scores.json) on QA,
# language modelling and sentiment; retention table, plots and a generated summary.
from avss.records import dataset_path as _eval_dataset_path

EVAL_PRUNING = config["evaluate_pruning"]
EVAL_PRUNING_OUT = "results/evaluate_pruning"


rule evaluate_pruning:
    input:
        model="results/download/model",
        scores="results/score/scores.json",
        datasets=[_eval_dataset_path(name) for name in EVAL_PRUNING["tasks"]],
    output:
        json=f"{EVAL_PRUNING_OUT}/evaluations.json",
        timings=f"{EVAL_PRUNING_OUT}/timings.json",  # wall-clock seconds (pipeutil.io.TIMING_FILES)
    log:
        log_of("evaluate_pruning"),
    benchmark:
        bench_of("evaluate_pruning")
    threads: EVAL_PRUNING["threads"]
    resources:
        gpu=gpus_for(EVAL_PRUNING["device"]),
        mem_mb=2500,  # peak RSS 1.5 GB
    params:
        cfg=EVAL_PRUNING,
        datasets_dir="results/download/datasets",
    script:
        "../scripts/evaluate_pruning.py"


rule layer_damage:
    input:
        model="results/download/model",
        datasets=[_eval_dataset_path(name) for name in EVAL_PRUNING["damage"]["tasks"]],
    output:
        json=f"{EVAL_PRUNING_OUT}/damage.json",
        timings=f"{EVAL_PRUNING_OUT}/damage_timings.json",  # wall-clock (pipeutil.io.TIMING_FILES)
    log:
        log_of("layer_damage"),
    benchmark:
        bench_of("layer_damage")
    threads: EVAL_PRUNING["threads"]
    resources:
        gpu=gpus_for(EVAL_PRUNING["device"]),
        mem_mb=2500,
    params:
        cfg=EVAL_PRUNING,
        datasets_dir="results/download/datasets",
    script:
        "../scripts/layer_damage.py"


rule report_pruning:
    input:
        json=f"{EVAL_PRUNING_OUT}/evaluations.json",
        damage=f"{EVAL_PRUNING_OUT}/damage.json",
        scores="results/score/scores.json",
    output:
        csv=report(
            f"{EVAL_PRUNING_OUT}/retention.csv",
            caption="../report/evaluate_pruning.rst",
            category="Pruning",
            subcategory="Retention table",
        ),
        metrics=f"{EVAL_PRUNING_OUT}/metrics.json",
        summary=report(
            f"{EVAL_PRUNING_OUT}/summary.md",
            caption="../report/evaluate_pruning.rst",
            category="Pruning",
            subcategory="Summary",
        ),
        layer_scores=report(
            f"{EVAL_PRUNING_OUT}/plots/layer_scores.png",
            caption="../report/evaluate_pruning.rst",
            category="Pruning",
            subcategory="Per-layer scores",
        ),
        retention=report(
            f"{EVAL_PRUNING_OUT}/plots/retention.png",
            caption="../report/evaluate_pruning.rst",
            category="Pruning",
            subcategory="Retention vs ratio",
        ),
        heatmap=report(
            f"{EVAL_PRUNING_OUT}/plots/removed_layers.png",
            caption="../report/evaluate_pruning.rst",
            category="Pruning",
            subcategory="Removed layers",
        ),
        proxies=f"{EVAL_PRUNING_OUT}/proxies.csv",
        damage_csv=f"{EVAL_PRUNING_OUT}/damage.csv",
        calibration=f"{EVAL_PRUNING_OUT}/calibration.csv",
        damage_ranks=report(
            f"{EVAL_PRUNING_OUT}/plots/damage_ranks.png",
            caption="../report/evaluate_pruning.rst",
            category="Pruning",
            subcategory="Measured damage and proxy ranks",
        ),
    log:
        log_of("report_pruning"),
    benchmark:
        bench_of("report_pruning")
    params:
        cfg=EVAL_PRUNING,
        calibration=config["score"].get("calibration", "wiki"),
    script:
        "../scripts/report_pruning.py"


rule phase_evaluate_pruning:
    input:
        register_phase(
            "evaluate_pruning",
            [
                f"{EVAL_PRUNING_OUT}/evaluations.json",
                f"{EVAL_PRUNING_OUT}/timings.json",
                f"{EVAL_PRUNING_OUT}/retention.csv",
                f"{EVAL_PRUNING_OUT}/metrics.json",
                f"{EVAL_PRUNING_OUT}/summary.md",
                f"{EVAL_PRUNING_OUT}/plots/layer_scores.png",
                f"{EVAL_PRUNING_OUT}/plots/retention.png",
                f"{EVAL_PRUNING_OUT}/plots/removed_layers.png",
                f"{EVAL_PRUNING_OUT}/damage.json",
                f"{EVAL_PRUNING_OUT}/damage_timings.json",
                f"{EVAL_PRUNING_OUT}/proxies.csv",
                f"{EVAL_PRUNING_OUT}/damage.csv",
                f"{EVAL_PRUNING_OUT}/calibration.csv",
                f"{EVAL_PRUNING_OUT}/plots/damage_ranks.png",
            ],
        ),
