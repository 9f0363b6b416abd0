# Phase `bundle`: cross-camera association and the GTSAM 3D solve of every scene (all methods side by side).


def vision_scenes(splits):
    """(split, scene_id) of the scenes (scenes.smk: all_scenes) whose split is in ``splits``."""
    return [(sp, sc) for sp, sc in all_scenes() if sp in splits]


def bundle_targets(p):
    """results/bundle/<split>/<scene_id>/<detector>.json (and .timing.json) for every scene of `bundle.splits`."""
    return [
        f"results/bundle/{sp}/{sc}/{det}{suffix}"
        for sp, sc in vision_scenes(p["splits"])
        for det in p["detectors"]
        for suffix in (".json", ".timing.json")
    ]


def bundle_inputs(wc):
    """truth + detections, and the calibrated cameras unless `bundle.cameras` is 'truth'."""
    out = {
        "truth": f"results/scenes/{wc.split}/{wc.scene}/truth.json",
        "detections": f"results/detect/{wc.split}/{wc.scene}/{wc.detector}.json",
    }
    if config["bundle"]["cameras"] == "calibrated":
        out["cameras"] = f"results/calibrate/{wc.split}/{wc.scene}"
    return out


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
