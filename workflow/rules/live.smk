# Phase `live`: the live tracker (python -m ball3d.live) on the scenes' videos; overlay videos and a top view.


rule live_scene:
    input:
        unpack(live_scene_inputs),
    output:
        track="results/live/{split}/{scene}/track.json",
        records="results/live/{split}/{scene}/records.jsonl",
        timing="results/live/{split}/{scene}/timing.json",
    log:
        log_of("live_scene", "{split}_{scene}"),
    benchmark:
        bench_of("live_scene", "{split}_{scene}")
    wildcard_constraints:
        split="train|val|test|real",
    conda:
        "../envs/pipeline.yaml"
    threads: config["live"]["threads"]
    resources:
        gpu=gpus_for(config["detect"]["device"]),
        mem_mb=3000,
    params:
        live=config["live"],
        sections={
            "preprocess": config["preprocess"],
            "train_detector": config["train_detector"],
            "detect": config["detect"],
            "bundle": config["bundle"],
        },
    script:
        "../scripts/live_scene.py"


OVERLAY = live_overlay_scene()


rule live_overlay:
    input:
        truth=f"results/scenes/{OVERLAY[0]}/{OVERLAY[1]}/truth.json",
        calib=f"results/calibrate/{OVERLAY[0]}/{OVERLAY[1]}",
        track=f"results/live/{OVERLAY[0]}/{OVERLAY[1]}/track.json",
        records=f"results/live/{OVERLAY[0]}/{OVERLAY[1]}/records.jsonl",
    output:
        videos=expand(
            "results/live/overlay/{cam}.avi", cam=scene_cams(OVERLAY[0], OVERLAY[1])
        ),
        top=report(
            "results/live/overlay/top_view.png", category="Vision", subcategory="Live"
        ),
    log:
        log_of("live_overlay"),
    benchmark:
        bench_of("live_overlay")
    conda:
        "../envs/pipeline.yaml"
    params:
        cams=scene_cams(OVERLAY[0], OVERLAY[1]),
        trail=config["live"]["trail_frames"],
    script:
        "../scripts/live_overlay.py"


rule phase_live:
    input:
        register_phase(
            "live",
            live_files("track.json")
            + live_files("records.jsonl")
            + live_files("timing.json")
            + list(rules.live_overlay.output),
        ),
