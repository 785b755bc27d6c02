"""mexflow: facial micro-expression analysis pipeline."""

__version__ = "0.1.0"
