"""Routing evaluation: ``pantheon bench routing`` and the engine's routing-quality benchmark.

Not imported by the web or the worker; scikit-learn (a runtime dependency) fits the same-run
TF-IDF + LR baseline that the demo and ``pantheon bench routing`` print.
"""
