# Temporal normalisation: each aligned clip to T frames (uniform sampling or TIM interpolation).


rule normalise_shard:
    """The original condition of a shard: its aligned clips resampled to T frames."""
    input:
        index=f"{RES}/{{dataset}}/index.parquet",
        frames=f"{RES}/{{dataset}}/aligned/shard{{shard}}.npz",
        manifest=f"{RES}/{{dataset}}/aligned/shard{{shard}}.parquet",
    output:
        clips=f"{RES}/{{dataset}}/clips/original/shard{{shard}}.npz",
        manifest=f"{RES}/{{dataset}}/clips/original/shard{{shard}}.parquet",
    params:
        frames=config["temporal"]["frames"],
        method=config["temporal"].get("method", "uniform"),
    log:
        f"{RES}/{{dataset}}/logs/normalise_shard{{shard}}.log",
    benchmark:
        f"{RES}/{{dataset}}/benchmarks/normalise_shard/shard{{shard}}.tsv"
    conda:
        CONDA_ENV
    message:
        "{wildcards.dataset}: normalise shard {wildcards.shard} to T frames"
    script:
        "../workflow_scripts/normalise_shard.py"
