"""Music-symbol detection and score reconstruction for DeepScoresV2-style pages.

The package's folders are the pipeline's stages, in the order data flows:
data -> model -> engine -> evaluation -> reconstruct.
"""
__version__ = "0.1.0"
