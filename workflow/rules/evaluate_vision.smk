# Phase `evaluate_vision`: 3D metrics of every method against truth, plots of one scene, synthetic sweeps.


rule evaluate_vision_metrics:
    input:
        tracks=lambda wc: eval_pairs(wc.detector)[0],
        truth=lambda wc: eval_pairs(wc.detector)[1],
        live=lambda wc: live_eval_files(wc.detector),  # live tracks, scored beside the batch methods
        detections=lambda wc: eval_detections(wc.detector)[0],  # per-camera F1, raw and re-read with the 3D track
    output:
        metrics="results/evaluate_vision/metrics_{detector}.json",
        table="results/evaluate_vision/scenes_{detector}.md",
    log:
        log_of("evaluate_vision_metrics", "{detector}"),
    benchmark:
        bench_of("evaluate_vision_metrics", "{detector}")
    wildcard_constraints:
        detector="[a-z_]+",
    conda:
        "../envs/pipeline.yaml"
    params:
        table_methods=config["evaluate_vision"]["table_methods"],
        camera_dirs=lambda wc: eval_detections(wc.detector)[1],
        detection_3d=config["evaluate_vision"]["detection_3d"],
        metric_params=config["detect"]["metrics"],
    script:
        "../scripts/evaluate_vision_metrics.py"


rule evaluate_vision_plots:
    input:
        unpack(plot_scene_inputs),
    output:
        trajectory=report(
            "results/evaluate_vision/trajectory.png",
            category="Vision",
            subcategory="3D",
        ),
        errors=report(
            "results/evaluate_vision/errors.png", category="Vision", subcategory="3D"
        ),
        detections=report(
            "results/evaluate_vision/detections.png",
            category="Vision",
            subcategory="3D",
        ),
    log:
        log_of("evaluate_vision_plots"),
    benchmark:
        bench_of("evaluate_vision_plots")
    conda:
        "../envs/pipeline.yaml"
    params:
        camera_source=config["bundle"]["cameras"],
        frame=config["evaluate_vision"]["plot_frame"],
    script:
        "../scripts/evaluate_vision_plots.py"


rule evaluate_vision_sweeps:
    output:
        sweeps="results/evaluate_vision/sweeps.json",
        timing="results/evaluate_vision/sweeps_timing.json",
        plot=report(
            "results/evaluate_vision/sweeps.png", category="Vision", subcategory="3D"
        ),
    log:
        log_of("evaluate_vision_sweeps"),
    benchmark:
        bench_of("evaluate_vision_sweeps")
    conda:
        "../envs/pipeline.yaml"
    params:
        cfg={k: config["evaluate_vision"][k] for k in ("sweeps", "targets")},
        solver={
            k: config["bundle"][k]
            for k in ("association", "graph", "streaming", "skew_variant")
        },
    script:
        "../scripts/evaluate_vision_sweeps.py"


rule evaluate_vision_live:
    input:
        records=live_files("records.jsonl"),
        metrics="results/evaluate_vision/metrics_heatmap.json",
    output:
        latency="results/evaluate_vision/live_latency.json",
        page=report(
            "results/evaluate_vision/live.md", category="Vision", subcategory="Live"
        ),
    log:
        log_of("evaluate_vision_live"),
    benchmark:
        bench_of("evaluate_vision_live")
    conda:
        "../envs/pipeline.yaml"
    script:
        "../scripts/evaluate_vision_live.py"


rule evaluate_vision_views:
    input:
        metrics=f"results/evaluate_vision/metrics_{config['evaluate_vision']['detector']}.json",
        curves="results/evaluate_vision/sweeps.json",
    output:
        headline="results/evaluate_vision/headline.json",
        curves=expand(
            "results/evaluate_vision/curves/rmse_m_vs_n_cameras/{m}.csv",
            m=config["evaluate_vision"]["sweeps"]["plot_methods"],
        ),
    log:
        log_of("evaluate_vision_views"),
    benchmark:
        bench_of("evaluate_vision_views")
    conda:
        "../envs/pipeline.yaml"
    params:
        # headline.json (`dvc metrics show`): smoothed graph solve on the test scenes: RMSE over all
        # frames, median of the per-scene RMSEs, wrong fixes (> 0.5 m) per returned frame, coverage
        headline={
            "rmse_cm": ["overall/graph_smoothed/rmse_m", 100],
            "med_cm": ["headline/graph_smoothed/median_scene_rmse_m", 100],
            "wrong_pct": ["headline/graph_smoothed/wrong_fix_rate", 100],
            "cover": ["overall/graph_smoothed/mean_coverage", 1],
        },
        curves={
            "rmse_m_vs_n_cameras": {
                "source": "results/evaluate_vision/sweeps.json",
                "rows": "sweeps_mean",
                "series": "method",
                "where": {"axis": "n_cameras"},
                "columns": {"n_cameras": "value"},
            }
        },
    script:
        "../scripts/views.py"


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
            ]
            + (
                list(rules.evaluate_vision_live.output)
                if "heatmap" in config["bundle"]["detectors"]
                else []
            )
            + list(rules.evaluate_vision_views.output),
        ),
