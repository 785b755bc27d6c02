# Magnification: EVM on aligned windows, the learned FlowMag family and the Lagrangian reference on
# normalised clips, the magnifiers' training runs (each a cached checkpoint + metadata), motion
# metrics and the figures (one clip under every condition; EVM's band vs the ME spectrum).


rule pretrain_magnifier:
    """Generic magnifier checkpoint and metadata, pretrained on generated motion."""
    output:
        checkpoint=f"{RES}/magnifiers/{{magnifier}}.pt",
        meta=f"{RES}/magnifiers/{{magnifier}}.json",
    params:
        spec=lambda wc: canonical(MAGNIFIERS[wc.magnifier]),
        common=magnify_common_params,
        seed=config["seed"],
    threads: MAGNIFY.get("threads", 1)
    resources:
        gpu=MAGNIFY.get("gpus", 0),
    log:
        f"{RES}/logs/magnifiers/{{magnifier}}.log",
    benchmark:
        f"{RES}/benchmarks/pretrain_magnifier/{{magnifier}}.tsv"
    conda:
        CONDA_ENV
    message:
        "pretrain magnifier {wildcards.magnifier}"
    script:
        "../workflow_scripts/pretrain_magnifier.py"


rule finetune_magnifier:
    """Magnifier checkpoint and metadata fine-tuned on a dataset's normalised clips."""
    input:
        unpack(finetune_inputs),
    output:
        checkpoint=f"{RES}/{{dataset}}/magnifiers/{{magnifier}}.pt",
        meta=f"{RES}/{{dataset}}/magnifiers/{{magnifier}}.json",
    params:
        spec=lambda wc: canonical(MAGNIFIERS[wc.magnifier]),
        common=magnify_common_params,
        reserved=finetune_reservation,
        seed=config["seed"],
    threads: MAGNIFY.get("threads", 1)
    resources:
        gpu=MAGNIFY.get("gpus", 0),
    log:
        f"{RES}/{{dataset}}/logs/magnifiers/{{magnifier}}.log",
    benchmark:
        f"{RES}/{{dataset}}/benchmarks/finetune_magnifier/{{magnifier}}.tsv"
    conda:
        CONDA_ENV
    message:
        "{wildcards.dataset}: fine-tune magnifier {wildcards.magnifier}"
    script:
        "../workflow_scripts/finetune_magnifier.py"


rule magnify_shard:
    """A shard's clips under one magnified condition (EVM, learned or Lagrangian)."""
    input:
        unpack(magnify_inputs),
    output:
        clips=f"{RES}/{{dataset}}/clips/{{mcondition}}/shard{{shard}}.npz",
        manifest=f"{RES}/{{dataset}}/clips/{{mcondition}}/shard{{shard}}.parquet",
    params:
        condition=lambda wc: canonical(MAG_CONDITIONS[wc.mcondition]),
        common=magnify_common_params,
        frames=config["temporal"]["frames"],
        method=config["temporal"].get("method", "uniform"),
    threads: MAGNIFY.get("threads", 1)
    resources:
        gpu=lambda wc: (
            MAGNIFY.get("gpus", 0) if MAG_CONDITIONS[wc.mcondition]["method"] == "learned" else 0
        ),
    log:
        f"{RES}/{{dataset}}/logs/magnify/{{mcondition}}_shard{{shard}}.log",
    benchmark:
        f"{RES}/{{dataset}}/benchmarks/magnify_shard/{{mcondition}}_shard{{shard}}.tsv"
    conda:
        CONDA_ENV
    message:
        "{wildcards.dataset}: magnify shard {wildcards.shard} ({wildcards.mcondition})"
    script:
        "../workflow_scripts/magnify_shard.py"


rule original_motion:
    """What every condition's motion metrics need of a shard's original clips, computed once."""
    input:
        unpack(original_motion_inputs),
    output:
        clips=f"{RES}/{{dataset}}/motion_original/shard{{shard}}.npz",
        manifest=f"{RES}/{{dataset}}/motion_original/shard{{shard}}.parquet",
    params:
        motion=canonical(MAGNIFY.get("motion", {})),
        supervisor=canonical(MAGNIFY.get("supervisor", {"kind": "lk"})),
        alphas=motion_alphas(),
    threads: 1
    log:
        f"{RES}/{{dataset}}/logs/motion/original_shard{{shard}}.log",
    benchmark:
        f"{RES}/{{dataset}}/benchmarks/original_motion/shard{{shard}}.tsv"
    conda:
        CONDA_ENV
    message:
        "{wildcards.dataset}: motion of the original clips of shard {wildcards.shard}"
    script:
        "../workflow_scripts/original_motion.py"


