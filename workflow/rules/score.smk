# Phase `score`: AVSS and the baselines (pure functions of the capture statistics), plots.


rule score_layers:
    input:
        npz="results/capture/stats.npz",
        json="results/capture/stats.json",
        ppl="results/capture/ppl_drop.json",
        sites_npz=[
            f"results/capture/sites_{c}.npz" for c in config["capture"]["calibrations"]
        ],
        sites_json=[
            f"results/capture/sites_{c}.json"
            for c in config["capture"]["calibrations"]
        ],
    output:
        json="results/score/scores.json",
    log:
        log_of("score_layers"),
    benchmark:
        bench_of("score_layers")
    conda:
        "../envs/pipeline.yaml"
    params:
        cfg=config["score"],
        calibrations=list(config["capture"]["calibrations"]),
    script:
        "../scripts/score_layers.py"


rule score_plots:
    input:
        json="results/score/scores.json",
    output:
        per_layer=report(
            "results/score/per_layer_scores.png",
            caption="../report/score_per_layer.rst",
            category="Pruning",
            subcategory="Layer scores",
        ),
        avss=report(
            "results/score/avss_components.png",
            caption="../report/score_avss.rst",
            category="Pruning",
            subcategory="Layer scores",
        ),
    log:
        log_of("score_plots"),
    benchmark:
        bench_of("score_plots")
    conda:
        "../envs/pipeline.yaml"
    script:
        "../scripts/score_plots.py"


rule phase_score:
    input:
        register_phase(
            "score",
            [
                "results/score/scores.json",
                "results/score/per_layer_scores.png",
                "results/score/avss_components.png",
            ],
        ),
