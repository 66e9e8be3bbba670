"""The bucket's layout: every S3 key dropml's services, domain and use cases read or write is built or parsed here.

Layout (DESIGN.md): ``train/[<p>/]<name>.csv``, ``test/[<p>/]<name>.csv``,
``predictions/[<p>/]<name>.csv``, ``models/<p>/v<N>/...``, ``reports/<p>/v<N>/...``,
``reports/<p>/monitoring/...`` (drift reports, realized accuracy), ``audit/...``. Keys from outside
(events, API, CLI) are validated so that no ``..``, absolute path or odd character can escape its prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from dropml.config import PROJECT_NAME_PATTERN
from dropml.errors import BadInput

DEFAULT_PROJECT = "default"
DATA_PREFIXES = ("train", "test")
MODELS_PREFIX = "models/"
PROJECT_SETTINGS_PREFIX = "experiments/"  # a project's stored training settings (the experiments API made it)
MANIFEST_NAME = "manifest.json"
LEADERBOARD_NAME = "leaderboard.csv"
REPORT_NAME = "report.html"
PROFILE_NAME = "profile.json"  # a version's training profile: the reference its drift reports compare against
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ +()-]{0,199}\.csv$")
_VERSION_DIR = re.compile(r"^v([1-9][0-9]{0,8})$")
_ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class DataKey:
    """A validated data file key: which prefix, which project, which file."""

    kind: Literal["train", "test"]
    project: str
    name: str

    @property
    def key(self) -> str:
        """The S3 key this names."""
        return data_key(self.kind, self.project, self.name)

    @property
    def stem(self) -> str:
        """The file name without ``.csv``."""
        return self.name[: -len(".csv")]


def validate_project(project: str) -> str:
    """Return ``project`` if it is a valid project name.

    Raises:
        BadInput: the name is empty, too long or has characters other than a-z 0-9 _ -.
    """
    if not isinstance(project, str) or not PROJECT_NAME_PATTERN.match(project):
        raise BadInput("project", project, f"project name {project!r} must match {PROJECT_NAME_PATTERN.pattern}")
    return project


def parse_data_key(key: str, kind: Literal["train", "test"] | None = None) -> DataKey:
    """Parse ``train/[<project>/]<name>.csv`` or ``test/...`` into its parts.

    Raises:
        BadInput: wrong prefix, nesting deeper than one project, ``..``, or a bad file name.
    """
    if not isinstance(key, str) or not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise BadInput("key", key, f"S3 key {key!r} is not a relative key")
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise BadInput("key", key, f"S3 key {key!r} has an empty, '.' or '..' part")
    prefix = parts[0]
    allowed = (kind,) if kind else DATA_PREFIXES
    if prefix not in allowed:
        raise BadInput("key", key, f"S3 key {key!r} must start with {' or '.join(p + '/' for p in allowed)}")
    if len(parts) == 2:
        project, name = DEFAULT_PROJECT, parts[1]
    elif len(parts) == 3:
        project, name = validate_project(parts[1]), parts[2]
    else:
        raise BadInput("key", key, f"S3 key {key!r} must be {prefix}/<file>.csv or {prefix}/<project>/<file>.csv")
    if not _FILE_NAME.match(name):
        raise BadInput("key", key, f"file name {name!r} must end in .csv and use only letters, digits and ._ +()-")
    return DataKey(kind=prefix, project=project, name=name)  # type: ignore[arg-type]


def data_key(kind: Literal["train", "test"], project: str, name: str) -> str:
    """The key of a data file; the default project has no sub-folder."""
    validate_project(project)
    return f"{kind}/{name}" if project == DEFAULT_PROJECT else f"{kind}/{project}/{name}"


def data_prefix(kind: Literal["train", "test"], project: str) -> str:
    """The prefix under which a project's data files of one kind lie."""
    validate_project(project)
    return f"{kind}/" if project == DEFAULT_PROJECT else f"{kind}/{project}/"


