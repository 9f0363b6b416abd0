# Phase `capture`: streamed per-layer activation statistics and leave-one-out perplexities.
CAPTURE_INPUTS = dict(
    model="results/download/model", text="results/download/datasets/wiki.txt"
)


rule capture_stats:
    input:
        **CAPTURE_INPUTS,
    output:
        npz="results/capture/stats.npz",
        json="results/capture/stats.json",
    log:
        log_of("capture_stats"),
    benchmark:
        bench_of("capture_stats")
    conda:
        "../envs/pipeline.yaml"
    threads: config["capture"]["threads"]
    resources:
        gpu=gpus_for(config["capture"]["device"]),
        mem_mb=2000,  # peak RSS 1.3 GB
    params:
        cfg=config["capture"],
    script:
        "../scripts/capture_stats.py"


rule capture_ppl_drop:
    input:
        **CAPTURE_INPUTS,
    output:
        json="results/capture/ppl_drop.json",
    log:
        log_of("capture_ppl_drop"),
    benchmark:
        bench_of("capture_ppl_drop")
    conda:
        "../envs/pipeline.yaml"
    threads: config["capture"]["threads"]
    resources:
        gpu=gpus_for(config["capture"]["device"]),
        mem_mb=2500,  # peak RSS 1.65 GB
    params:
        cfg=config["capture"],
    script:
        "../scripts/capture_ppl_drop.py"


rule phase_capture:
    input:
        register_phase(
            "capture",
            [
                "results/capture/stats.npz",
                "results/capture/stats.json",
                "results/capture/ppl_drop.json",
            ],
        ),
