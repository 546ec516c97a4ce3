"""The service layer: the training operations, outcome intake, routing and read queries.

``TrainingService`` (``service.py``) is the only place that combines the store and the
engine; ``intake``, ``routing`` and ``queries`` build on it.
"""
