"""Recognisers: fit on training samples, predict test samples (see ``mexflow.models.svm``)."""
