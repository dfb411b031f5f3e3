"""Music-symbol detection and score reconstruction for DeepScoresV2-style pages.

The package's folders are the pipeline's stages, in the order data flows (a module imports
only from its own stage and the ones before it; see ARCHITECTURE.md):
data -> model -> evaluation -> engine (training validates through evaluation), then
reconstruct (needs only data and model), then benchmarks (stand on everything).
"""
__version__ = "0.1.0"
