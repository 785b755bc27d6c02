"""Embedded synthetic micro-expression corpus with known ground truth.

Faces come from a real photograph bundled offline (scikit-image's astronaut), varied per subject;
micro-motion is composed from action-unit displacement fields anchored at MediaPipe landmarks;
clips carry head jitter, illumination drift and sensor noise, and are written in a real corpus'
on-disk layout with a ground-truth archive per clip.
"""
