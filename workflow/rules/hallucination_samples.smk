# Phase `hallucination_samples`: labelled truthful vs hallucinated (question, answer) items per
# dataset, and the split of each dataset's questions into folds (docs/eavss.md).
HS = config["hallucination_samples"]
HALLUC_DATASETS = list(HS["datasets"])
HALLUC_FOLDS = list(range(int(HS["folds"])))
HALLUC_GEN_QA = ("nq_open", "trivia_qa")  # labelled with the model's own greedy answers


def halluc_cfg(dataset):
    keep = {k: v for k, v in HS.items() if k not in ("datasets", "max_questions")}
    return {**keep, "max_questions": HS["max_questions"].get(dataset)}


def halluc_items():
    return expand(
        "results/hallucination_samples/{dataset}.jsonl", dataset=HALLUC_DATASETS
    )


def halluc_eval_files(fold):
    return expand(
        "results/hallucination_samples/eval/fold{fold}/{dataset}.jsonl",
        fold=fold,
        dataset=HALLUC_DATASETS,
    )


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
    threads: 1
    params:
        cfg=lambda wc: halluc_cfg(wc.dataset),
    script:
        "../scripts/hallucination_samples.py"


rule phase_hallucination_samples:
    input:
        register_phase(
            "hallucination_samples",
            halluc_items()
            + expand(
                "results/hallucination_samples/{dataset}.summary.json",
                dataset=HALLUC_DATASETS,
            )
            + [f for fold in HALLUC_FOLDS for f in halluc_eval_files(fold)],
        ),
