"""Rule live_scene: the live tracker on one scene's videos (track, per-frame records, latencies)."""
from ball3d.live.phase import run_live_scene_rule
from pipeutil.cli import rule_logging

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    inp, out = smk.input, smk.output
    s = run_live_scene_rule(inp.truth, inp.calib, inp.get("model"), smk.params.sections, smk.params.live,
                            smk.threads, out.track, out.records, out.timing)
    log.info("%s: %s, %d frame sets, %.1f frame sets/s", smk.wildcards.scene, s["stop_reason"], s["frame_sets"],
             s["frame_sets_per_s"])
