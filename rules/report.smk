# Reports: the metrics table (Parquet, Markdown, HTML) over every evaluation of a dataset, its
# figures, and the outputs that `snakemake --report` gathers into one HTML file.


rule report:
    """Metrics table of a dataset (Parquet, Markdown, HTML) from its evaluation summaries."""
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
    params:
        config=report_config,
        target=lambda wc: target_of(wc.dataset),
    log:
        f"{RES}/{{dataset}}/logs/report.log",
    benchmark:
        f"{RES}/{{dataset}}/benchmarks/report/report.tsv"
    conda:
        CONDA_ENV
    message:
        "{wildcards.dataset}: metrics table"
    script:
        "../workflow_scripts/report.py"


rule report_figures:
    """Recognition figures (UF1/UAR bars, confusion matrices) from evaluation summaries."""
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
    benchmark:
        f"{RES}/{{dataset}}/benchmarks/report_figures/figures.tsv"
    conda:
        CONDA_ENV
    message:
        "{wildcards.dataset}: recognition figures"
    script:
        "../workflow_scripts/report_figures.py"


rule runtime_report:
    """Runtime table (time and memory per job) of a dataset from its benchmark files."""

    # Runs after every other report of the dataset, then reads the benchmark files the jobs wrote
    # (they are not DAG outputs). A rerun of part of the DAG refreshes it through those reports.
    input:
        runtime_report_inputs,
    output:
        jobs=f"{RES}/{{dataset}}/reports/runtime.parquet",
        table=f"{RES}/{{dataset}}/reports/runtime.md",
        html=report(
            f"{RES}/{{dataset}}/reports/runtime.html",
            caption="../report/runtime.rst",
            category="Runtime",
            subcategory="{dataset}",
            labels={"dataset": "{dataset}", "figure": "runtime and memory per rule"},
        ),
    params:
        folders=lambda wc: [
            f"{RES}/{m}/benchmarks" for m in dict.fromkeys([wc.dataset, *members(wc.dataset)])
        ]
        + [f"{RES}/benchmarks"],
    log:
        f"{RES}/{{dataset}}/logs/runtime_report.log",
    conda:
        CONDA_ENV
    message:
        "{wildcards.dataset}: runtime report"
    script:
        "../workflow_scripts/runtime_report.py"
