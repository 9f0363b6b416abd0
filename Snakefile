# Table of contents of the pipeline. Logic that decides lives in workflow/rules/common.smk.
from snakemake.utils import min_version

min_version("9.27")


configfile: "params.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"


rule all:
    input:
        all_phase_targets(),
    default_target: True