def predictions_key(project: str, name: str) -> str:
    """Where the predictions for test file ``name`` of ``project`` are written."""
    validate_project(project)
    return f"predictions/{name}" if project == DEFAULT_PROJECT else f"predictions/{project}/{name}"


def version_prefix(project: str, version: int) -> str:
    """``models/<p>/v<N>/``: the folder of one model version."""
    validate_project(project)
    return f"{MODELS_PREFIX}{project}/v{int(version)}/"


def models_prefix(project: str) -> str:
    """``models/<p>/``: the folder of every version of a project."""
    validate_project(project)
    return f"{MODELS_PREFIX}{project}/"


def artifact_key(project: str, version: int, file_name: str) -> str:
    """The key of one file (pickle, leaderboard, manifest) inside a model version."""
    if not _ARTIFACT_NAME.match(file_name):
        raise BadInput("artifact", file_name, f"artifact name {file_name!r} is not allowed")
    return version_prefix(project, version) + file_name


def manifest_key(project: str, version: int) -> str:
    """The manifest of a version; written last, its put publishes the version."""
    return artifact_key(project, version, MANIFEST_NAME)


def report_prefix(project: str, version: int) -> str:
    """``reports/<p>/v<N>/``: EDA plots and the HTML report of a version."""
    validate_project(project)
    return f"reports/{project}/v{int(version)}/"


def report_key(project: str, version: int, file_name: str) -> str:
    """The key of one report file of a version."""
    if not _ARTIFACT_NAME.match(file_name):
        raise BadInput("report", file_name, f"report file name {file_name!r} is not allowed")
    return report_prefix(project, version) + file_name


def claim_key(project: str, version: int) -> str:
    """The lock object a training run creates (if absent) to own a version number."""
    validate_project(project)
    return f"locks/{project}/v{int(version)}.json"


def claims_prefix(project: str) -> str:
    """The folder of a project's version claims."""
    validate_project(project)
    return f"locks/{project}/"


def parse_manifest_key(key: str) -> tuple[str, int]:
    """``models/<p>/v<N>/manifest.json`` → (project, version).

    Raises:
        BadInput: the key is not a manifest key.
    """
    parts = key.split("/") if isinstance(key, str) else []
    match = _VERSION_DIR.match(parts[2]) if len(parts) == 4 else None
    if not (match and parts[0] == "models" and parts[3] == MANIFEST_NAME):
        raise BadInput("key", key, f"S3 key {key!r} is not models/<project>/v<N>/manifest.json")
    return validate_project(parts[1]), int(match.group(1))


def parse_version_dir(name: str) -> int | None:
    """``v12`` → 12; anything else → None."""
    match = _VERSION_DIR.match(name)
    return int(match.group(1)) if match else None


# predictions: one record per request; samples: the kept input rows of API traffic (drift); keys: the row keys
# and predictions of time-ordered projects (realized accuracy), per project; training, announcements: one per event
AuditKind = Literal["predictions", "samples", "keys", "training", "announcements"]


def audit_key(kind: AuditKind, when: datetime, name: str) -> str:
    """An audit file, partitioned by date so a day's records list cheaply."""
    return f"audit/{kind}/date={when:%Y-%m-%d}/{name}"


def audit_prefix(kind: AuditKind, day: str | None = None) -> str:
    """The audit folder of one kind, optionally of one day (``YYYY-MM-DD``)."""
    return f"audit/{kind}/" + (f"date={day}/" if day else "")


def promotion_key(project: str, when: datetime, parameter_version: int, pointer: str = "live") -> str:
    """One change of a project's live (or challenger) version: named by time, so a listing is the history in order."""
    kind = "" if pointer == "live" else f"-{pointer}"
    return f"{promotion_prefix(project)}{when:%Y%m%dT%H%M%S%fZ}-p{parameter_version}{kind}.json"


def promotion_prefix(project: str) -> str:
    """Where a project's live-version changes are kept (one object each, never overwritten)."""
    return f"audit/promotions/{validate_project(project)}/"


