"""Rule synthesize_corpus: generate the embedded synthetic corpus in its configured layout
(the whole `synthetic:` block, layout included, goes to SyntheticConfig)."""
import shutil
from pathlib import Path

from mexflow.synthetic.corpus import SyntheticConfig, write_synthetic_corpus
from mexflow.workflow_support import setup


def main(smk) -> None:
    log = setup(smk)
    root = Path(smk.output[0])
    if root.is_dir() and not any(root.iterdir()):
        shutil.rmtree(root)
    cfg = SyntheticConfig.from_dict(smk.params.synthetic)
    truth = write_synthetic_corpus(root, cfg, workers=smk.threads)
    log.info("wrote %d clips of %d subjects in the %s layout to %s", len(truth),
             truth["subject"].nunique(), cfg.layout, root)


# The generator's worker processes start from a fork server and import this file as
# "__mp_main__"; only the job itself (run as "__main__") generates the corpus.
if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
