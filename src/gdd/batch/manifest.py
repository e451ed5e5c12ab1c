"""A batch's manifest (its jobs, each one fusion command) and its state (done records, logs)."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..app import OutputSettings, written_files
from ..cli.options import path_options, repeated_options
from ..cli.parser import build_parser, join_negative_values
from ..io import InputError, MissingFileError, atomic

__all__ = ["PATH_OPTIONS", "TASKS", "Job", "State", "read_manifest", "state_folder"]

TASKS = ("hs", "pan", "flash")
#: Options whose values are files (resolved against the manifest's folder), from the option table.
PATH_OPTIONS = path_options()
#: Values of path options that are not files.
_KEYWORDS = {"estimate"}
#: Options given more than once (``--pixel``, ``--co``): a list in a manifest gives each.
_REPEATED = repeated_options()


@dataclass
class Job:
    """One fusion command of a manifest."""

    id: str
    argv: list[str]
    out: Path
    writes: dict[Path, str] = field(default_factory=dict)
    """Every file the job may write (resolved), by its role."""
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    force: bool = False
    """Run with ``--force`` (an output that exists is overwritten)."""

    @property
    def key(self) -> str:
        """A digest of the command: a record of another command is not this job's."""
        return hashlib.sha256("\0".join(self.argv).encode()).hexdigest()[:16]


def _read_rows(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"manifest {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"manifest {path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    try:
        if suffix == ".csv":
            rows = list(csv.DictReader(io.StringIO(text)))
            return [{k.strip(): v.strip() for k, v in r.items() if k and v is not None and v.strip()} for r in rows]
        if suffix == ".json":
            data = json.loads(text)
            data = data.get("jobs") if isinstance(data, dict) else data
        elif suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover
                import tomli as tomllib
            data = tomllib.loads(text).get("jobs")
        else:
            raise InputError(f"manifest {path}: unknown format {path.suffix!r} (use .csv, .json or .toml)")
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"manifest {path}: cannot parse ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise InputError(f"manifest {path}: expected a list of jobs (JSON list or 'jobs', TOML [[jobs]] tables)")
    return data


def _argv(row: dict[str, Any], base: Path, label: str) -> list[str]:
    task = str(row.get("task", "")).strip()
    if task not in TASKS:
        raise InputError(f"{label}: task must be one of {', '.join(TASKS)}, got {task!r}")
    argv = [task]
    for key, value in row.items():
        if key in ("task", "id"):
            continue
        name = key.strip().replace("_", "-")
        dest = name.replace("-", "_")
        if isinstance(value, bool) or str(value).lower() in ("true", "false"):
            on = value if isinstance(value, bool) else str(value).lower() == "true"
            if on:
                argv.append(f"--{name}")
            elif name in ("residual", "keep-best", "refit"):
                argv.append(f"--no-{name}")
            continue
        if (
            isinstance(value, list)
            and dest in _REPEATED
            and (not value or not all(isinstance(v, (int, float)) for v in value))
        ):
            # values of a repeated option (pixel = [[10, 20], [30, 40]]): the flag once for each
            for item in value:
                argv += [f"--{name}", _joined(item)]
            continue
        text = _joined(value)
        if dest in PATH_OPTIONS and text not in _KEYWORDS and not Path(text.split(":")[0]).is_absolute():
            text = str(base / text)
        argv += [f"--{name}", text]
    return argv


def _joined(value: Any) -> str:
    """An option's value as the command line takes it: a JSON or TOML list as ``A,B,C``."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def read_manifest(path: str | os.PathLike[str]) -> list[Job]:
    """The jobs of a manifest, each command checked by the command line's parser.

    Raises:
        InputError: an unreadable manifest, a job with an unknown task or option, a missing
            ``out``, two jobs with the same ``id``, or two jobs writing one file (their results,
            previews, ``--json``, ``--report`` or the files written beside the results).
    """
    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"manifest {p}: file not found")
    rows = _read_rows(p)
    if not rows:
        raise InputError(f"manifest {p}: lists no jobs")
    parser = build_parser()
    jobs: list[Job] = []
    for i, row in enumerate(rows, 1):
        ident = str(row.get("id") or i)
        label = f"manifest {p.name}, job {ident}"
        if not _SAFE_ID.fullmatch(ident) or ident in (".", ".."):
            raise InputError(
                f"{label}: an id names the job's files in the state folder; use letters, digits, '.', '_' and '-'"
            )
        if not row.get("out"):
            raise InputError(f"{label}: no 'out' (the result file)")
        argv = _argv(row, p.parent.resolve(), label)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                args = parser.parse_args(join_negative_values(argv))
            except SystemExit:
                message = err.getvalue().strip().splitlines()[-1].removeprefix("gdd: error: ")
                raise InputError(f"{label}: {message}") from None
        outputs = OutputSettings(out=Path(args.out), json=args.json, report=args.report)
        writes = {path.resolve(): role for path, role in written_files(outputs).items()}
        jobs.append(Job(ident, argv, Path(args.out), writes))
    ids: set[str] = set()
    writers: dict[Path, tuple[Job, str]] = {}
    for job in jobs:
        if job.id in ids:
            raise InputError(f"manifest {p.name}: two jobs have the id {job.id}")
        ids.add(job.id)
        for path, role in job.writes.items():
            if path in writers:  # two jobs writing one file: the second would overwrite the first's
                other, first = writers[path]
                if first == role:  # two results with one preview (x.npy, x.mat): which results
                    first, role = f"{first} of {other.out.name}", f"{role} of {job.out.name}"
                raise InputError(
                    f"manifest {p.name}: jobs {other.id} and {job.id} both write {path} "
                    f"(as {first} and as {role}); give each job its own"
                )
            writers[path] = (job, role)
    return jobs


#: A job's id: the stem of its files in the state folder (``ID.log``, ``ID.done.json``), so no path.
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]+")


def state_folder(manifest: str | os.PathLike[str]) -> Path:
    """Where a batch keeps its records and logs: ``.NAME.state`` beside the manifest."""
    p = Path(manifest)
    return p.with_name(f".{p.name}.state")


class State:
    """Done records and logs of a batch's jobs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def _record(self, job: Job) -> Path:
        return self.folder / f"{job.id}.done.json"

    def log(self, job: Job) -> Path:
        return self.folder / f"{job.id}.log"

    def _recorded_key(self, job: Job) -> str | None:
        """The command digest in the job's record, None without a readable record."""
        try:
            key = json.loads(self._record(job).read_text()).get("key")
        except (OSError, ValueError):
            return None
        return str(key) if key is not None else None

    def done(self, job: Job) -> bool:
        return job.out.exists() and self._recorded_key(job) == job.key

    def made_otherwise(self, job: Job) -> bool:
        """Whether the job's record is of another command (the job was edited since it ran)."""
        key = self._recorded_key(job)
        return key is not None and key != job.key

    def mark(self, job: Job, seconds: float) -> None:
        info = {"id": job.id, "key": job.key, "argv": job.argv, "seconds": seconds, "attempts": job.attempts}
        atomic(self._record(job), lambda t: t.write_text(json.dumps(info)))