rule motion_shard:
    """Motion-fidelity metrics of a shard's magnified clips against its original clips."""
    input:
        unpack(motion_inputs),
    output:
        f"{RES}/{{dataset}}/motion/{{mcondition}}/shard{{shard}}.parquet",
    params:
        condition=lambda wc: canonical(MAG_CONDITIONS[wc.mcondition]),
        motion=canonical(MAGNIFY.get("motion", {})),
        supervisor=canonical(MAGNIFY.get("supervisor", {"kind": "lk"})),
    threads: 1
    log:
        f"{RES}/{{dataset}}/logs/motion/{{mcondition}}_shard{{shard}}.log",
    benchmark:
        f"{RES}/{{dataset}}/benchmarks/motion_shard/{{mcondition}}_shard{{shard}}.tsv"
    conda:
        CONDA_ENV
    message:
        "{wildcards.dataset}: motion metrics of shard {wildcards.shard} ({wildcards.mcondition})"
    script:
        "../workflow_scripts/motion_shard.py"


rule motion_report:
    """Motion table of a dataset (Parquet, Markdown, HTML) from its motion shards."""
    input:
        motion_shards,
    output:
        table=f"{RES}/{{dataset}}/reports/motion.parquet",
        summary=f"{RES}/{{dataset}}/reports/motion.md",
        html=report(
            f"{RES}/{{dataset}}/reports/motion.html",
            caption="../report/motion.rst",
            category="Magnification",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "motion fidelity"},
        ),
    log:
        f"{RES}/{{dataset}}/logs/motion_report.log",
    benchmark:
        f"{RES}/{{dataset}}/benchmarks/motion_report/motion.tsv"
    conda:
        CONDA_ENV
    message:
        "{wildcards.dataset}: motion report"
    script:
        "../workflow_scripts/motion_report.py"


rule magnification_figure:
    """Figure of one clip of shard 0 under every condition, side by side."""
    input:
        clips=lambda wc: [f"{RES}/{wc.dataset}/clips/{c}/shard0.npz" for c in CONDITIONS],
        manifests=lambda wc: [f"{RES}/{wc.dataset}/clips/{c}/shard0.parquet" for c in CONDITIONS],
    output:
        report(
            f"{RES}/{{dataset}}/reports/magnification.png",
            caption="../report/magnification.rst",
            category="Magnification",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "one clip under every condition"},
        ),
    params:
        conditions=CONDITIONS,
        alphas=lambda wc: {c: MAG_CONDITIONS[c]["alpha"] for c in MAG_CONDITIONS},
    log:
        f"{RES}/{{dataset}}/logs/magnification_figure.log",
    benchmark:
        f"{RES}/{{dataset}}/benchmarks/magnification_figure/figure.tsv"
    conda:
        CONDA_ENV
    message:
        "{wildcards.dataset}: magnification figure"
    script:
        "../workflow_scripts/magnification_figure.py"


rule evm_band_figure:
    """Figure of the EVM bands against the spectrum of the dataset's expression profiles."""
    input:
        index=f"{RES}/{{dataset}}/index.parquet",
    output:
        report(
            f"{RES}/{{dataset}}/reports/evm_band.png",
            caption="../report/evm_band.rst",
            category="Magnification",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "EVM band vs ME motion spectrum"},
        ),
    params:
        conditions=lambda wc: {c: canonical(MAG_CONDITIONS[c]) for c in EVM_CONDITIONS},
    log:
        f"{RES}/{{dataset}}/logs/evm_band_figure.log",
    benchmark:
        f"{RES}/{{dataset}}/benchmarks/evm_band_figure/figure.tsv"
    conda:
        CONDA_ENV
    message:
        "{wildcards.dataset}: EVM band figure"
    script:
        "../workflow_scripts/evm_band_figure.py"
