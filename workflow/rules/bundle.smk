# Phase `bundle`: cross-camera association and the GTSAM 3D solve of every scene (all methods side by side).


rule bundle_scene:
    input:
        unpack(bundle_inputs),
    output:
        tracks="results/bundle/{split}/{scene}/{detector}.json",
        timing="results/bundle/{split}/{scene}/{detector}.timing.json",
    log:
        log_of("bundle_scene", "{split}_{scene}_{detector}"),
    benchmark:
        bench_of("bundle_scene", "{split}_{scene}_{detector}")
    wildcard_constraints:
        split="train|val|test|real",
        detector="[a-z_]+",
    conda:
        "../envs/pipeline.yaml"
    params:
        cfg=config["bundle"],
    script:
        "../scripts/bundle_scene.py"


rule phase_bundle:
    input:
        register_phase("bundle", bundle_targets(config["bundle"])),
