"""Motion magnification: Eulerian EVM and the learned FlowMag family (generator, frozen flow
supervisors, training modes), plus motion-fidelity metrics.

Conventions shared by every module here:
- numpy frames: (T, H, W, 3) uint8 RGB or (T, H, W) uint8 gray, as stored in clip shards;
- torch images: (B, 3, H, W) float32 RGB in [0, 1];
- flow: torch (B, 2, H, W) / numpy (H, W, 2) float32 pixels, channel 0 = dx (columns),
  1 = dy (rows); the forward flow F(a, b) satisfies b(x + F(x)) ~ a(x).
"""
