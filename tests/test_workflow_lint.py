"""The workflow files are snakefmt-formatted; every rule has a log, a benchmark, the pipeline's software
environment and a script of its own name (the `<phase>_views` rules share views.py)."""
import re
import sys
from pathlib import Path

from repo_copy import ROOT
from test_workflow_dag import run


def test_snakefmt_clean():
    run([str(Path(sys.executable).with_name("snakefmt")), "--check", "Snakefile", "workflow/rules"], ROOT)


def test_every_rule_has_log_benchmark_and_own_script():
    for smk in (ROOT / "workflow/rules").glob("*.smk"):
        for name, body in re.findall(r"^rule (\w+):\n((?:    .*\n|\n)+)", smk.read_text(), re.M):
            if name.startswith("phase_"):
                continue
            for directive in ("log:", "benchmark:"):
                assert directive in body, f"{smk.name}: rule {name} has no {directive}"
            assert 'conda:\n        "../envs/pipeline.yaml"' in body, f"{smk.name}: rule {name} has no conda env"
            script = re.search(r'script:\s*\n\s*"\.\./scripts/(\w+)\.py"', body)
            assert script, f"{smk.name}: rule {name} does not call a script"
            own = "views" if name.endswith("_views") else name
            assert script.group(1) == own, f"{smk.name}: rule {name} calls {script.group(1)}.py, not {own}.py"
            assert (ROOT / "workflow/scripts" / f"{own}.py").is_file()
    assert (ROOT / "workflow/envs/pipeline.yaml").is_file()


def test_snakemake_lint_is_clean():
    """`make lint`: no lint of Snakemake's catalog rules (conda env per rule, functions in common files, ...)."""
    out = run([str(Path(sys.executable).with_name("snakemake")), "--lint"], ROOT, check=False)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
