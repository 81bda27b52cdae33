"""Scoring: the score registry, map scores, statistics, evidence, ranking, the run summary, gates.

May import probes, store, models, inputs and the base modules; never report, config or run."""
