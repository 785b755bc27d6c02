# Reports: the metrics table (Parquet + Markdown) over every evaluation of a dataset.


rule report:
    input:
        summaries=evaluation_summaries,
        index=f"{RES}/{{dataset}}/index.parquet",
        rejected=f"{RES}/{{dataset}}/rejected.parquet",
        aligned_rejected=aligned_rejections,
        geometry_rejected=geometry_rejections,
    output:
        metrics=f"{RES}/{{dataset}}/reports/metrics.parquet",
        table=f"{RES}/{{dataset}}/reports/metrics.md",
    log:
        f"{RES}/{{dataset}}/logs/report.log",
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/report.py"
