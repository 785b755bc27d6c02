# Face geometry: FaceMesh landmarks and face-region masks on the aligned clips, and their figure.


rule geometry_shard:
    """FaceMesh landmarks and face-region masks of a shard's aligned clips."""
    input:
        frames=f"{RES}/{{dataset}}/aligned/shard{{shard}}.npz",
        manifest=f"{RES}/{{dataset}}/aligned/shard{{shard}}.parquet",
    output:
        geometry=f"{RES}/{{dataset}}/geometry/shard{{shard}}.npz",
        manifest=f"{RES}/{{dataset}}/geometry/shard{{shard}}.parquet",
        rejected=f"{RES}/{{dataset}}/geometry/shard{{shard}}.rejected.parquet",
    params:
        geometry=canonical(config.get("geometry", {})),
    log:
        f"{RES}/{{dataset}}/logs/geometry_shard{{shard}}.log",
    benchmark:
        f"{RES}/{{dataset}}/benchmarks/geometry_shard/shard{{shard}}.tsv"
    conda:
        CONDA_ENV
    message:
        "{wildcards.dataset}: landmarks and region masks of shard {wildcards.shard}"
    script:
        "../workflow_scripts/geometry_shard.py"


rule face_region_figure:
    """Figure of one aligned clip of shard 0 with its landmarks and region masks."""
    input:
        aligned=f"{RES}/{{dataset}}/aligned/shard0.npz",
        aligned_manifest=f"{RES}/{{dataset}}/aligned/shard0.parquet",
        geometry=f"{RES}/{{dataset}}/geometry/shard0.npz",
        geometry_manifest=f"{RES}/{{dataset}}/geometry/shard0.parquet",
    output:
        report(
            f"{RES}/{{dataset}}/reports/face_regions.png",
            caption="../report/face_regions.rst",
            category="Data",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "landmarks and region masks"},
        ),
    log:
        f"{RES}/{{dataset}}/logs/face_region_figure.log",
    benchmark:
        f"{RES}/{{dataset}}/benchmarks/face_region_figure/figure.tsv"
    conda:
        CONDA_ENV
    message:
        "{wildcards.dataset}: face-region figure"
    script:
        "../workflow_scripts/face_region_figure.py"
