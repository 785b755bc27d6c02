# Temporal normalisation: uniform sampling of each aligned clip to T frames.


rule normalise_shard:
    input:
        frames=f"{RES}/{{dataset}}/aligned/shard{{shard}}.npz",
        manifest=f"{RES}/{{dataset}}/aligned/shard{{shard}}.parquet",
    output:
        clips=f"{RES}/{{dataset}}/clips/original/shard{{shard}}.npz",
        manifest=f"{RES}/{{dataset}}/clips/original/shard{{shard}}.parquet",
    params:
        frames=config["temporal"]["frames"],
    log:
        f"{RES}/{{dataset}}/logs/normalise_shard{{shard}}.log",
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/normalise_shard.py"
