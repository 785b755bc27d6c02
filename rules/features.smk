# Feature banks, addressed by (dataset, condition, feature set), one NPZ + manifest per shard.


rule feature_shard:
    """Feature bank shard (NPZ, manifest, images) of one feature set on a shard's clips."""
    input:
        clips=f"{RES}/{{dataset}}/clips/{{condition}}/shard{{shard}}.npz",
        manifest=f"{RES}/{{dataset}}/clips/{{condition}}/shard{{shard}}.parquet",
    output:
        bank=f"{RES}/{{dataset}}/features/{{condition}}/{{feature_set}}/shard{{shard}}.npz",
        manifest=f"{RES}/{{dataset}}/features/{{condition}}/{{feature_set}}/shard{{shard}}.parquet",
        images=directory(
            f"{RES}/{{dataset}}/features/{{condition}}/{{feature_set}}/images{{shard}}"
        ),
    params:
        feature_set=lambda wc: wc.feature_set,
        spec=feature_params,
    threads: 1
    log:
        f"{RES}/{{dataset}}/logs/features/{{condition}}_{{feature_set}}_shard{{shard}}.log",
    benchmark:
        f"{RES}/{{dataset}}/benchmarks/feature_shard/{{condition}}_{{feature_set}}_shard{{shard}}.tsv"
    conda:
        CONDA_ENV
    message:
        "{wildcards.dataset}: {wildcards.feature_set} features of shard {wildcards.shard} ({wildcards.condition})"
    script:
        "../workflow_scripts/feature_shard.py"


rule merge_bank:
    """Feature bank manifest from its shard manifests (or from a composite's member banks)."""
    input:
        bank_shards,
    output:
        f"{RES}/{{dataset}}/features/{{condition}}/{{feature_set}}/manifest.parquet",
    params:
        spec=feature_params,
        composite=lambda wc: is_composite(wc.dataset),
    log:
        f"{RES}/{{dataset}}/logs/features/{{condition}}_{{feature_set}}_merge.log",
    benchmark:
        f"{RES}/{{dataset}}/benchmarks/merge_bank/{{condition}}_{{feature_set}}.tsv"
    conda:
        CONDA_ENV
    message:
        "{wildcards.dataset}: merge the {wildcards.feature_set} bank ({wildcards.condition})"
    script:
        "../workflow_scripts/merge_bank.py"