def audit_project_key(kind: Literal["samples", "keys"], when: datetime, project: str, name: str) -> str:
    """An audit file of one project's kept inputs or row keys: ``audit/<kind>/date=<day>/<project>/<name>``."""
    validate_project(project)
    return audit_key(kind, when, f"{project}/{name}")


def audit_project_prefix(kind: Literal["samples", "keys"], day: str, project: str) -> str:
    """The folder of one project's kept inputs or row keys of one day."""
    validate_project(project)
    return f"{audit_prefix(kind, day)}{project}/"


_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def monitoring_day_key(day: str, project: str | None = None) -> str:
    """The monitoring job's subject: a day's kept API traffic (``audit/samples/date=<day>/``), of one project or all.

    Raises:
        BadInput: ``day`` is not ``YYYY-MM-DD``, or the project name is invalid.
    """
    if not isinstance(day, str) or not _ISO_DAY.match(day):
        raise BadInput("day", day, f"day must be YYYY-MM-DD (got {day!r})")
    return audit_project_prefix("samples", day, project) if project else audit_prefix("samples", day)


def parse_monitoring_day_key(key: str) -> tuple[str, str | None]:
    """``audit/samples/date=<day>/[<p>/]`` → (day, project or None).

    Raises:
        BadInput: not such a key.
    """
    parts = key.split("/") if isinstance(key, str) else []
    if len(parts) in (4, 5) and parts[:2] == ["audit", "samples"] and parts[-1] == "" and parts[2].startswith("date="):
        day = parts[2].removeprefix("date=")
        project = validate_project(parts[3]) if len(parts) == 5 else None
        if _ISO_DAY.match(day):
            return day, project
    raise BadInput("key", key, f"{key!r} is not a monitoring day: audit/samples/date=<YYYY-MM-DD>/[<project>/]")


_BATCH_ID = re.compile(r"[^A-Za-z0-9._-]+")


def _batch_name(batch_id: str) -> str:
    return _BATCH_ID.sub("_", batch_id)[:120] or "batch"


def monitoring_prefix(project: str) -> str:
    """``reports/<p>/monitoring/``: a project's drift reports and realized accuracy."""
    validate_project(project)
    return f"reports/{project}/monitoring/"


def drift_reports_prefix(project: str, day: str | None = None) -> str:
    """The folder of a project's drift reports, optionally of one day (``YYYY-MM-DD``)."""
    return monitoring_prefix(project) + "drift/" + (f"{day}/" if day else "")


def drift_report_key(project: str, when: datetime, source_kind: str, batch_id: str) -> str:
    """One batch's drift report: filed by day and time, so a listing is in time order."""
    day = f"{when:%Y-%m-%d}"
    return (
        drift_reports_prefix(project, day) + f"{when:%H%M%S%f}-{_batch_name(source_kind)}-{_batch_name(batch_id)}.json"
    )


def realized_prefix(project: str, version: int | None = None) -> str:
    """The folder of a project's realized accuracy (of one version, when given)."""
    return monitoring_prefix(project) + "realized/" + (f"v{int(version)}/" if version is not None else "")


def realized_pairs_key(project: str, version: int, day: str, batch_id: str) -> str:
    """Labelled rows of one batch joined with what ``version`` predicted for them on ``day``."""
    return realized_prefix(project, version) + f"pairs/{day}/{_batch_name(batch_id)}.json"


def realized_summary_key(project: str, version: int, day: str) -> str:
    """``version``'s realized metrics over every labelled row of its predictions made on ``day``."""
    return realized_prefix(project, version) + f"summary/{day}.json"


def idempotency_key(scope: str, token: str) -> str:
    """The marker object that records one event as handled."""
    return f"idempotency/{scope}/{token}"


def project_settings_key(project: str) -> str:
    """The stored training settings of a project (its overrides, whoever set them: the API or the CLI)."""
    validate_project(project)
    return f"{PROJECT_SETTINGS_PREFIX}{project}/config.json"


