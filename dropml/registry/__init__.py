"""The model registry: versions written once (manifest last), the live version per project, and who set it.

It imports neither scoring nor training: both write and read versions through it.

- :mod:`~dropml.registry.versions`: the one writer of a version, and reading, listing and checking versions
- :mod:`~dropml.registry.live`: the live and challenger pointers in SSM, publish, promote, roll back, history
- :mod:`~dropml.registry.project_settings`: training settings stored per project (checked, merged, used per run)
- :mod:`~dropml.registry.byom`: a registered (bring-your-own) model's schema and pipeline, written as a version
"""

from dropml.registry.live import (
    HistoryEntry,
    LiveVersion,
    Pointer,
    challenger_version,
    clear_challenger,
    history,
    live_version,
    promote,
    publish,
    rollback,
    set_challenger,
)
from dropml.registry.versions import (
    VersionFile,
    claim_version,
    claimed_versions,
    list_projects,
    list_versions,
    parse_manifest,
    read_artifact,
    read_artifacts,
    read_manifest,
    verify_artifacts,
    write_version,
)

__all__ = [
    "HistoryEntry",
    "LiveVersion",
    "Pointer",
    "VersionFile",
    "challenger_version",
    "claim_version",
    "claimed_versions",
    "clear_challenger",
    "history",
    "list_projects",
    "list_versions",
    "live_version",
    "parse_manifest",
    "promote",
    "publish",
    "read_artifact",
    "read_artifacts",
    "read_manifest",
    "rollback",
    "set_challenger",
    "verify_artifacts",
    "write_version",
]
