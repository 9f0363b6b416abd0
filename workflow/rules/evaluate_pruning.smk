# Phase `evaluate_pruning`: dense and pruned models (every method x ratio of scores.json) on QA,
# language modelling and sentiment; retention table, plots and a generated summary.
from avss.records import dataset_path as _eval_dataset_path

EVAL_PRUNING = config["evaluate_pruning"]
EVAL_PRUNING_OUT = "results/evaluate_pruning"
# the linear patch calibrates on wiki.txt (evaluate_pruning.heal.patch, docs/healing.md)
_HEAL_DATASETS = (
    ["wiki"]
    if EVAL_PRUNING["heal"]["patch"]["enabled"] and "wiki" not in EVAL_PRUNING["tasks"]
    else []
)
_HEAD_RATIO = str(EVAL_PRUNING["summary"]["ratio"])
# headline.json (`dvc metrics show`): retention at the summary's ratio of the reference and Block Influence
EVAL_PRUNING_HEADLINE = {
    f"{short}_{task}": [f"{method}/{_HEAD_RATIO}/{task}/{metric}/retention", 1]
    for method, short in (
        (EVAL_PRUNING["summary"]["reference"], EVAL_PRUNING["summary"]["reference"]),
        ("block_influence", "bi"),
    )
    if method in config["score"]["methods"]
    for task, metric in (("sciq", "acc"), ("wiki", "word_perplexity"))
    if task in EVAL_PRUNING["tasks"]
}


rule evaluate_pruning:
    input:
        model="results/download/model",
        scores="results/score/scores.json",
        datasets=[
            _eval_dataset_path(name)
            for name in [*EVAL_PRUNING["tasks"], *_HEAL_DATASETS]
        ],
    output:
        json=f"{EVAL_PRUNING_OUT}/evaluations.json",
        timings=f"{EVAL_PRUNING_OUT}/timings.json",  # wall-clock seconds (pipeutil.io.TIMING_FILES)
    log:
        log_of("evaluate_pruning"),
    benchmark:
        bench_of("evaluate_pruning")
    conda:
        "../envs/pipeline.yaml"
    threads: EVAL_PRUNING["threads"]
    resources:
        gpu=gpus_for(EVAL_PRUNING["device"]),
        mem_mb=2500,  # peak RSS 1.5 GB
    params:
        cfg=EVAL_PRUNING,
        datasets_dir=lambda wc, input: str(Path(input.datasets[0]).parent),  # results/download/datasets
        protect=[config["score"]["protect_first"], config["score"]["protect_last"]],
        heal_state=f"{EVAL_PRUNING_OUT}/heal_state",  # LoRA resume states, removed when complete
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
    conda:
        "../envs/pipeline.yaml"
    threads: EVAL_PRUNING["threads"]
    resources:
        gpu=gpus_for(EVAL_PRUNING["device"]),
        mem_mb=2500,
    params:
        cfg=EVAL_PRUNING,
        datasets_dir=lambda wc, input: str(Path(input.datasets[0]).parent),  # results/download/datasets
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
        healing=report(
            f"{EVAL_PRUNING_OUT}/plots/healing.png",
            caption="../report/evaluate_pruning.rst",
            category="Pruning",
            subcategory="Retention before and after healing",
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
    conda:
        "../envs/pipeline.yaml"
    params:
        cfg=EVAL_PRUNING,
        calibration=config["score"].get("calibration", "wiki"),
    script:
        "../scripts/report_pruning.py"


rule evaluate_pruning_views:
    input:
        metrics=f"{EVAL_PRUNING_OUT}/metrics.json",
        curves=f"{EVAL_PRUNING_OUT}/retention.csv",
        tables=[
            f"{EVAL_PRUNING_OUT}/{name}"
            for name in (
                "retention.csv",
                "summary.md",
                "proxies.csv",
                "damage.csv",
                "calibration.csv",
            )
        ],
    output:
        headline=f"{EVAL_PRUNING_OUT}/headline.json",
        curves=expand(
            f"{EVAL_PRUNING_OUT}/curves/retention_vs_ratio/{{m}}.csv",
            m=config["score"]["methods"],
        ),
        tables=[
            report(
                f"{EVAL_PRUNING_OUT}/tables/{name}.html",
                category="Pruning",
                subcategory="Tables",
                labels={"table": name},
            )
            for name in ("retention", "summary", "proxies", "damage", "calibration")
        ],
    log:
        log_of("evaluate_pruning_views"),
    benchmark:
        bench_of("evaluate_pruning_views")
    conda:
        "../envs/pipeline.yaml"
    params:
        headline=EVAL_PRUNING_HEADLINE,
        curves={
            "retention_vs_ratio": {
                "source": f"{EVAL_PRUNING_OUT}/retention.csv",
                "series": "method",
                "where": {
                    "primary": "True",
                    "heal": "none",
                },  # the pruned models (healed: summary.md)
            }
        },
    script:
        "../scripts/views.py"


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
                f"{EVAL_PRUNING_OUT}/plots/healing.png",
                f"{EVAL_PRUNING_OUT}/damage.json",
                f"{EVAL_PRUNING_OUT}/damage_timings.json",
                f"{EVAL_PRUNING_OUT}/proxies.csv",
                f"{EVAL_PRUNING_OUT}/damage.csv",
                f"{EVAL_PRUNING_OUT}/calibration.csv",
                f"{EVAL_PRUNING_OUT}/plots/damage_ranks.png",
            ]
            + list(rules.evaluate_pruning_views.output),
        ),
