"""One source per parameter: the section models (src/avss/params.py, src/ball3d/params.py), the generated
schemas (workflow/schemas), params.yaml and the library's config records agree (drift test)."""
import dataclasses
import subprocess
import sys
from typing import Literal

import pytest
import yaml
from pydantic import ValidationError
from repo_copy import ROOT

from avss.activations import CaptureConfig
from avss.eavss.capture import ClassCaptureConfig
from avss.eavss.samples import SamplesConfig
from avss.eavss.scores import EavssConfig
from avss.finetune.train import FinetuneConfig
from avss.params import SECTIONS as LLM
from avss.pruning.scores import ScoreConfig
from avss.stats import HistSpec
from ball3d.association import AssocConfig
from ball3d.board import Board
from ball3d.detection.classical import ClassicalParams
from ball3d.detection.infer import DetectParams
from ball3d.detection_metrics import MetricParams
from ball3d.detection.monitor import MonitorConfig
from ball3d.detection.network import DetectorConfig
from ball3d.detection.phase import DETECT_RULE_KEYS, configs
from ball3d.detection.train import TrainParams
from ball3d.fusion.graph import BundleConfig
from ball3d.params import SECTIONS as VISION
from ball3d.scenes.physics import BallPhysics
from pipeutil.config import from_params
from pipeutil.io import PipelineError
from pipeutil.params import read_param_files, validate_params
from pipeutil.paramschema import Opt, Req, Section, defaults, drift, render, schema_of

SECTIONS = {**LLM, **VISION}
# library record <- params.yaml mapping (keys of the mapping that are not fields of the record)
RECORDS = [
    (AssocConfig, "bundle.association", ()),
    (BundleConfig, "bundle.graph", ()),
    (DetectParams, "detect", (*DETECT_RULE_KEYS, "monitor")),
    (MonitorConfig, "detect.monitor", ()),
    (ClassicalParams, "detect.classical", ()),
    (MetricParams, "detect.metrics", ()),
    (TrainParams, "train_detector", ("network", "input")),
    (DetectorConfig, "train_detector.network", ()),
    (BallPhysics, "scenes.ball", ()),
    (Board, "calibrate.board", ()),
    (Board, "scenes.calib_video.board", ()),
    (FinetuneConfig, "finetune", ("variants", "seeds")),
    (ClassCaptureConfig, "eavss", ("max_items_per_class", "text", "alpha", "avss_method", "combine", "delta", "eps",
                                   "hsav_mode", "hss_mode", "sparsity_mode", "sparsity_value", "top_k",
                                   "variance_axis")),
    (EavssConfig, "eavss", ("max_items_per_class", "text", "batch_size", "max_length", "site", "seed", "avss_method",
                            "variance_axis", "sparsity_mode", "sparsity_value")),
    (SamplesConfig, "hallucination_samples", ("datasets", "max_questions")),
    (HistSpec, "capture.hist", ()),
    (CaptureConfig, "capture", ("seed", "device", "dtype", "n_samples", "seq_len", "text_range", "exact_thresholds",
                                "hist", "ppl_samples", "ppl_batch_size", "threads", "sites", "calibrations")),
    (ScoreConfig, "score", ("avss", "calibration", "variants")),
    (ScoreConfig, "score.avss", ()),
]


@pytest.fixture(scope="module")
def params():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def _at(tree, dotted):
    for key in dotted.split("."):
        tree = tree[key]
    return tree


def test_every_section_has_one_model(params):
    assert sorted(SECTIONS) == sorted(params)
    assert not set(LLM) & set(VISION)


