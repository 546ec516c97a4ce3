"""Routing evaluation: ``pantheon bench routing`` and the engine's routing-quality benchmark.

Not imported by the running service; ``routing_engine`` needs the dev extra (scikit-learn).
"""
