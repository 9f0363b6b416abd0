# Phase `capture`: streamed per-layer activation statistics and leave-one-out perplexities;
# every activation site in one pass on each calibration text (AVSS variants, calibration study).
from avss.records import dataset_path as _dataset_path

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


rule capture_sites:
    input:
        model="results/download/model",
        text=lambda wc: _dataset_path(
            config["capture"]["calibrations"][wc.calibration]["dataset"]
        ),
    output:
        npz="results/capture/sites_{calibration}.npz",
        json="results/capture/sites_{calibration}.json",
    log:
        log_of("capture_sites", "{calibration}"),
    benchmark:
        bench_of("capture_sites", "{calibration}")
    wildcard_constraints:
        calibration="|".join(config["capture"]["calibrations"]),
    conda:
        "../envs/pipeline.yaml"
    threads: config["capture"]["threads"]
    resources:
        gpu=gpus_for(config["capture"]["device"]),
        mem_mb=2500,
    params:
        cfg=config["capture"],
        datasets_dir="results/download/datasets",
    script:
        "../scripts/capture_sites.py"


rule phase_capture:
    input:
        register_phase(
            "capture",
            [
                "results/capture/stats.npz",
                "results/capture/stats.json",
                "results/capture/ppl_drop.json",
            ]
            + [
                f"results/capture/sites_{name}.{ext}"
                for name in config["capture"]["calibrations"]
                for ext in ("npz", "json")
            ],
        ),
