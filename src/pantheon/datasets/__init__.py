"""Datasets: turn other projects' outcome data into Pantheon outcome JSON Lines, and replay them.

Each line an importer writes is one ``POST /api/outcomes`` body, so ``pantheon replay``
(and the API itself) takes it as it is.
"""