def archive_marker_key(project: str, version: int) -> str:
    """The marker that says a version is archived (its artifacts are kept; it is never made live)."""
    return version_prefix(project, version) + "ARCHIVED.json"


# ── data drops and the Parquet dataset they are appended to (dropml.training.dataset) ──
DROP_SUFFIXES = (".csv", ".parquet")
_DROP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ +()-]{0,199}\.(csv|parquet)$")
_DAY = re.compile(r"^day=(\d{4}-\d{2}-\d{2})$")
DATASET_SCHEMA_NAME = "_schema.json"


def parse_drop_key(key: str) -> tuple[str, str]:
    """``data/<project>/<name>.csv`` (or ``.parquet``) → (project, name).

    Raises:
        BadInput: not under ``data/<project>/``, a bad project or file name.
    """
    parts = key.split("/") if isinstance(key, str) else []
    if len(parts) != 3 or parts[0] != "data" or any(part in ("", ".", "..") for part in parts):
        raise BadInput("key", key, f"S3 key {key!r} must be data/<project>/<file>.csv or .parquet")
    if not _DROP_NAME.match(parts[2]):
        raise BadInput(
            "key", key, f"drop name {parts[2]!r} must end in .csv or .parquet and use letters, digits, ._ +()-"
        )
    return validate_project(parts[1]), parts[2]


def dataset_prefix(project: str) -> str:
    """``datasets/<p>/``: a project's Parquet dataset, one folder per day; also the data key its runs train on."""
    validate_project(project)
    return f"datasets/{project}/"


def is_dataset_key(key: str) -> bool:
    """Whether ``key`` names a project's dataset (``datasets/<p>/``) rather than a file."""
    parts = key.split("/") if isinstance(key, str) else []
    return len(parts) == 3 and parts[0] == "datasets" and parts[2] == "" and bool(PROJECT_NAME_PATTERN.match(parts[1]))


def parse_dataset_key(key: str) -> str:
    """``datasets/<p>/`` → the project.

    Raises:
        BadInput: not a dataset key.
    """
    if not is_dataset_key(key):
        raise BadInput("key", key, f"S3 key {key!r} is not a dataset (datasets/<project>/)")
    return key.split("/")[1]


def dataset_schema_key(project: str) -> str:
    """The columns and kinds every drop of ``project`` must have (fixed by its first drop)."""
    return dataset_prefix(project) + DATASET_SCHEMA_NAME


def dataset_file_key(project: str, day: str, token: str, rows: int) -> str:
    """One appended part: ``datasets/<p>/day=<YYYY-MM-DD>/<token>-<rows>.parquet`` (rows in the name: windows of rows
    are chosen from a listing, without reading a file)."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day) or not re.fullmatch(r"[0-9a-f]{8,64}", token):
        raise BadInput("day", day, f"dataset part day={day!r} token={token!r} is malformed")
    return f"{dataset_prefix(project)}day={day}/{token}-{int(rows)}.parquet"


def parse_dataset_file_key(key: str) -> tuple[str, str, int] | None:
    """``datasets/<p>/day=<d>/<token>-<rows>.parquet`` → (project, day, rows); None for any other key."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != "datasets" or not parts[3].endswith(".parquet"):
        return None
    day = _DAY.match(parts[2])
    rows = re.fullmatch(r"[0-9a-f]{8,64}-(\d+)\.parquet", parts[3])
    if not (day and rows):
        return None
    return parts[1], day.group(1), int(rows.group(1))


def project_of(key: str, kind: Literal["train", "test"] | None = None) -> str:
    """The project a job's data key belongs to: a data file's (``train/``, ``test/``) or a dataset's (training only).

    Raises:
        BadInput: neither a data file of ``kind`` nor (for training) a dataset key.
    """
    if kind in (None, "train") and is_dataset_key(key):
        return parse_dataset_key(key)
    return parse_data_key(key, kind).project
