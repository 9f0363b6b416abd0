"""One switch per branch (params llm.enabled, vision.enabled): each branch alone builds its DAG and its dvc.yaml
without the other's rules; the per-branch smoke configurations match the combined one."""
import re

import pytest
import yaml

from pipeutil.dvcgen import generate
from repo_copy import ROOT, copy_repo
from smoke_inputs import write_smoke_inputs
from test_workflow_dag import run

BRANCH_FILES = {"llm": "tests/params.smoke.llm.yaml", "vision": "tests/params.smoke.vision.yaml"}


def branch_rule_files() -> dict[str, list[str]]:
    """Branch -> the .smk files the Snakefile includes under ``if config["<branch>"]["enabled"]``."""
    out, branch = {}, None
    for line in (ROOT / "Snakefile").read_text().splitlines():
        m = re.match(r'^if config\["(\w+)"\]\["enabled"\]', line)
        if m:
            branch = m.group(1)
            out[branch] = []
        elif branch and (inc := re.match(r'^\s+include: "(workflow/rules/\w+\.smk)"', line)):
            out[branch].append(inc.group(1))
        elif line and not line.startswith((" ", "#")):
            branch = None
    return out


def rules_of(smk_files) -> set[str]:
    return {r for f in smk_files for r in re.findall(r"^rule (\w+):", (ROOT / f).read_text(), re.M)}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = copy_repo(tmp_path_factory.mktemp("branches"))
    write_smoke_inputs(repo)
    return repo


def test_each_rule_file_belongs_to_one_branch():
    files = branch_rule_files()
    assert sorted(files) == ["llm", "vision"]
    smk = {f"workflow/rules/{p.name}" for p in (ROOT / "workflow" / "rules").glob("*.smk")}
    assert sorted(files["llm"] + files["vision"]) == sorted(smk - {"workflow/rules/common.smk",
                                                                   "workflow/rules/params_files.smk"})


def test_combined_smoke_configuration_is_the_two_branch_ones():
    combined = yaml.safe_load((ROOT / "tests/params.smoke.yaml").read_text())
    parts = {b: yaml.safe_load((ROOT / f).read_text()) for b, f in BRANCH_FILES.items()}
    assert parts["llm"].pop("vision") == {"enabled": False} and parts["vision"].pop("llm") == {"enabled": False}
    assert not set(parts["llm"]) & set(parts["vision"])
    assert {**parts["llm"], **parts["vision"]} == combined


@pytest.mark.parametrize("branch", sorted(BRANCH_FILES))
def test_one_branch_alone_has_only_its_rules_and_stages(repo, branch):
    files = branch_rule_files()
    mine, other = rules_of(files[branch]), rules_of(files["vision" if branch == "llm" else "llm"])
    cfg = ["--configfile", "tests/params.smoke.yaml", BRANCH_FILES[branch]]
    listed = set(run(["snakemake", "--list-rules", *cfg], repo).stdout.split())
    assert listed == mine | {"all"}
    dry = run(["snakemake", "-n", "--forceall", "--cores", "1", *cfg], repo).stdout
    jobs = set(re.findall(r"^(?:local)?rule (\w+):$", dry, re.M))
    assert jobs <= mine | {"all"} and not jobs & other
    assert all(rules_of([f]) & jobs for f in files[branch] if rules_of([f])), "every phase of the branch has jobs"
    stages = yaml.safe_load(generate(repo, ["tests/params.smoke.yaml", BRANCH_FILES[branch]]))["stages"]
    assert {f"phase_{s}" for s in stages} == {r for r in mine if r.startswith("phase_")}


def test_a_disabled_branch_keeps_its_sections_validated(repo):
    bad = repo / "bad.yaml"
    bad.write_text("vision:\n  enabled: false\nscenes:\n  fps: -1\n")
    out = run(["snakemake", "-n", "--cores", "1", "--configfile", "tests/params.smoke.yaml", "bad.yaml"], repo,
              check=False)
    assert out.returncode != 0 and "bad.yaml:4: scenes.fps" in out.stderr + out.stdout
    bad.write_text("vision:\n  enabled: no please\n")
    out = run(["snakemake", "-n", "--cores", "1", "--configfile", "bad.yaml"], repo, check=False)
    assert out.returncode != 0 and "vision.enabled" in out.stderr + out.stdout


def test_dvc_stages_depend_on_their_stage_packages_not_whole_branches():
    """Before: every vision stage depended on src/ball3d, so a change in detection invalidated calibration."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert "src/ball3d/detection" in stages["detect"]["deps"]
    assert not any(d.startswith("src/ball3d/detection") for d in stages["calibrate"]["deps"])
    assert "src/ball3d/calibration" in stages["calibrate"]["deps"]
    for name, stage in stages.items():
        assert not {"src/avss", "src/ball3d", "src/pipeutil"} & set(stage["deps"]), name
        assert all(not d.startswith("src/avss") for d in stage["deps"]) or all(
            not d.startswith("src/ball3d") for d in stage["deps"]), name
