"""params.yaml validation: the shipped file is valid; bad values stop with the key's name."""
import copy
from pathlib import Path

import pytest
import yaml

from pipeutil.io import PipelineError
from pipeutil.params import validate_params
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
    bad["modle"] = {}
    with pytest.raises(PipelineError, match="unknown section 'modle' .did you mean 'model'"):
        validate_params(bad, SCHEMAS)
