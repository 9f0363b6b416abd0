# Phase `evaluate_hallucination`: base model and every fine-tuned variant on the held-out
# questions of each fold; table of absolute/relative changes, plot and generated summary.
EH = config["evaluate_hallucination"]
EH_VARIANTS = ["base"] + FT_VARIANTS


EH_RUNS = expand(
    "results/evaluate_hallucination/runs/{variant}_fold{fold}.json",
    variant=EH_VARIANTS,
    fold=HALLUC_FOLDS,
)


rule evaluate_hallucination_run:
    input:
        model=lambda wc: (
            "results/download/model"
            if wc.variant == "base"
            else f"results/finetune/{wc.variant}/fold{wc.fold}/model"
        ),
        base="results/download/model",
        eval=lambda wc: HALLUC_EVAL[int(wc.fold)],
    output:
        run="results/evaluate_hallucination/runs/{variant}_fold{fold}.json",
    log:
        log_of("evaluate_hallucination_run", "{variant}_fold{fold}"),
    benchmark:
        bench_of("evaluate_hallucination_run", "{variant}_fold{fold}")
    wildcard_constraints:
        variant="|".join(EH_VARIANTS),
        fold=r"\d+",
    threads: 1
    resources:
        gpu=gpus_for(EH["device"]),
        mem_mb=2000,  # peak RSS 1.2 GB (docs/eavss.md)
    params:
        eval_dir="results/hallucination_samples/eval/fold{fold}",
        tasks=EH["tasks"],
        seed=EH["seed"],
        backend={
            "batch_size": EH["batch_size"],
            "device": EH["device"],
            "progress": False,
        },
    script:
        "../scripts/evaluate_hallucination_run.py"


rule evaluate_hallucination_report:
    input:
        runs=EH_RUNS,
    output:
        metrics="results/evaluate_hallucination/metrics.json",
        md=report(
            "results/evaluate_hallucination/table.md",
            caption="../report/eavss_table.rst",
            category="EAVSS",
        ),
        summary=report(
            "results/evaluate_hallucination/summary.md",
            caption="../report/eavss_summary.rst",
            category="EAVSS",
        ),
        plot=report(
            "results/evaluate_hallucination/changes.png",
            caption="../report/eavss_changes.rst",
            category="EAVSS",
        ),
    log:
        log_of("evaluate_hallucination_report"),
    benchmark:
        bench_of("evaluate_hallucination_report")
    params:
        metrics=EH["metrics"],
    script:
        "../scripts/evaluate_hallucination_report.py"


rule phase_evaluate_hallucination:
    input:
        register_phase(
            "evaluate_hallucination",
            EH_RUNS
            + [
                "results/evaluate_hallucination/metrics.json",
                "results/evaluate_hallucination/table.md",
                "results/evaluate_hallucination/summary.md",
                "results/evaluate_hallucination/changes.png",
            ],
        ),
