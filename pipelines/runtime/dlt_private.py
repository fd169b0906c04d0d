"""Every use of a dlt API that is not public, in one place (written against dlt 1.31).

dlt has no public call for these; each is used where no public one does the job, and
tests/runtime/test_dlt_private.py fails loudly when a dlt upgrade moves or changes one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from dlt.common.storages.load_package import PackageStorage
from dlt.extract.items_transform import MapItem
from dlt.pipeline.state_sync import decompress_state

__all__ = [
    "decompress_state",
    "delete_loaded_packages",
    "drop_schema_tables",
    "incremental_last_value",
    "incremental_resources",
    "job_outcome_recorded",
    "map_after_incremental",
    "source_state",
]


def source_state(state: Mapping[str, Any], source: str) -> dict[str, Any]:
    """A source's part of a pipeline state (local, or decompressed from the warehouse)."""
    return state.get("sources", {}).get(source, {})


def incremental_last_value(
    state: Mapping[str, Any], source: str, resource: str, cursor: str
) -> Any | None:
    """The last value a resource's `dlt.sources.incremental(cursor)` saved, or None."""
    resources = source_state(state, source).get("resources", {})
    return resources.get(resource, {}).get("incremental", {}).get(cursor, {}).get("last_value")


def incremental_resources(state: Mapping[str, Any], source: str) -> dict[str, dict[str, Any]]:
    """resource name -> its saved incremental cursors, for every resource of `source`."""
    resources = source_state(state, source).get("resources", {})
    return {name: value.get("incremental", {}) for name, value in resources.items()}


def delete_loaded_packages(pipeline: Any, keep: int) -> None:
    """Delete all but the newest `keep` loaded packages from the pipeline's working folder."""
    storage = pipeline._get_load_storage()
    for load_id in sorted(storage.list_loaded_packages(), key=float)[:-keep]:
        storage.delete_loaded_package(load_id)


def job_outcome_recorded(package_path: str, job_file_path: str) -> bool:
    """Whether dlt has recorded the outcome of a started job (then it never re-runs it).

    dlt writes a marker into the package's pending-transitions folder once it knows.
    """
    marker = Path(package_path, PackageStorage.PENDING_TRANSITIONS_FOLDER, Path(job_file_path).name)
    return marker.exists()


class _MapAfterIncremental(MapItem):
    # dlt orders a resource's steps by this: its maps are 0, its incremental 1, its limit 1.1
    placement_affinity: ClassVar[float] = 1.05


def map_after_incremental(resource: Any, function: Callable[[Any], Any]) -> None:
    """Map every item of `resource` after its incremental has seen it (`add_map` runs before)."""
    resource.add_step(_MapAfterIncremental(function))


def drop_schema_tables(pipeline: Any, *tables: str) -> None:
    """Forget `tables` in the pipeline's schema, saved at once; the next load stores that
    schema in the warehouse. dlt's own drop (`dlt.pipeline.helpers.drop`) removes whole
    resources with their state; these are tables of a resource that keeps its others."""
    if not pipeline.default_schema_name:
        return
    schema = pipeline.default_schema
    known = [table for table in tables if table in schema.tables]
    if known:
        schema.drop_tables(known)
        pipeline.schemas.save_schema(schema)
