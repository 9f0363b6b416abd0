# Phase `evaluate_vision`: 3D metrics of every method against truth, plots of one scene, synthetic sweeps.
from pipeutil.io import PipelineError  # noqa: E402

if config["evaluate_vision"]["detector"] not in config["bundle"]["detectors"]:
    raise PipelineError(
        f"params.yaml: evaluate_vision.detector {config['evaluate_vision']['detector']!r} "
        f"is not one of bundle.detectors {config['bundle']['detectors']}"
    )


def eval_pairs(detector):
    """(bundle files, truth files) of every scene solved by the bundle phase for ``detector``."""
    scenes = [s for s in vision_scenes(config["bundle"]["splits"]) if s[0] != "real"]
    return (
        [f"results/bundle/{sp}/{sc}/{detector}.json" for sp, sc in scenes],
        [f"results/scenes/{sp}/{sc}/truth.json" for sp, sc in scenes],
    )


def plot_scene_inputs(wc):
    p, b = config["evaluate_vision"], config["bundle"]
    scenes = [s for s in vision_scenes(b["splits"]) if s[0] != "real"]  # real: no truth
    sp, sc = (
        next(((s, c) for s, c in scenes if c == p["plot_scene"]), scenes[0])
        if scenes
        else ("", "")
    )
    out = {
        "tracks": f"results/bundle/{sp}/{sc}/{p['detector']}.json",
        "truth": f"results/scenes/{sp}/{sc}/truth.json",
        "detections": f"results/detect/{sp}/{sc}/{p['detector']}.json",
    }
    if b["cameras"] == "calibrated":
        out["cameras"] = f"results/calibrate/{sp}/{sc}"
    return out


rule evaluate_vision_metrics:
    input:
        tracks=lambda wc: eval_pairs(wc.detector)[0],
        truth=lambda wc: eval_pairs(wc.detector)[1],
    output:
        metrics="results/evaluate_vision/metrics_{detector}.json",
        table="results/evaluate_vision/scenes_{detector}.md",
    log:
        log_of("evaluate_vision_metrics", "{detector}"),
    benchmark:
        bench_of("evaluate_vision_metrics", "{detector}")
    wildcard_constraints:
        detector="[a-z_]+",
    params:
        table_methods=config["evaluate_vision"]["table_methods"],
    script:
        "../scripts/evaluate_vision_metrics.py"


rule evaluate_vision_plots:
    input:
        unpack(plot_scene_inputs),
    output:
        trajectory=report(
            "results/evaluate_vision/trajectory.png", category="Vision 3D"
        ),
        errors=report("results/evaluate_vision/errors.png", category="Vision 3D"),
        detections=report(
            "results/evaluate_vision/detections.png", category="Vision 3D"
        ),
    log:
        log_of("evaluate_vision_plots"),
    benchmark:
        bench_of("evaluate_vision_plots")
    params:
        camera_source=config["bundle"]["cameras"],
        frame=config["evaluate_vision"]["plot_frame"],
    script:
        "../scripts/evaluate_vision_plots.py"


rule evaluate_vision_sweeps:
    output:
        sweeps="results/evaluate_vision/sweeps.json",
        timing="results/evaluate_vision/sweeps_timing.json",
        plot=report("results/evaluate_vision/sweeps.png", category="Vision 3D"),
    log:
        log_of("evaluate_vision_sweeps"),
    benchmark:
        bench_of("evaluate_vision_sweeps")
    params:
        cfg={k: config["evaluate_vision"][k] for k in ("sweeps", "targets")},
        solver={
            k: config["bundle"][k]
            for k in ("association", "graph", "streaming", "skew_variant")
        },
    script:
        "../scripts/evaluate_vision_sweeps.py"


rule phase_evaluate_vision:
    input:
        register_phase(
            "evaluate_vision",
            [
                f"results/evaluate_vision/{f}_{d}.{e}"
                for d in config["bundle"]["detectors"]
                for f, e in (("metrics", "json"), ("scenes", "md"))
            ]
            + [
                "results/evaluate_vision/trajectory.png",
                "results/evaluate_vision/errors.png",
                "results/evaluate_vision/detections.png",
                "results/evaluate_vision/sweeps.json",
                "results/evaluate_vision/sweeps_timing.json",
                "results/evaluate_vision/sweeps.png",
            ],
        ),