def test_schema_files_are_generated_from_the_models():
    for name, model in SECTIONS.items():
        path = ROOT / "workflow" / "schemas" / f"{name}.schema.yaml"
        assert path.read_text() == render(model), f"{path.name} is out of date: run `make schemas`"
    assert sorted(p.name.removesuffix(".schema.yaml") for p in (ROOT / "workflow" / "schemas").glob("*.yaml")) \
        == sorted(SECTIONS)
    out = subprocess.run([sys.executable, "workflow/scripts/gen_schemas.py", "--check"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_model_defaults_are_params_yaml(params, name):
    assert drift(params[name], defaults(SECTIONS[name]), name) == []
    assert drift(params[name], defaults(SECTIONS[name].model_validate(params[name])), name) == []


@pytest.mark.parametrize("record, path, skip", RECORDS, ids=[f"{r.__name__}<-{p}" for r, p, _ in RECORDS])
def test_library_record_defaults_are_params_yaml(params, record, path, skip):
    """Tests, benchmarks and calib_cli build these records themselves: they get the pipeline's setup."""
    section = _at(params, path)
    built = from_params(record, section, f"params.yaml: {path}", skip=skip)  # every key is a field or named
    wrong = {f.name: (getattr(record(), f.name), section[f.name]) for f in dataclasses.fields(record)
             if f.name in section and getattr(record(), f.name) != getattr(built, f.name)}
    assert wrong == {}, f"{record.__name__} defaults differ from params.yaml {path}: (default, params.yaml) {wrong}"


def test_detector_configs_equal_record_defaults(params):
    net, tp, dp, cp, mp = configs(params["train_detector"], params["detect"])
    assert (tp, dp, cp, mp) == (TrainParams(), DetectParams(), ClassicalParams(), MetricParams())
    assert net == DetectorConfig(input_source=params["train_detector"]["input"])


def test_drift_is_detected(params):
    """The checks above can fail: a model whose default differs, a record with an unknown key."""
    class Changed(SECTIONS["prune"]):
        device: Literal["auto", "cpu", "cuda"] = Req("cpu", "Device of the verification.")
    assert drift(params["prune"], defaults(Changed), "prune") == ["prune.device"]
    assert drift({"a": 1}, {"a": True}) == ["a"] and drift({"a": [1]}, {"a": [1.0]}) == []
    with pytest.raises(PipelineError, match=r"params.yaml: bundle.graph: unknown keys \['pixel_sigma'\] "
                                            r"\(did you mean 'pixel_sigma_px'\?\)"):
        from_params(BundleConfig, {"pixel_sigma": 1.0}, "params.yaml: bundle.graph")
    with pytest.raises(PipelineError, match=r"unknown keys \['mdoe'\] \(did you mean 'mode'"):
        configs(params["train_detector"], {**params["detect"], "mdoe": "full"})


def test_models_reject_what_the_schemas_reject(params):
    with pytest.raises(ValidationError, match="gate_px"):
        SECTIONS["bundle"].model_validate({**params["bundle"], "association": {"gate_px": -1.0}})
    with pytest.raises(ValidationError, match="Extra inputs"):
        SECTIONS["score"].model_validate({**params["score"], "ratio": [0.25]})


def test_schema_generation_covers_the_types():
    class Tiny(Section):
        """A tiny section."""
        a: float = Req(1.0, "A.", gt=0)
        b: int | None = Opt(None, "B.", ge=1)
        c: list[Literal["x", "y"]] = Req(["x"], "C.", min_length=1)
        d: dict[str, int] = Opt({}, "D.", schema={"propertyNames": {"pattern": "^[a-z]+$"}})
    s = schema_of(Tiny)
    assert s["description"] == "A tiny section." and s["required"] == ["a", "c"] and s["additionalProperties"] is False
    assert s["properties"] == {
        "a": {"type": "number", "exclusiveMinimum": 0, "description": "A."},
        "b": {"type": ["integer", "null"], "minimum": 1, "description": "B."},
        "c": {"type": "array", "items": {"enum": ["x", "y"]}, "minItems": 1, "description": "C."},
        "d": {"type": "object", "additionalProperties": {"type": "integer"}, "description": "D.",
              "propertyNames": {"pattern": "^[a-z]+$"}}}


def test_unknown_key_in_a_param_file_names_file_line_and_the_closest_key(tmp_path):
    """Before: jsonschema's "Additional properties are not allowed" named the section, not the key's line."""
    extra = tmp_path / "my.yaml"
    extra.write_text("bundle:\n  graph:\n    pixel_sigma: 2.0\n")
    files = read_param_files([str(ROOT / "params.yaml"), str(extra)])
    with pytest.raises(PipelineError, match=rf"{extra}:3: bundle.graph: unknown keys \['pixel_sigma'\] "
                                            r"\(did you mean 'pixel_sigma_px'\?\)"):
        validate_params(files.merged, ROOT / "workflow" / "schemas", files=files)
