# Phase `hallucination_samples`: labelled truthful vs hallucinated (question, answer) items per
# dataset, and the split of each dataset's questions into folds (docs/eavss.md).
HS = config["hallucination_samples"]
HALLUC_DATASETS = list(HS["datasets"])
HALLUC_FOLDS = list(range(int(HS["folds"])))
HALLUC_GEN_QA = ("nq_open", "trivia_qa")  # labelled with the model's own greedy answers


HS_SHARED = {k: v for k, v in HS.items() if k not in ("datasets", "max_questions")}
HALLUC_ITEMS = expand(
    "results/hallucination_samples/{dataset}.jsonl", dataset=HALLUC_DATASETS
)
HALLUC_EVAL = {
    fold: expand(
        "results/hallucination_samples/eval/fold{fold}/{dataset}.jsonl",
        fold=fold,
        dataset=HALLUC_DATASETS,
    )
    for fold in HALLUC_FOLDS
}


rule hallucination_samples:
    input:
        data="results/download/datasets/{dataset}.jsonl",
        model=lambda wc: (
            ["results/download/model"] if wc.dataset in HALLUC_GEN_QA else []
        ),
    output:
        samples="results/hallucination_samples/{dataset}.jsonl",
        summary="results/hallucination_samples/{dataset}.summary.json",
        eval=expand(
            "results/hallucination_samples/eval/fold{fold}/{{dataset}}.jsonl",
            fold=HALLUC_FOLDS,
        ),
    log:
        log_of("hallucination_samples", "{dataset}"),
    benchmark:
        bench_of("hallucination_samples", "{dataset}")
    wildcard_constraints:
        dataset="|".join(HALLUC_DATASETS),
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=1500,  # peak RSS 1.0 GB (docs/eavss.md)
    params:
        cfg=lambda wc: {
            **HS_SHARED,
            "max_questions": HS["max_questions"].get(wc.dataset),
        },
    script:
        "../scripts/hallucination_samples.py"


rule phase_hallucination_samples:
    input:
        register_phase(
            "hallucination_samples",
            HALLUC_ITEMS
            + expand(
                "results/hallucination_samples/{dataset}.summary.json",
                dataset=HALLUC_DATASETS,
            )
            + [f for fold in HALLUC_FOLDS for f in HALLUC_EVAL[fold]],
        ),
