# Face alignment: MTCNN on each clip's reference frame, template matching on every frame.


rule align_shard:
    """Aligned face crops of a shard's clips (MTCNN on the reference frame, template matching)."""
    input:
        index=f"{RES}/{{dataset}}/index.parquet",
    output:
        frames=f"{RES}/{{dataset}}/aligned/shard{{shard}}.npz",
        manifest=f"{RES}/{{dataset}}/aligned/shard{{shard}}.parquet",
        rejected=f"{RES}/{{dataset}}/aligned/shard{{shard}}.rejected.parquet",
    params:
        alignment=canonical(config["alignment"]),
        window=config["temporal"].get("window", ["onset", "offset"]),
        on_bad_frame=lambda wc: DATASETS[wc.dataset].get("on_bad_clip", "error"),
        roots=lambda wc: {m: DATASETS[m]["root"] for m in members(wc.dataset)},
    threads: 1
    log:
        f"{RES}/{{dataset}}/logs/align_shard{{shard}}.log",
    benchmark:
        f"{RES}/{{dataset}}/benchmarks/align_shard/shard{{shard}}.tsv"
    conda:
        CONDA_ENV
    message:
        "{wildcards.dataset}: align shard {wildcards.shard}"
    script:
        "../workflow_scripts/align_shard.py"
