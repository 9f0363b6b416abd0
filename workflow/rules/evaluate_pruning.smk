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
        datasets_dir=lambda wc, input: str(Path(input.datasets[0]).parent),  # results/download/datasets
    script:
        "../scripts/evaluate_pruning.py"


rule report_pruning:
    input:
        json=f"{EVAL_PRUNING_OUT}/evaluations.json",
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
    log:
        log_of("report_pruning"),
    benchmark:
        bench_of("report_pruning")
    params:
        summary=EVAL_PRUNING["summary"],
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
            ],
        ),
