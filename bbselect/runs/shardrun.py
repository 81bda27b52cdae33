"""A shard's run folder: ``<output>/<name>/shard-I-of-N``, predictable so a merge step finds the set.

``shard_folder`` decides where shard I of N goes and what an existing folder means: a finished one
(``run.json`` present) is never overwritten; an unfinished one, left by a task the scheduler
re-queued, is continued like ``--resume``. ``write_empty_shard`` gives a shard that holds none of the
folder's images a folder with a manifest and no maps or report, so the set stays complete for
``bbselect merge``.
"""

from __future__ import annotations

from pathlib import Path

from bbselect.errors import UsageError
from bbselect.progress import log
from bbselect.runs.shards import Shard
from bbselect.store import rundir


def shard_folder(output: str, name: str, shard: Shard, resume: Path | None, quiet: bool) -> tuple[Path, Path | None]:
    """(the shard's folder, the folder to resume or None)."""
    folder = Path(output) / rundir.safe_name(name) / shard.folder
    if resume is not None:
        return folder, resume
    if (folder / "run.json").exists():
        raise UsageError(f"{folder} already holds a finished run of shard {shard.text}; merge it, or "
                         f"delete it to run the shard again (cached maps are reused)")
    if folder.exists():
        log(f"continuing the unfinished shard folder {folder}", quiet=quiet)
        return folder, folder
    return folder, None


def write_empty_shard(folder: Path, config: dict, manifest: dict, quiet: bool) -> tuple[Path, dict]:
    """Write an image-less shard's config and manifest; return (its folder, a summary for the CLI)."""
    run_dir = folder if folder.exists() else rundir.claim_exact_dir(folder)
    manifest["run"]["name"] = run_dir.name
    rundir.write_yaml(run_dir / "config.yaml", config)
    rundir.write_json(run_dir / "run.json", manifest)
    log(f"shard {manifest['run']['shard']} holds none of the {manifest['run']['folder']['files']} files: "
        f"wrote {run_dir} for the merge", quiet=quiet)
    summary = {"run": {**manifest["run"], "n_images": 0, "n_skipped": len(manifest["skipped"])}, "backbones": [],
               "skipped": manifest["skipped"], "timing": manifest["timing"]}
    return run_dir, summary
