# Read params.yaml and every --configfile strictly before Snakemake merges them (Snakemake's own YAML
# error names neither file nor line, and it keeps the last of duplicate keys silently). PARAM_FILES
# remembers which file and line set each value, for the messages of common.smk's validation.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from pipeutil.params import read_param_files  # noqa: E402


def _display(path):
    """A --configfile path as the user wrote it: relative to the working folder when inside it."""
    path = Path(path)
    return (
        str(path.relative_to(Path.cwd()))
        if path.is_relative_to(Path.cwd())
        else str(path)
    )


MAIN_PARAMS = (
    ["params.yaml"] if Path("params.yaml").is_file() else []
)  # missing: Snakemake says so
PARAM_FILES = read_param_files(
    MAIN_PARAMS + [_display(p) for p in workflow.config_settings.configfiles]
)
