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
    conda:
        "../envs/pipeline.yaml"
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
    conda:
        "../envs/pipeline.yaml"
    params:
        metrics=EH["metrics"],
    script:
        "../scripts/evaluate_hallucination_report.py"


rule evaluate_hallucination_views:
    input:
        metrics="results/evaluate_hallucination/metrics.json",
        tables=[
            "results/evaluate_hallucination/table.md",
            "results/evaluate_hallucination/summary.md",
        ],
    output:
        headline="results/evaluate_hallucination/headline.json",
        tables=[
            report(
                f"results/evaluate_hallucination/tables/{name}.html",
                category="EAVSS",
                subcategory="Tables",
                labels={"table": name},
            )
            for name in ("table", "summary")
        ],
    log:
        log_of("evaluate_hallucination_views"),
    benchmark:
        bench_of("evaluate_hallucination_views")
    conda:
        "../envs/pipeline.yaml"
    params:
        # headline.json (`dvc metrics show`): change of the EAVSS fine-tune vs the base model
        headline={
            f"{short}_d": [f"eavss/{task}/{metric}/abs_change", 1]
            for task, metric, short in (
                ("truthful_qa", "mc1", "mc1"),
                ("sciq", "acc", "sciq"),
            )
            if task in EH["tasks"] and "eavss" in FT_VARIANTS
        },
        curves={},
    script:
        "../scripts/views.py"


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
            ]
            + list(rules.evaluate_hallucination_views.output),
        ),
