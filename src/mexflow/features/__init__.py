"""Feature extractors for micro-expression clips.

Modules: flow (Farnebäck / DIS / TV-L1 flow and modes over a clip), strain (optical strain),
lbp (exact LBP / LBP-TOP), lbp_frames (framewise LBP images), fft3d (block 3D FFT), flowmap
(28x28 onset->apex flow maps), pooling (block means / histograms), kinds + registry (feature
sets by config `kind`).
"""
