# Recognition under subject-independent protocols: per-fold predictions and a summary each.


rule evaluate:
    """Per-clip predictions and metrics of one model under one protocol on one feature bank."""
    input:
        index=f"{RES}/{{dataset}}/index.parquet",
        bank=f"{RES}/{{dataset}}/features/{{condition}}/{{feature_set}}/manifest.parquet",
    output:
        predictions=f"{RES}/{{dataset}}/eval/{{condition}}/{{feature_set}}/{{model}}/{{protocol}}/predictions.parquet",
        summary=f"{RES}/{{dataset}}/eval/{{condition}}/{{feature_set}}/{{model}}/{{protocol}}/summary.json",
    params:
        feature=feature_params,
        model=lambda wc: canonical(MODELS[wc.model]),
        protocol=lambda wc: canonical(PROTOCOLS[wc.protocol]),
        target=lambda wc: target_of(wc.dataset),
        seed=config["seed"],
        reserved=finetune_reservation,
    threads: lambda wc: job_threads(MODELS[wc.model])
    resources:
        gpu=lambda wc: int(MODELS[wc.model].get("gpus", 0)),
    log:
        f"{RES}/{{dataset}}/logs/eval/{{condition}}_{{feature_set}}_{{model}}_{{protocol}}.log",
    benchmark:
        f"{RES}/{{dataset}}/benchmarks/evaluate/{{condition}}_{{feature_set}}_{{model}}_{{protocol}}.tsv"
    conda:
        CONDA_ENV
    message:
        "{wildcards.dataset}: evaluate {wildcards.model} on {wildcards.condition}/{wildcards.feature_set} ({wildcards.protocol})"
    script:
        "../workflow_scripts/evaluate.py"
