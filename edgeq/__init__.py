"""edgeq: Keras model in, checked int8 TFLite + C for Cortex-M / bundles for Pi and Android out.

Importing edgeq must not import TensorFlow (a test enforces it); heavy imports live inside functions.
"""

__version__ = "0.1.0"
