"""Subject-independent evaluation: split protocols (LOSO / LOGO), cross-validation
driver and metrics computed on predictions pooled over all folds."""
