"""Rule synthesize_corpus: generate the embedded synthetic corpus in the CASME II layout."""
import shutil
from pathlib import Path

from mexflow.synthetic.corpus import SyntheticConfig, write_casme2_corpus
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821 - injected by Snakemake
root = Path(snakemake.output[0])
if root.is_dir() and not any(root.iterdir()):
    shutil.rmtree(root)
cfg = SyntheticConfig.from_dict({k: v for k, v in snakemake.params.synthetic.items() if k != "layout"})
truth = write_casme2_corpus(root, cfg, workers=snakemake.threads)
log.info("wrote %d clips of %d subjects to %s", len(truth), truth["subject"].nunique(), root)
