"""Face geometry from FaceMesh landmarks: named regions, region masks and their figures."""
