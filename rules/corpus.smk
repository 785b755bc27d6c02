# Corpus: the embedded synthetic corpus (generated) and the canonical clip index.


rule synthesize_corpus:
    """Synthetic corpus (clips, coding sheet, ground truth) from a dataset's synthetic settings."""
    output:
        directory(f"{RES}/{{dataset}}/corpus"),
    params:
        synthetic=synthetic_params,
    threads: corpus_threads
    log:
        f"{RES}/{{dataset}}/logs/synthesize_corpus.log",
    benchmark:
        f"{RES}/{{dataset}}/benchmarks/synthesize_corpus/corpus.tsv"
    conda:
        CONDA_ENV
    message:
        "{wildcards.dataset}: synthesize the corpus"
    script:
        "../workflow_scripts/synthesize_corpus.py"


rule build_index:
    """Clip index and rejected clips of a dataset from its annotations or its members' indexes."""
    input:
        corpus=corpus_input,
        members=member_indexes,
    output:
        index=f"{RES}/{{dataset}}/index.parquet",
        rejected=f"{RES}/{{dataset}}/rejected.parquet",
    params:
        spec=index_params,
    log:
        f"{RES}/{{dataset}}/logs/build_index.log",
    benchmark:
        f"{RES}/{{dataset}}/benchmarks/build_index/index.tsv"
    conda:
        CONDA_ENV
    message:
        "{wildcards.dataset}: build the clip index"
    script:
        "../workflow_scripts/build_index.py"
