# Reports: the metrics table (Parquet, Markdown, HTML) over every evaluation of a dataset, its
# figures, and the outputs that `snakemake --report` gathers into one HTML file.


rule report:
    input:
        summaries=evaluation_summaries,
        index=f"{RES}/{{dataset}}/index.parquet",
        rejected=f"{RES}/{{dataset}}/rejected.parquet",
        aligned_rejected=aligned_rejections,
        geometry_rejected=geometry_rejections,
    output:
        metrics=f"{RES}/{{dataset}}/reports/metrics.parquet",
        per_class=f"{RES}/{{dataset}}/reports/per_class.parquet",
        table=f"{RES}/{{dataset}}/reports/metrics.md",
        html=report(
            f"{RES}/{{dataset}}/reports/metrics.html",
            caption="../report/metrics.rst",
            category="Recognition",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "metrics table"},
        ),
    log:
        f"{RES}/{{dataset}}/logs/report.log",
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/report.py"


rule report_figures:
    input:
        summaries=evaluation_summaries,
    output:
        bars=report(
            f"{RES}/{{dataset}}/reports/recognition.png",
            caption="../report/recognition.rst",
            category="Recognition",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "UF1 / UAR with intervals"},
        ),
        confusion=report(
            f"{RES}/{{dataset}}/reports/confusion.png",
            caption="../report/confusion.rst",
            category="Recognition",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "confusion matrices"},
        ),
    log:
        f"{RES}/{{dataset}}/logs/report_figures.log",
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/report_figures.py"
