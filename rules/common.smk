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


RUN_DATASETS = config.get("run_datasets", sorted(DATASETS))
for _ds in RUN_DATASETS:
    if _ds not in DATASETS:
        raise ValueError(f"run_datasets names {_ds!r}, which is not in datasets ({sorted(DATASETS)})")


def is_composite(dataset):
    return DATASETS[dataset]["format"] == "composite"


def members(dataset):
    """Member datasets of a composite set; [dataset] itself for a single corpus."""
    return list(DATASETS[dataset]["members"]) if is_composite(dataset) else [dataset]


def target_of(dataset):
    return DATASETS[dataset].get("target", config["target"])


for _ds, _spec in DATASETS.items():
    if _spec["format"] == "composite":
        for _m in _spec["members"]:
            if _m not in DATASETS or DATASETS[_m]["format"] == "composite":
                raise ValueError(
                    f"composite dataset {_ds!r}: member {_m!r} must be another, non-composite "
                    f"dataset of this config (datasets: {sorted(DATASETS)})"
                )
        continue
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


def member_indexes(wildcards):
    """A composite set's inputs: its members' indexes and rejections (nothing otherwise)."""
    if not is_composite(wildcards.dataset):
        return []
    return [f"{RES}/{m}/{name}" for m in members(wildcards.dataset)
            for name in ("index.parquet", "rejected.parquet")]


def index_params(wildcards):
    """The dataset entry; of a synthetic generator's parameters only the on-disk layout and
    frame rate, which decide how the corpus is read (the rest reach the index through the
    corpus folder, an input)."""
    spec = dict(DATASETS[wildcards.dataset])
    if "synthetic" in spec:
        spec["synthetic"] = {k: v for k, v in spec["synthetic"].items() if k in ("layout", "fps")}
    return canonical(spec)


def synthetic_params(wildcards):
    spec = DATASETS[wildcards.dataset]
    if spec["format"] != "synthetic":
        raise ValueError(f"dataset {wildcards.dataset!r} is not synthetic")
    return canonical(spec.get("synthetic", {}))


def feature_params(wildcards):
    """Only this feature set's slice of the config: changing another set reruns nothing here."""
    return canonical(FEATURES[wildcards.feature_set])


def bank_shards(wildcards):
    """Shard manifests of a bank; for a composite set, its members' merged bank manifests."""
    if is_composite(wildcards.dataset):
        return [
            f"{RES}/{m}/features/{wildcards.condition}/{wildcards.feature_set}/manifest.parquet"
            for m in members(wildcards.dataset)
        ]
    return expand(
        "{res}/{dataset}/features/{condition}/{feature_set}/shard{shard}.parquet",
        res=RES,
        dataset=wildcards.dataset,
        condition=wildcards.condition,
        feature_set=wildcards.feature_set,
        shard=shard_ids(wildcards.dataset),
    )


def aligned_rejections(wildcards):
    return [
        f"{RES}/{m}/aligned/shard{k}.rejected.parquet"
        for m in members(wildcards.dataset)
        for k in shard_ids(m)
    ]


def geometry_rejections(wildcards):
    return [
        f"{RES}/{m}/geometry/shard{k}.rejected.parquet"
        for m in members(wildcards.dataset)
        for k in shard_ids(m)
    ]


def protocols_for(dataset):
    """Leave-one-corpus-out applies to composite sets only; every other protocol to all."""
    return sorted(
        p for p, spec in PROTOCOLS.items() if spec["kind"] != "loco" or is_composite(dataset)
    )


def evaluation_summaries(wildcards):
    return expand(
        "{res}/{dataset}/eval/{condition}/{feature_set}/{model}/{protocol}/summary.json",
        res=RES,
        dataset=wildcards.dataset,
        condition=CONDITIONS,
        feature_set=sorted(FEATURES),
        model=sorted(MODELS),
        protocol=protocols_for(wildcards.dataset),
    )


def all_reports():
    """The metrics table of every dataset in run_datasets; the face-region figure for each
    single corpus among them."""
    reports = expand(
        "{res}/{dataset}/reports/{name}",
        res=RES,
        dataset=RUN_DATASETS,
        name=["metrics.parquet", "metrics.md"],
    )
    return reports + [
        f"{RES}/{ds}/reports/face_regions.png" for ds in RUN_DATASETS if not is_composite(ds)
    ]
