# Decisions of the LLM branch: its input functions, in one place (included before the LLM rule files;
# each rule file keeps its own params section binding, e.g. EV = config["eavss"], so that dvc.yaml
# finds the sections a phase reads; workflow/rules/common.smk holds what both branches use).


def dataset_out(name):
    ext = "txt" if name == "wiki" else "jsonl"
    return f"results/download/datasets/{name}.{ext}"


def prune_targets(p):
    """results/prune/<method>/<ratio or nCOUNT> for every entry of params `prune.save`."""
    sels = [
        (
            f"n{int(e['count'])}"
            if e.get("count") is not None
            else f"{float(e['ratio']):g}"
        )
        for e in p["save"]
    ]
    return [f"results/prune/{e['method']}/{sel}" for e, sel in zip(p["save"], sels)]
