# Config validation, wildcard constraints and input functions shared by every rule.
from pathlib import Path

from snakemake.utils import validate

from mexflow.features.registry import data_layout
from mexflow.magnify.conditions import check_condition
from mexflow.models.registry import job_threads, model_input, validate_model

validate(config, workflow.source_path("../schemas/config.schema.yaml"))

DATASETS = config["datasets"]
CONDITIONS = config["conditions"]
FEATURES = config["features"]
MODELS = config["models"]
PROTOCOLS = config["protocols"]
RES = "results"
MAGNIFY = config.get("magnify", {})
MAGNIFIERS = MAGNIFY.get("models", {})
MAG_CONDITIONS = {c: MAGNIFY.get("conditions", {}).get(c) for c in CONDITIONS if c != "original"}
for _c, _spec in MAG_CONDITIONS.items():
    if _spec is None:
        raise ValueError(
            f"condition {_c!r} is listed in conditions but has no magnify.conditions.{_c} entry "
            f"(defined: {sorted(MAGNIFY.get('conditions', {}))})"
        )
    check_condition(_c, _spec)  # method-specific settings (EVM preset, targeted, Lagrangian flow)
    if (
        _spec["method"] == "learned"
        and _spec["model"] != "pretrained"
        and _spec["model"] not in MAGNIFIERS
    ):
        raise ValueError(
            f"condition {_c!r} uses magnifier {_spec['model']!r}, which is not in magnify.models "
            f"({sorted(MAGNIFIERS)}) nor 'pretrained'"
        )
EVM_CONDITIONS = [c for c, s in MAG_CONDITIONS.items() if s["method"] == "evm"]
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
    mcondition=_names(MAG_CONDITIONS) or "(?!)",
    magnifier=_names(MAGNIFIERS) or "(?!)",


RUN_DATASETS = config.get("run_datasets", sorted(DATASETS))
for _ds in RUN_DATASETS:
    if _ds not in DATASETS:
        raise ValueError(
            f"run_datasets names {_ds!r}, which is not in datasets ({sorted(DATASETS)})"
        )


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
    return [
        f"{RES}/{m}/{name}"
        for m in members(wildcards.dataset)
        for name in ("index.parquet", "rejected.parquet")
    ]


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


def corpus_threads(wildcards):
    """The generator's worker processes, each one thread: one per subject, at most 2."""
    subjects = DATASETS[wildcards.dataset].get("synthetic", {}).get("subjects")
    return 2 if subjects is None else max(1, min(2, int(subjects)))


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


def _block_names(block, key, universe, where):
    value = block.get(key, "all")
    names = list(universe) if value == "all" else list(value)
    unknown = [n for n in names if n not in universe]
    if unknown:
        raise ValueError(f"{where}.{key} names {unknown}, not in {key} ({sorted(universe)})")
    return names


def _matrix():
    """Cells (condition, feature_set, model, protocol) of the experiment matrix: the union of the
    products of every `experiments:` block, or without that key every combination in which the
    model can read the feature set (deep models need a bank with dense data)."""
    blocks = config.get("experiments") or {"all": {"compatible_only": True}}
    cells = []
    for name, block in blocks.items():
        where = f"experiments.{name}"
        product = [
            (c, f, m, p)
            for c in _block_names(block, "conditions", CONDITIONS, where)
            for f in _block_names(block, "feature_sets", FEATURES, where)
            for m in _block_names(block, "models", MODELS, where)
            for p in _block_names(block, "protocols", PROTOCOLS, where)
        ]
        for c, f, m, p in product:
            readable = model_input(MODELS[m]) == "vector" or data_layout(FEATURES[f]) is not None
            if not readable and not block.get("compatible_only"):
                raise ValueError(
                    f"{where}: model {m!r} (kind {MODELS[m]['kind']}) needs a feature set with dense "
                    f"data; {f!r} (kind {FEATURES[f]['kind']}) has only vectors"
                )
            if readable and (c, f, m, p) not in cells:
                cells.append((c, f, m, p))
    return cells


