# Phase `finetune`: contrastive fine-tuning of selected layers, per variant, seed and fold. Variants:
# eavss (EAVSS top-k), random (k random layers), avss_topk (k most important by AVSS), all_layers.
FT = config["finetune"]
FT_VARIANTS = list(FT["variants"])
FT_SEEDS = list(FT["seeds"])
FT_TRAIN_KEYS = (
    "steps",
    "epochs",
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
)


FT_MODELS = expand(
    "results/finetune/{variant}/seed{seed}/fold{fold}/model",
    variant=FT_VARIANTS,
    seed=FT_SEEDS,
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
        seeds=FT_SEEDS,
        avss_method=EV["avss_method"],
    script:
        "../scripts/finetune_plan.py"


rule finetune:
    input:
        model="results/download/model",
        plan="results/finetune/plan.json",
        samples=HALLUC_ITEMS,
    output:
        model=directory("results/finetune/{variant}/seed{seed}/fold{fold}/model"),
    log:
        log_of("finetune", "{variant}_seed{seed}_fold{fold}"),
    benchmark:
        bench_of("finetune", "{variant}_seed{seed}_fold{fold}")
    wildcard_constraints:
        variant="|".join(FT_VARIANTS),
        seed=r"\d+",
        fold=r"\d+",
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=4000,  # peak RSS 2.7 GB, all_layers (docs/eavss.md)
    params:
        cfg={k: FT[k] for k in FT_TRAIN_KEYS},
        state_dir="results/finetune/_resume/{variant}_seed{seed}_fold{fold}",
    script:
        "../scripts/finetune.py"


rule phase_finetune:
    input:
        register_phase("finetune", ["results/finetune/plan.json"] + FT_MODELS),
