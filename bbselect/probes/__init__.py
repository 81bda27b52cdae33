"""Probes: fitted evaluators on pooled or full features (LogME, linear probe, kNN, detection probes).

Pure numerics on arrays; may import store, models, inputs and the base modules."""
