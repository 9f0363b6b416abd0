# Phase `prune`: the pruned models listed in params `prune.save`, saved as verified HF folders.
# (The evaluation prunes in memory from scores.json; see src/avss/pruning/prune.py.)


rule prune_model:
    input:
        model="results/download/model",
        scores="results/score/scores.json",
    output:
        folder=directory("results/prune/{method}/{sel}"),
    log:
        log_of("prune_model", "{method}_{sel}"),
    benchmark:
        bench_of("prune_model", "{method}_{sel}")
    wildcard_constraints:
        method="[a-z_]+",
        sel=r"n?[0-9.]+",
    conda:
        "../envs/pipeline.yaml"
    resources:
        gpu=gpus_for(config["prune"]["device"]),
    params:
        cfg=config["prune"],
    script:
        "../scripts/prune_model.py"


rule phase_prune:
    input:
        register_phase("prune", prune_targets(config["prune"])),
