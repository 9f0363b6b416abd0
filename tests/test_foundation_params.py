"""params.yaml validation: the shipped file is valid; bad values stop with the key's name."""
import copy
import re
from pathlib import Path

import pytest
import yaml

from pipeutil.io import PipelineError
from pipeutil.params import read_param_files, validate_params
from test_workflow_dag import merge

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "workflow" / "schemas"


@pytest.fixture(scope="module")
def params():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_shipped_params_and_smoke_override_are_valid(params):
    validate_params(params, SCHEMAS)
    validate_params(merge(params, yaml.safe_load((ROOT / "tests" / "params.smoke.yaml").read_text())), SCHEMAS)


def test_every_schema_key_is_described():
    def walk(node, where):
        if isinstance(node, dict):
            for name, sub in (node.get("properties") or {}).items():
                assert "description" in sub, f"{where}.{name} has no description"
                walk(sub, f"{where}.{name}")
            if isinstance(node.get("additionalProperties"), dict):
                walk(node["additionalProperties"], f"{where}.*")
    for path in SCHEMAS.glob("*.schema.yaml"):
        walk(yaml.safe_load(path.read_text()), path.name.split(".")[0])


def test_invalid_values_name_the_key(params):
    bad = copy.deepcopy(params)
    bad["model"]["dtype"] = "float8"
    with pytest.raises(PipelineError, match=r"params.yaml: model.dtype: 'float8' is not one of"):
        validate_params(bad, SCHEMAS)
    bad = copy.deepcopy(params)
    bad["datasets"]["sciq"]["sha256"] = "abc"
    with pytest.raises(PipelineError, match=r"datasets.sciq.sha256"):
        validate_params(bad, SCHEMAS)
    bad = copy.deepcopy(params)
    bad["evaluate_pruning"]["bootstrap"]["n_boot"] = 0  # the study's intervals need >= 1 resample
    with pytest.raises(PipelineError, match=r"evaluate_pruning.bootstrap.n_boot: 0 is less than the minimum of 1"):
        validate_params(bad, SCHEMAS)
    bad = copy.deepcopy(params)
    bad["score"]["variants"]["avss_delta"]["site"] = "residual"
    with pytest.raises(PipelineError, match=r"score.variants.avss_delta.site: 'residual' is not one of"):
        validate_params(bad, SCHEMAS)
    bad = copy.deepcopy(params)
    bad["modle"] = {}
    with pytest.raises(PipelineError, match="unknown section 'modle' .did you mean 'model'"):
        validate_params(bad, SCHEMAS)


@pytest.mark.parametrize("section, key, value", [("scenes", "fps", float("inf")), ("capture", "seed", float("nan")),
                                                 ("score", "ratios", [0.25, float("-inf")])])
def test_non_finite_numbers_are_rejected_in_every_section(params, section, key, value):
    """Before: NaN / inf passed the schemas (scenes.fps: .inf -> ZeroDivisionError in the scenes phase)."""
    bad = copy.deepcopy(params)
    bad[section][key] = value
    with pytest.raises(PipelineError, match=rf"{section}\.{key}(\.1)?: -?(inf|nan) is not a finite number"):
        validate_params(bad, SCHEMAS)


def test_nested_non_finite_number_names_the_key(params):
    bad = copy.deepcopy(params)
    bad["bundle"]["association"]["gate_px"] = float("nan")
    with pytest.raises(PipelineError, match=r"bundle.association.gate_px: nan is not a finite number"):
        validate_params(bad, SCHEMAS)


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    (tmp_path / "p.yaml").write_text("model:\n  dtype: float32\n  source: [unclosed\ncapture: {}\n")
    with pytest.raises(PipelineError, match=r"p.yaml:4:\d+: YAML syntax error"):
        read_param_files([str(tmp_path / "p.yaml")])


def test_duplicate_keys_are_an_error(tmp_path):
    """Before: plain YAML kept the last of two equal keys silently."""
    (tmp_path / "p.yaml").write_text("model:\n  dtype: float32\n  licence: x\n  dtype: float16\n")
    with pytest.raises(PipelineError, match=r"p.yaml:4: duplicate key 'dtype' \(first given at line 2\)"):
        read_param_files([str(tmp_path / "p.yaml")])


def test_error_names_the_file_and_line_the_value_came_from(params, tmp_path):
    """Before: every message said "params.yaml", also for a value of --configfile X."""
    base, over = tmp_path / "params.yaml", tmp_path / "over.yaml"
    bad_base = copy.deepcopy(params)
    bad_base["capture"]["seq_len"] = -1
    base.write_text(yaml.safe_dump(bad_base, sort_keys=False))
    over.write_text("# override\nscenes:\n  fps: .inf\nmodel:\n  dtype: float8\n")
    files = read_param_files([str(base), str(over)])
    config = merge(bad_base, yaml.safe_load(over.read_text()))
    with pytest.raises(PipelineError, match=rf"{re.escape(str(over))}:3: scenes.fps: inf is not a finite number"):
        validate_params(config, SCHEMAS, files=files)
    config["scenes"]["fps"] = files.merged["scenes"]["fps"] = 25.0
    line = base.read_text().splitlines().index("  seq_len: -1") + 1
    with pytest.raises(PipelineError, match=rf"{re.escape(str(base))}:{line}: capture.seq_len: -1 is less than"):
        validate_params(config, SCHEMAS, files=files)
    config["capture"]["seq_len"] = files.merged["capture"]["seq_len"] = 256
    with pytest.raises(PipelineError, match=rf"{re.escape(str(over))}:5: model.dtype: 'float8' is not one of"):
        validate_params(config, SCHEMAS, files=files)
    config["model"]["dtype"] = "float32"  # as if `--config` had set it (it differs from what the files say)
    config["capture"]["batch_size"] = 0
    with pytest.raises(PipelineError, match=r"--config: capture.batch_size: 0 is less than"):
        validate_params(config, SCHEMAS, files=files)
