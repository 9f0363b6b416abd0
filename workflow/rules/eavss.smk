# Phase `eavss`: per-class activation statistics (truthful vs hallucinated items of each fold's
# training questions), HSAV, HSS and EAVSS per layer, top-k hallucination-prone layers.
EV = config["eavss"]
EAVSS_CLASSES = ("truthful", "hallucinated")
AVSS_SCORES = "results/score/scores.json"  # the score phase's per-layer AVSS (for the comparison plot)
EAVSS_CAPTURE_KEYS = (
    "max_items_per_class",
    "text",
    "batch_size",
    "max_length",
    "site",
    "seed",
)
EAVSS_SCORE_KEYS = (
    "hsav_mode",
    "hss_mode",
    "eps",
    "delta",
    "alpha",
    "combine",
    "top_k",
)


EAVSS_CAPTURES = expand(
    "results/eavss/fold{fold}/{cls}.{ext}",
    fold=HALLUC_FOLDS,
    cls=EAVSS_CLASSES,
    ext=("npz", "json"),
)


rule eavss_capture:
    input:
        model="results/download/model",
        samples=HALLUC_ITEMS,
    output:
        truthful_npz="results/eavss/fold{fold}/truthful.npz",
        truthful_json="results/eavss/fold{fold}/truthful.json",
        hallucinated_npz="results/eavss/fold{fold}/hallucinated.npz",
        hallucinated_json="results/eavss/fold{fold}/hallucinated.json",
    log:
        log_of("eavss_capture", "fold{fold}"),
    benchmark:
        bench_of("eavss_capture", "fold{fold}")
    wildcard_constraints:
        fold=r"\d+",
    conda:
        "../envs/pipeline.yaml"
    threads: 1
    resources:
        mem_mb=2000,  # peak RSS 1.1 GB (docs/eavss.md)
    params:
        cfg={k: EV[k] for k in EAVSS_CAPTURE_KEYS},
    script:
        "../scripts/eavss_capture.py"


rule eavss_scores:
    input:
        captures=EAVSS_CAPTURES,
        avss=AVSS_SCORES,
    output:
        scores="results/eavss/scores.json",
        plot=report(
            "results/eavss/eavss_layers.png",
            caption="../report/eavss_layers.rst",
            category="EAVSS",
        ),
    log:
        log_of("eavss_scores"),
    benchmark:
        bench_of("eavss_scores")
    conda:
        "../envs/pipeline.yaml"
    params:
        folds=HALLUC_FOLDS,
        score={k: EV[k] for k in EAVSS_SCORE_KEYS},
        variance_axis=EV["variance_axis"],
        sparsity_mode=EV["sparsity_mode"],
        sparsity_value=EV["sparsity_value"],
        avss_method=EV["avss_method"],
    script:
        "../scripts/eavss_scores.py"


rule phase_eavss:
    input:
        register_phase(
            "eavss", ["results/eavss/scores.json", "results/eavss/eavss_layers.png"]
        ),
