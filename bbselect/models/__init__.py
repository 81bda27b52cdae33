"""Models: the backbone registry, weights, the map extractor, the TensorFlow runtime and cost.

May import inputs and the base modules (errors, progress, common)."""
