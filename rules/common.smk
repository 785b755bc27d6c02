# Config validation, wildcard constraints and input functions shared by every rule.
from pathlib import Path

from snakemake.utils import validate

validate(config, workflow.source_path("../schemas/config.schema.yaml"))

DATASETS = config["datasets"]
CONDITIONS = config["conditions"]
FEATURES = config["features"]
MODELS = config["models"]
PROTOCOLS = config["protocols"]
RES = "results"
CONDA_ENV = "../envs/mexflow.yaml"  # used only with --software-deployment-method conda


def canonical(value):
    """A config slice with every mapping's keys sorted: Snakemake's params trigger compares
    representations, so key order alone must never cause a rerun."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def _names(d):
    return "|".join(sorted(d))


wildcard_constraints:
    dataset=_names(DATASETS),
    condition=_names({c: 1 for c in CONDITIONS}),
    feature_set=_names(FEATURES),
    model=_names(MODELS),
    protocol=_names(PROTOCOLS),
    shard=r"\d+",


for _ds, _spec in DATASETS.items():
    if _spec["format"] == "synthetic" and Path(_spec["root"]) != Path(RES, _ds, "corpus"):
        raise ValueError(
            f"dataset {_ds!r}: a synthetic corpus is generated at {RES}/{_ds}/corpus; "
            f"set root to that path (got {_spec['root']!r})"
        )


def n_shards(dataset):
    return int(DATASETS[dataset].get("shards", 1))


def shard_ids(dataset):
    return [str(k) for k in range(n_shards(dataset))]


def corpus_input(wildcards):
    """The generated corpus for synthetic datasets; nothing for a real corpus on disk."""
    if DATASETS[wildcards.dataset]["format"] == "synthetic":
        return f"{RES}/{wildcards.dataset}/corpus"
    return []


def index_params(wildcards):
    """The dataset entry without the generator's parameters (they reach the index via the
    corpus folder, an input)."""
    spec = DATASETS[wildcards.dataset]
    return canonical({k: v for k, v in spec.items() if k != "synthetic"})


def synthetic_params(wildcards):
    spec = DATASETS[wildcards.dataset]
    if spec["format"] != "synthetic":
        raise ValueError(f"dataset {wildcards.dataset!r} is not synthetic")
    return canonical(spec.get("synthetic", {}))


def feature_params(wildcards):
    """Only this feature set's slice of the config: changing another set reruns nothing here."""
    return canonical(FEATURES[wildcards.feature_set])


def bank_shards(wildcards):
    return expand(
        "{res}/{dataset}/features/{condition}/{feature_set}/shard{shard}.parquet",
        res=RES,
        dataset=wildcards.dataset,
        condition=wildcards.condition,
        feature_set=wildcards.feature_set,
        shard=shard_ids(wildcards.dataset),
    )


def aligned_rejections(wildcards):
    return expand(
        "{res}/{dataset}/aligned/shard{shard}.rejected.parquet",
        res=RES,
        dataset=wildcards.dataset,
        shard=shard_ids(wildcards.dataset),
    )


def evaluation_summaries(wildcards):
    return expand(
        "{res}/{dataset}/eval/{condition}/{feature_set}/{model}/{protocol}/summary.json",
        res=RES,
        dataset=wildcards.dataset,
        condition=CONDITIONS,
        feature_set=sorted(FEATURES),
        model=sorted(MODELS),
        protocol=sorted(PROTOCOLS),
    )


def all_reports():
    return expand(
        "{res}/{dataset}/reports/{name}",
        res=RES,
        dataset=sorted(DATASETS),
        name=["metrics.parquet", "metrics.md"],
    )
