"""The application: every command a user can give, as plain functions on the engine.

Both thin layers call these and nothing deeper: ``cli.py`` keeps parsing options, printing and exit
codes; ``api.py`` keeps turning Python values into config values and outcomes into ``Result`` objects.

    compare(cfg)            one run (``bbselect compare``)
    resume(run_dir)         finish an interrupted run with its saved settings (``compare --resume``)
    run_config(file, sets)  a YAML config, shipped or a file, with ``--set`` overrides and sweeps (``run``)
    report(run_dir)         re-render a finished run from its saved maps (``report``)
    merge(shards, ...)      combine shard runs into one (``merge``)
    load(run_dir)           reopen a finished run's summary without computing anything
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from bbselect.common import did_you_mean
from bbselect.config import file as configfile
from bbselect.config import shipped
from bbselect.config.schema import CompareConfig, default_images_dir
from bbselect.config.validate import resolve
from bbselect.errors import InputError, UsageError
from bbselect.runs import finish, pipeline
from bbselect.runs import merge as merging
from bbselect.runs.runfolder import load_run, read_config
from bbselect.runs.sweep import run_config_sweep


@dataclass
class ConfigRun:
    """What ``run_config`` did: one outcome per sweep point (one for a plain config); ``parent`` is the
    sweep's folder (its ``index.html``), None without a sweep; ``notes`` are messages for the user."""

    outcomes: list = field(default_factory=list)
    parent: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return max((o.exit_code for o in self.outcomes), default=0)


def find_config_file(path) -> tuple[Path, bool]:
    """(``path``, False) when it is a file, else (the shipped config of that name, True)."""
    path = Path(path)
    if path.is_file():
        return path, False
    found = shipped.find_config(str(path))
    if found is None:
        raise UsageError(f"config file {path} does not exist, and no shipped config has that name"
                         f"{did_you_mean(str(path), shipped.config_names())} (shipped: "
                         f"{', '.join(shipped.config_names())})")
    return found, True


def compare(cfg: CompareConfig, *, quiet: bool = True, argv=None, origins: dict | None = None) -> finish.Outcome:
    """One run. ``origins`` (key -> where its value came from, config/rules.py) words the errors of a
    config checked here first, as the API's keywords; without it they name the command-line options."""
    if origins is not None:
        resolve(cfg, origins=origins)
    return pipeline.compare(cfg, quiet=quiet, argv=argv)


def resume(run_dir: Path, *, quiet: bool = True, argv=None) -> finish.Outcome:
    """Continue an interrupted run in ``run_dir`` with its saved settings (``config.yaml``)."""
    return pipeline.compare(read_config(Path(run_dir)), quiet=quiet, argv=argv, resume=Path(run_dir))


def run_config(config, sets=(), overrides: dict | None = None, *, quiet: bool = True, argv=None,
               notify=None, given_as: str = "cli") -> ConfigRun:
    """Run a config file (or a shipped config's name). Precedence: ``overrides`` (options typed on the
    command line, or API keywords: ``given_as`` ``cli`` or ``api:run``) > ``sets`` (``KEY=VALUE``
    strings, values parsed as YAML) > the file > built-in defaults. Every sweep point is checked before
    any runs, its errors naming the file and line, ``--set`` or option each value came from;
    ``notify(note)`` hears the file's notes (e.g. a deprecated key) before that."""
    config_file, is_shipped = find_config_file(config)
    loaded = configfile.build_config(config_file, list(sets), dict(overrides or {}), given_as=given_as)
    if loaded.source["images"] == "default" or (is_shipped and loaded.base.images == "images"):
        loaded.base.images = str(default_images_dir())  # ./images, else the bundled sample images
    for note in loaded.notes if notify else ():
        notify(note)
    points = loaded.points()
    for _, cfg in points:
        resolve(cfg, origins=loaded.origins(cfg))
    if not loaded.sweep:
        return ConfigRun([compare(points[0][1], quiet=quiet, argv=argv)], None, list(loaded.notes))
    parent, outcomes = run_config_sweep(loaded, points, config_file.stem, quiet=quiet,
                                        run_point=lambda cfg: compare(cfg, quiet=quiet, argv=argv))
    return ConfigRun(list(outcomes), parent, list(loaded.notes))


def report(run_dir: Path, *, figures: str | None = None, overlay: bool | None = None,
           quiet: bool = True) -> finish.Outcome:
    return finish.report(Path(run_dir), figures=figures, overlay=overlay, quiet=quiet)


def merge(shards, output, name: str | None = None, *, overrides: dict | None = None, allow_partial: bool = False,
          quiet: bool = True) -> finish.Outcome:
    return merging.merge([str(s) for s in shards], Path(output), name, quiet=quiet, overrides=overrides or {},
                         allow_partial=allow_partial)


def load(run_dir: Path) -> finish.Outcome:
    """A finished run as it was written (``scores.json``): no model, no scoring, no drawing. The run
    folder is checked as ``report`` checks it (a damaged or foreign ``run.json`` is an InputError)."""
    run_dir = Path(run_dir)
    load_run(run_dir)
    try:
        summary = json.loads((run_dir / "scores.json").read_text())
    except FileNotFoundError:
        raise InputError(f"{run_dir} has no scores.json; re-render it with `bbselect report {run_dir}`") from None
    except ValueError as err:
        raise InputError(f"{run_dir}/scores.json is unreadable: {err}") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("backbones"), list):
        raise InputError(f"{run_dir}/scores.json was not written by bbselect")
    return finish.Outcome(run_dir, summary, list(summary.get("gates") or []))
