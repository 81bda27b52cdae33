"""Config: the settings schema and defaults, value checks, YAML files, --set, sweeps, validation.

May import report, scoring and everything below it (it validates names from their registries)."""
