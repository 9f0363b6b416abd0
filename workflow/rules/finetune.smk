# Phase `finetune`: contrastive fine-tuning of selected layers, per variant and fold. Variants:
# eavss (EAVSS top-k), random (k random layers), avss_topk (k most important by AVSS), all_layers.
FT = config["finetune"]
FT_VARIANTS = list(FT["variants"])
FT_TRAIN_KEYS = (
    "steps",
    "batch_questions",
    "max_negatives",
    "max_length",
    "lr",
    "weight_decay",
    "grad_clip",
    "temperature",
    "contrastive_weight",
    "lm_weight",
    "in_batch_negatives",
    "center",
    "method",
    "lora_rank",
    "lora_alpha",
    "lora_targets",
    "save_every",
    "seed",
)


FT_MODELS = expand(
    "results/finetune/{variant}/fold{fold}/model",
    variant=FT_VARIANTS,
    fold=HALLUC_FOLDS,
)


rule finetune_plan:
    input:
        eavss="results/eavss/scores.json",
        avss=AVSS_SCORES,
    output:
        plan="results/finetune/plan.json",
    log:
        log_of("finetune_plan"),
    benchmark:
        bench_of("finetune_plan")
    conda:
        "../envs/pipeline.yaml"
    params:
        variants=FT_VARIANTS,
        k=EV["top_k"],
        seed=FT["seed"],
        avss_method=EV["avss_method"],
    script:
        "../scripts/finetune_plan.py"


rule finetune:
    input:
        model="results/download/model",
        plan="results/finetune/plan.json",
        samples=HALLUC_ITEMS,
    output:
        model=directory("results/finetune/{variant}/fold{fold}/model"),
    log:
        log_of("finetune", "{variant}_fold{fold}"),
    benchmark:
        bench_of("finetune", "{variant}_fold{fold}")
    wildcard_constraints:
        variant="|".join(FT_VARIANTS),
        fold=r"\d+",
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,  # peak RSS 2.7 GB, all_layers (docs/eavss.md)
    params:
        cfg={k: FT[k] for k in FT_TRAIN_KEYS},
        state_dir="results/finetune/_resume/{variant}_fold{fold}",
    script:
        "../scripts/finetune.py"


rule phase_finetune:
    input:
        register_phase("finetune", ["results/finetune/plan.json"] + FT_MODELS),