for _name, _spec in MODELS.items():
    validate_model(_name, _spec)
MATRIX = _matrix()


def evaluation_summaries(wildcards):
    """Every evaluation of the matrix for this dataset (leave-one-corpus-out: composites only)."""
    protocols = set(protocols_for(wildcards.dataset))
    return [
        f"{RES}/{wildcards.dataset}/eval/{c}/{f}/{m}/{p}/summary.json"
        for c, f, m, p in MATRIX
        if p in protocols
    ]


def magnifier_checkpoint(dataset, name):
    """Checkpoint of a magnifier: "pretrained" is magnify.pretrained when given (the shipped
    generic model for "shipped", its sha256 checked; else a published checkpoint's path), else the generic model trained here ("generic"); generic-mode models are shared by
    all datasets, fine-tuned ones belong to a dataset."""
    if name == "pretrained":
        if MAGNIFY.get("pretrained"):
            from mexflow.magnify.shipped import resolve_pretrained

            return resolve_pretrained(MAGNIFY["pretrained"])
        if "generic" not in MAGNIFIERS:
            raise ValueError(
                "magnify.pretrained is not set and magnify.models has no 'generic' entry to train"
            )
        name = "generic"
    if MAGNIFIERS[name]["mode"] == "generic":
        return f"{RES}/magnifiers/{name}.pt"
    return f"{RES}/{dataset}/magnifiers/{name}.pt"


def magnify_common_params(wildcards):
    """The magnify settings that change a trained or magnified result (not the device)."""
    keys = ("architecture", "supervisor", "batch_size", "pretrained")
    return canonical({k: MAGNIFY[k] for k in keys if k in MAGNIFY})


def finetune_reservation(wildcards=None):
    """None when fine-tuning may see every subject (label-free, transductive); else the subjects
    to reserve for fine-tuning (and keep out of every evaluation)."""
    if MAGNIFY.get("finetune_subjects", "all") == "all":
        return None
    return {"n": int(MAGNIFY.get("reserved_subjects", 3)), "seed": int(config["seed"])}


def _shard_files(dataset, stage, exts=("npz", "parquet")):
    return [f"{RES}/{dataset}/{stage}/shard{k}.{e}" for k in shard_ids(dataset) for e in exts]


def finetune_inputs(wildcards):
    spec = MAGNIFIERS[wildcards.magnifier]
    ds = wildcards.dataset
    out = {
        "init": magnifier_checkpoint(ds, spec.get("init", "pretrained")),
        "index": f"{RES}/{ds}/index.parquet",
        "clips": _shard_files(ds, "clips/original"),
    }
    if float(spec.get("loss", {}).get("landmark", 0)) > 0:
        out["geometry"] = _shard_files(ds, "geometry")
    return out


def magnify_inputs(wildcards):
    spec = MAG_CONDITIONS[wildcards.mcondition]
    ds, k = wildcards.dataset, wildcards.shard
    if spec["method"] == "evm":
        return {
            "index": f"{RES}/{ds}/index.parquet",
            "frames": f"{RES}/{ds}/aligned/shard{k}.npz",
            "manifest": f"{RES}/{ds}/aligned/shard{k}.parquet",
        }
    out = {
        "frames": f"{RES}/{ds}/clips/original/shard{k}.npz",
        "manifest": f"{RES}/{ds}/clips/original/shard{k}.parquet",
    }
    if spec["method"] == "lagrangian":
        return out
    out["checkpoint"] = magnifier_checkpoint(ds, spec["model"])
    if spec.get("targeted"):  # the alpha mask: each clip's face-part masks
        out["geometry"] = f"{RES}/{ds}/geometry/shard{k}.npz"
        out["geometry_manifest"] = f"{RES}/{ds}/geometry/shard{k}.parquet"
    return out


