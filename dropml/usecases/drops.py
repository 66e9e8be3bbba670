"""A data drop arrived (``data/<project>/<name>.csv`` or ``.parquet``): append it to its project's dataset.

The drop's function parses the S3 event and calls :func:`append`; nothing here
starts a training run: the project's dataset trains on its schedule or on
request (:func:`dropml.usecases.triggers.training_source` picks the dataset),
so ten thousand one-row drops a day make one dataset and no runs. A drop that
does not fit is refused with a ``BadInput`` naming what was wrong, which the
event loop announces and drops (retrying cannot fix it); nothing was appended.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dropml import notify, storage
from dropml.config import settings
from dropml.registry import project_settings
from dropml.storage import keys
from dropml.training import dataset

if TYPE_CHECKING:
    from dropml.events import S3Object

logger = logging.getLogger(__name__)


def _arrival(obj: S3Object) -> datetime:
    """When the drop was written (the event's time), so a redelivered event stamps its rows the same."""
    try:
        return datetime.fromisoformat(obj.event_time.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return datetime.now(UTC)


def append(obj: S3Object) -> dataset.Appended:
    """Check the drop against its project's dataset and append it; announce what was appended.

    The project's training settings (its config entry and stored settings)
    name its record key, so a drop is deduplicated by the same keys training uses.

    Raises:
        BadInput: a key outside ``data/<project>/``, or a drop that does not fit (nothing appended).
        ConfigError: the project's settings are invalid.
        NotFound: the object is gone.
    """
    project, _ = keys.parse_drop_key(obj.key)
    conf = settings().training_for(project, project_settings.stored_overrides(project))
    found = storage.get_bytes(obj.key)
    appended = dataset.append_drop(project, obj.key, found.etag, found.body, conf, _arrival(obj))
    logger.info(
        "drop appended",
        extra={"project": project, "key": obj.key, "rows": appended.rows, "parts": len(appended.parts)},
    )
    notify.announce(
        "drop",
        "succeeded",
        f"{obj.key}: {appended.rows} rows appended to {keys.dataset_prefix(project)}",
        project=project,
        key=obj.key,
        rows=appended.rows,
        replaced_in_drop=appended.replaced_in_drop,
        parts=appended.parts,
    )
    return appended
