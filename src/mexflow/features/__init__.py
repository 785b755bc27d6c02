"""Feature extractors for micro-expression clips (LBP, LBP-TOP, ...)."""