def original_motion_inputs(wildcards):
    ds, k = wildcards.dataset, wildcards.shard
    out = {
        "original": f"{RES}/{ds}/clips/original/shard{k}.npz",
        "original_manifest": f"{RES}/{ds}/clips/original/shard{k}.parquet",
        "aligned_manifest": f"{RES}/{ds}/aligned/shard{k}.parquet",
        "aligned": f"{RES}/{ds}/aligned/shard{k}.npz",
        "geometry": f"{RES}/{ds}/geometry/shard{k}.npz",
        "geometry_manifest": f"{RES}/{ds}/geometry/shard{k}.parquet",
    }
    if DATASETS[ds]["format"] == "synthetic":
        out["corpus"] = f"{RES}/{ds}/corpus"
    return out


def motion_alphas():
    """The magnification factors of the conditions: original_motion computes a perfect
    magnification's gains at each (sorted, so the params do not change with the condition order)."""
    return sorted({float(spec["alpha"]) for spec in MAG_CONDITIONS.values()})


def motion_inputs(wildcards):
    ds, k, c = wildcards.dataset, wildcards.shard, wildcards.mcondition
    return {
        "original": f"{RES}/{ds}/clips/original/shard{k}.npz",
        "original_manifest": f"{RES}/{ds}/clips/original/shard{k}.parquet",
        "reference": f"{RES}/{ds}/motion_original/shard{k}.npz",
        "reference_manifest": f"{RES}/{ds}/motion_original/shard{k}.parquet",
        "magnified": f"{RES}/{ds}/clips/{c}/shard{k}.npz",
        "magnified_manifest": f"{RES}/{ds}/clips/{c}/shard{k}.parquet",
        "geometry": f"{RES}/{ds}/geometry/shard{k}.npz",
        "geometry_manifest": f"{RES}/{ds}/geometry/shard{k}.parquet",
    }


def motion_shards(wildcards):
    return [
        f"{RES}/{wildcards.dataset}/motion/{c}/shard{k}.parquet"
        for c in MAG_CONDITIONS
        for k in shard_ids(wildcards.dataset)
    ]


def runtime_report_inputs(wildcards):
    """Every other report of the dataset: the runtime table is built after all of them."""
    ds = wildcards.dataset
    names = ["metrics.parquet", "recognition.png"]
    if not is_composite(ds):
        names.append("face_regions.png")
        if MAG_CONDITIONS:
            names += ["motion.parquet", "magnification.png"]
        if EVM_CONDITIONS:
            names.append("evm_band.png")
    return [f"{RES}/{ds}/reports/{n}" for n in names]


def report_config(wildcards):
    """The configuration the report embeds: the whole config as the workflow resolved it, with
    `datasets` narrowed to this dataset and its members (another dataset's settings, or
    run_datasets, never rerun this report), keys sorted."""
    names = dict.fromkeys([wildcards.dataset, *members(wildcards.dataset)])
    used = {k: v for k, v in config.items() if k != "run_datasets"}
    used["datasets"] = {n: DATASETS[n] for n in names}
    return canonical(used)


def all_reports():
    """The metrics table of every dataset in run_datasets; the face-region figure for each
    single corpus among them, with magnified conditions its motion table and figure, and with
    EVM conditions the EVM band figure."""
    reports = expand(
        "{res}/{dataset}/reports/{name}",
        res=RES,
        dataset=RUN_DATASETS,
        name=[
            "metrics.parquet",
            "metrics.md",
            "metrics.html",
            "recognition.png",
            "confusion.png",
            "runtime.html",
        ],
    )
    singles = [ds for ds in RUN_DATASETS if not is_composite(ds)]
    names = ["face_regions.png"]
    if MAG_CONDITIONS:
        names += ["motion.parquet", "motion.md", "motion.html", "magnification.png"]
    if EVM_CONDITIONS:
        names.append("evm_band.png")
    return reports + [f"{RES}/{ds}/reports/{n}" for ds in singles for n in names]
