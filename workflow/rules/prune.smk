# Phase `prune`: the pruned models listed in params `prune.save`, saved as verified HF folders.
# (The evaluation prunes in memory from scores.json; see src/avss/pruning/prune.py.)


def prune_targets(p):
    """results/prune/<method>/<ratio or nCOUNT> for every entry of params `prune.save`."""
    sels = [
        (
            f"n{int(e['count'])}"
            if e.get("count") is not None
            else f"{float(e['ratio']):g}"
        )
        for e in p["save"]
    ]
    return [f"results/prune/{e['method']}/{sel}" for e, sel in zip(p["save"], sels)]


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
    resources:
        gpu=gpus_for(config["prune"]["device"]),
    params:
        cfg=config["prune"],
    script:
        "../scripts/prune_model.py"


rule phase_prune:
    input:
        register_phase("prune", prune_targets(config["prune"])),
