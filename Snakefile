# Table of contents of the pipeline. Logic that decides lives in workflow/rules/common.smk.
from snakemake.utils import min_version

min_version("9.27")


include: "workflow/rules/params_files.smk"  # strict read first: YAML errors with file:line


configfile: "params.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


if config["llm"]["enabled"]:  # LLM branch (src/avss), in pipeline order

    include: "workflow/rules/llm_common.smk"  # its input functions
    include: "workflow/rules/download.smk"
    include: "workflow/rules/capture.smk"
    include: "workflow/rules/score.smk"
    include: "workflow/rules/prune.smk"
    include: "workflow/rules/evaluate_pruning.smk"
    include: "workflow/rules/hallucination_samples.smk"
    include: "workflow/rules/eavss.smk"
    include: "workflow/rules/finetune.smk"
    include: "workflow/rules/evaluate_hallucination.smk"


if config["vision"]["enabled"]:  # vision branch (src/ball3d), in pipeline order

    include: "workflow/rules/vision_common.smk"  # its input functions
    include: "workflow/rules/scenes.smk"
    include: "workflow/rules/calibrate.smk"
    include: "workflow/rules/preprocess.smk"
    include: "workflow/rules/train_detector.smk"
    include: "workflow/rules/detect.smk"
    include: "workflow/rules/bundle.smk"
    include: "workflow/rules/live.smk"
    include: "workflow/rules/evaluate_vision.smk"


rule all:
    default_target: True
    input:
        all_phase_targets(),
