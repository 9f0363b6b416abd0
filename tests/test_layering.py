"""The house plan of src/ (ARCHITECTURE.md), checked on the import graph that pipeutil.importgraph builds with ast.

Layers, bottom up: pipeutil <- {avss, ball3d} (never each other) <- workflow/scripts, benchmarks.
Inside a branch: the shared layer (the branch's top-level modules) <- the stage packages, which import
the shared layer and pipeutil but not each other, except the arrows named in ALLOWED_CROSS.
avss.evaluation is the harness under every avss stage: it imports only itself and pipeutil.
Imports inside function bodies are allowed only for the optional heavy dependencies in DEFERRED_OK.
"""
import ast
import re

import pytest

from pipeutil import importgraph as layering
from repo_copy import ROOT

SRC = ROOT / "src"
STAGES = {"avss": {"capture", "pruning", "eavss", "finetune", "data", "evaluation"},
          "ball3d": {"scenes", "calibration", "preprocess", "detection", "fusion", "evaluation", "live"}}
HARNESS = {"avss.evaluation"}  # below the avss shared layer: every avss module may import it
# stage -> stage arrows that are part of the plan (one, with its reason)
ALLOWED_CROSS = {("ball3d.evaluation", "ball3d.fusion"):  # the accuracy sweeps run the bundle's solver
                 "ball3d.evaluation.metrics -> ball3d.fusion.solve.solve_scene",
                 # the live tracker joins the stages' own per-frame parts, frame by frame (issue 14)
                 ("ball3d.live", "ball3d.preprocess"): "ball3d.live.tracker -> Preprocessor (the Numba chain)",
                 ("ball3d.live", "ball3d.detection"): "ball3d.live.tracker -> Roi3DLoop, the checkpoint loader",
                 ("ball3d.live", "ball3d.fusion"): "ball3d.live.tracker -> FixedLagStream (the fixed-lag smoother)"}
# optional heavy dependencies, imported where first needed so that light jobs never load them
DEFERRED_OK = ("torch", "transformers", "datasets", "numba", "pip")


@pytest.fixture(scope="module")
def graph():
    return layering.build(SRC)


def _layer(mod: str) -> str:
    """pipeutil | <branch> (shared layer) | <branch>.<stage>."""
    parts = mod.split(".")
    if parts[0] == "pipeutil":
        return "pipeutil"
    if len(parts) > 1 and parts[1] in STAGES[parts[0]]:
        return f"{parts[0]}.{parts[1]}"
    return parts[0]


def test_no_import_cycle(graph):
    assert layering.cycles(graph) == []


def test_branches_stand_on_pipeutil_only(graph):
    bad = [(m, t) for m, ts in graph.arrows.items() for t in ts
           if (m.startswith("pipeutil") and not t.startswith("pipeutil"))
           or (m.split(".")[0] in STAGES and t.split(".")[0] in STAGES and m.split(".")[0] != t.split(".")[0])]
    assert bad == []


def test_stages_import_the_shared_layer_not_each_other(graph):
    bad = []
    for m, ts in graph.arrows.items():
        a = _layer(m)
        for t in ts:
            b = _layer(t)
            if a == b or b == "pipeutil" or b in HARNESS and a != "pipeutil":
                continue
            if "." not in b:  # the shared layer: stages may import it, pipeutil and the harness may not
                if a in HARNESS:
                    bad.append((m, t))
                continue
            if (a, b) not in ALLOWED_CROSS:  # a stage package imported by another stage or by the shared layer
                bad.append((m, t))
    assert bad == []


def test_allowed_cross_arrows_are_used(graph):
    """A named exception that no longer exists is removed from the list (the plan stays exact)."""
    used = {(_layer(m), _layer(t)) for m, ts in graph.arrows.items() for t in ts}
    assert set(ALLOWED_CROSS) <= used


def test_evaluation_harness_imports_only_its_contracts(graph):
    bad = [(m, t) for m, ts in graph.arrows.items() if m.startswith("avss.evaluation")
           for t in ts if not (t.startswith("avss.evaluation") or t.startswith("pipeutil"))]
    assert bad == []


def test_imports_inside_functions_only_for_heavy_dependencies(graph):
    bad = [d for d in graph.deferred if d[2].split(".")[0] not in DEFERRED_OK]
    assert bad == [], "move these imports to the top of their module (or name the dependency in DEFERRED_OK)"


def test_rule_scripts_call_a_stage_phase():
    """rule -> script -> function is mechanical: a script imports its branch only through <stage>.phase."""
    bad = []
    for script in sorted((ROOT / "workflow" / "scripts").glob("*.py")):
        if script.name.startswith("gen_"):  # generators of dvc.yaml / the schemas, not rule scripts
            continue
        for node in ast.walk(ast.parse(script.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in STAGES:
                parts = node.module.split(".")
                if not (len(parts) == 3 and parts[1] in STAGES[parts[0]] and parts[2] == "phase"):
                    bad.append((script.name, node.module))
    assert bad == []


def test_checker_sees_what_it_must(tmp_path):
    """The graph builder finds a cycle, a deferred project import and a wrong-way arrow in a planted tree."""
    pkg = tmp_path / "ball3d"
    (pkg / "fusion").mkdir(parents=True)
    (tmp_path / "avss").mkdir()
    (tmp_path / "pipeutil").mkdir()
    for d in (pkg, pkg / "fusion", tmp_path / "avss", tmp_path / "pipeutil"):
        (d / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from ball3d import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import x\n    import torch\n")
    (pkg / "fusion" / "phase.py").write_text("from ..a import y\nfrom avss import z\n")
    g = layering.build(tmp_path)
    assert layering.cycles(g) == [["ball3d.a", "ball3d.b"]]
    assert [(m, n) for m, _, n in g.deferred] == [("ball3d.b", "ball3d.a"), ("ball3d.b", "torch")]
    assert g.arrows["ball3d.fusion.phase"] == {"ball3d.a", "avss"}


def test_physical_constants_are_defined_once():
    """Gravity and the ball radius live in ball3d.constants (params.yaml and its models repeat them as values);
    elsewhere a literal 9.81 or 0.11 is allowed only as a named constant of another quantity."""
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name in ("constants.py", "params.py"):
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"(?<![\d.])(9\.81|9\.8|0\.11)(?![\d])", line.split("#")[0]) and not re.match(
                    r"^[A-Z][A-Z0-9_]* = ", line):
                bad.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    assert bad == []
