"""Rule <phase>_views: a phase's headline figures, DVC plot curves and HTML tables (pipeutil.views)."""
from pathlib import Path

from pipeutil.cli import rule_logging
from pipeutil.views import write_curves, write_headline, write_tables

smk = snakemake  # noqa: F821  (the object Snakemake gives every script)

with rule_logging(smk.log[0], smk.output) as log:
    if smk.params.headline:
        values = write_headline(smk.input.metrics, smk.params.headline, smk.output.headline)
        log.info("headline %s", values)
    for name, spec in smk.params.curves.items():
        outs = [o for o in smk.output.get("curves", []) if Path(o).parent.name == name]
        write_curves(spec, outs)
        log.info("curve %s: %d series", name, len(outs))
    write_tables(list(smk.input.get("tables", [])), list(smk.output.get("tables", [])))
    log.info("%d HTML tables", len(smk.output.get("tables", [])))
