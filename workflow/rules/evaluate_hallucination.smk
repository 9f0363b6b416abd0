# Phase `evaluate_hallucination`: base model, every fine-tuned variant and seed, and DoLa on the base model,
# on the held-out questions of each fold; paired-bootstrap change table, plot and generated summary.
EH = config["evaluate_hallucination"]
EH_DOLA = list(EH["dola"]["buckets"])
EH_BACKEND = {"batch_size": EH["batch_size"], "device": EH["device"], "progress": False}
EH_RUNS = (
    expand(
        "results/evaluate_hallucination/runs/base_fold{fold}.json", fold=HALLUC_FOLDS
    )
    + expand(
        "results/evaluate_hallucination/runs/{variant}_seed{seed}_fold{fold}.json",
        variant=FT_VARIANTS,
        seed=FT_SEEDS,
        fold=HALLUC_FOLDS,
    )
    + expand(
        "results/evaluate_hallucination/runs/dola_{bucket}_fold{fold}.json",
        bucket=EH_DOLA,
        fold=HALLUC_FOLDS,
    )
)


rule evaluate_hallucination_base:
    input:
        model="results/download/model",
        eval=lambda wc: HALLUC_EVAL[int(wc.fold)],
    output:
        run="results/evaluate_hallucination/runs/base_fold{fold}.json",
    log:
        log_of("evaluate_hallucination_base", "fold{fold}"),
    benchmark:
        bench_of("evaluate_hallucination_base", "fold{fold}")
    wildcard_constraints:
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
        backend=EH_BACKEND,
    script:
        "../scripts/evaluate_hallucination_base.py"


rule evaluate_hallucination_run:
    input:
        model="results/finetune/{variant}/seed{seed}/fold{fold}/model",
        base="results/download/model",
        eval=lambda wc: HALLUC_EVAL[int(wc.fold)],
    output:
        run="results/evaluate_hallucination/runs/{variant}_seed{seed}_fold{fold}.json",
    log:
        log_of("evaluate_hallucination_run", "{variant}_seed{seed}_fold{fold}"),
    benchmark:
        bench_of("evaluate_hallucination_run", "{variant}_seed{seed}_fold{fold}")
    wildcard_constraints:
        variant="|".join(FT_VARIANTS),
        seed=r"\d+",
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
        backend=EH_BACKEND,
    script:
        "../scripts/evaluate_hallucination_run.py"


rule evaluate_hallucination_dola:
    input:
        model="results/download/model",
        eavss="results/eavss/scores.json",
        eval=lambda wc: HALLUC_EVAL[int(wc.fold)],
    output:
        run="results/evaluate_hallucination/runs/dola_{bucket}_fold{fold}.json",
    log:
        log_of("evaluate_hallucination_dola", "{bucket}_fold{fold}"),
    benchmark:
        bench_of("evaluate_hallucination_dola", "{bucket}_fold{fold}")
    wildcard_constraints:
        bucket="|".join(EH_DOLA) if EH_DOLA else "(?!)",
        fold=r"\d+",
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        gpu=gpus_for(EH["device"]),
        mem_mb=2500,  # base model + one early-exit distribution per candidate layer at a time
    params:
        eval_dir="results/hallucination_samples/eval/fold{fold}",
        tasks=EH["tasks"],
        seed=EH["seed"],
        dola=EH["dola"],
        backend=EH_BACKEND,
    script:
        "../scripts/evaluate_hallucination_dola.py"


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
        bootstrap=EH["bootstrap"],
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
