"""The learning engine: coordizer, geometry, kernels, timescales, transfer, checkpoints.

numpy and the standard library only; no logging, no I/O beyond the checkpoint file helpers.
"""
