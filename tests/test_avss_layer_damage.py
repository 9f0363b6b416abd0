"""Measured damage (layer_damage): the replay of the dense run's block outputs gives the same numbers as
evaluating every single-layer removal in full, on several families, and leaves the model as it was."""
from __future__ import annotations

import pytest
import torch
from test_avss_eval_runner import make_datasets
from tiny_llm import make_tiny_llm

from avss.evaluation.requests import RollingRequest
from avss.hooks import find_decoder_layers
from avss.pruning.damage import _ReplayBackend, layer_damage
from avss.surgery import layers_removed

SPEC = {"sciq": {"limit": 4}, "wiki": {"n_docs": 2, "words_per_doc": 12}}
OPTS = {"batch_size": 3, "progress": False}  # several batches per task: the replay is matched batch by batch


def _metrics(record: dict) -> list:
    runs = [record["dense"], *record["without"]]
    return [{t: (r["metrics"], r["items"]) for t, r in run.items()} for run in runs]


@pytest.mark.parametrize("arch", ["llama", "gpt_neox"])
def test_replayed_damage_equals_full_evaluations(tmp_path, arch):
    model, tok = make_tiny_llm(None, n_layers=3, arch=arch, hidden=32)
    before = [p.detach().clone() for p in model.parameters()]
    folder = make_datasets(tmp_path / "ds", n=4)
    calls = []
    hook = find_decoder_layers(model).layers[0].register_forward_pre_hook(lambda m, a: calls.append(1))
    fast = layer_damage(model, tok, SPEC, folder, seed=0, backend_opts=OPTS)
    n_fast = len(calls)
    full = layer_damage(model, tok, SPEC, folder, seed=0, backend_opts=OPTS, replay=False)
    hook.remove()
    assert n_fast > 0 and len(calls) - n_fast == 3 * n_fast  # block 0 ran in the dense pass only (full: 3 runs)
    assert _metrics(fast) == _metrics(full)  # bit for bit: blocks before l saw the same input
    assert fast["dense"]["wiki"]["metrics"] != fast["without"][1]["wiki"]["metrics"]  # a removal changes the model
    assert len(find_decoder_layers(model).layers) == 3
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert not any(h for m in model.modules() for h in m._forward_hooks.values())  # recording hooks removed


def test_a_batch_the_dense_run_did_not_record_is_refused(tmp_path):
    model, tok = make_tiny_llm(None, n_layers=3, hidden=32)
    with layers_removed(model, [1]) as pruned:
        backend = _ReplayBackend(pruned, tok, [], 1, **OPTS)
        with pytest.raises(RuntimeError, match="batch 0 was not recorded"):
            backend.loglikelihood_rolling([RollingRequest("a b c")])
