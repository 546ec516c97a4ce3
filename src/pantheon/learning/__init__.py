"""The learning engine: coordizer, geometry, kernels, timescales, transfer, checkpoints.

numpy, the standard library and the encoder runtime (onnxruntime, tokenizers) only; no
logging, no I/O beyond the checkpoint file helpers and the bundled encoder files.
"""
