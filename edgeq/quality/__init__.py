"""Measuring and recovering accuracy: evaluate (float vs quantized), layerwise (per-layer SQNR), search (cheapest
configuration within a budget), qat (quantization-aware fine-tuning), lowbit (ternary/binary weights).

Sits after quantize in the pipeline; imports TensorFlow only inside functions (like edgeq.convert).
"""
