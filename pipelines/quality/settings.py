"""The `[quality]` settings, read and checked: each threshold keeps the key that set it, so a
breached gate can name it.

A threshold of 0 or `none` turns its gate off. A target's `max_skipped_share_<target>`, when
set, replaces `max_skipped_share` for that target (0 or none turns only that target's gate off).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.runtime import settings
from pipelines.runtime.settings import SettingError

_OFF = "none"
SKIPPED_SHARE_TARGETS = ("qubit", "owox", "gameball")


@dataclass(frozen=True)
class Threshold:
    """A gate's limit and the dotted key that set it (`quality.min_match_rate`)."""

    key: str
    value: float

    @property
    def setting(self) -> str:
        """The key and its environment variable, as an operator looks them up."""
        return f"{self.key} [{settings.env_name(self.key)}]"


@dataclass(frozen=True)
class QualitySettings:
    """Validated `[quality]` settings; a threshold of None is a gate turned off. The defaults
    are the config spec's (`runtime.settings.QualityConfig`)."""

    block_push: bool
    max_hours_without_triggers: Threshold | None
    max_hours_without_leads: Threshold | None
    min_volume_ratio: Threshold | None
    min_baseline_calls: int
    min_match_rate: Threshold | None
    max_match_rate_drop: Threshold | None
    min_leads_for_match_rate: int
    max_rejected_share: Threshold | None
    min_rows_for_rejected_share: int
    max_skipped_share: tuple[tuple[str, Threshold | None], ...]  # (target, its limit)
    min_rows_for_skipped_share: int

    def skipped_share(self, target: str) -> Threshold | None:
        return dict(self.max_skipped_share).get(target)

    @classmethod
    def from_config(cls) -> QualitySettings:
        """Read and check every `[quality]` setting; raises `SettingError` naming the key."""
        spec = settings.QualityConfig
        raw = settings.resolve(spec)
        hours = {"maximum": 24 * 365.0}
        share = {"maximum": 1.0}
        every_target = _threshold("max_skipped_share", raw.max_skipped_share, **share)
        per_target = []
        for target in SKIPPED_SHARE_TARGETS:
            name = f"max_skipped_share_{target}"
            own = getattr(raw, name)
            limit = every_target if own is None else _threshold(name, own, **share)
            per_target.append((target, limit))
        return cls(
            block_push=raw.block_push,
            max_hours_without_triggers=_threshold(
                "max_hours_without_triggers", raw.max_hours_without_triggers, **hours
            ),
            max_hours_without_leads=_threshold(
                "max_hours_without_leads", raw.max_hours_without_leads, **hours
            ),
            min_volume_ratio=_threshold("min_volume_ratio", raw.min_volume_ratio, **share),
            min_baseline_calls=_count("min_baseline_calls", raw.min_baseline_calls),
            min_match_rate=_threshold("min_match_rate", raw.min_match_rate, **share),
            max_match_rate_drop=_threshold("max_match_rate_drop", raw.max_match_rate_drop, **share),
            min_leads_for_match_rate=_count(
                "min_leads_for_match_rate", raw.min_leads_for_match_rate
            ),
            max_rejected_share=_threshold("max_rejected_share", raw.max_rejected_share, **share),
            min_rows_for_rejected_share=_count(
                "min_rows_for_rejected_share", raw.min_rows_for_rejected_share
            ),
            max_skipped_share=tuple(per_target),
            min_rows_for_skipped_share=_count(
                "min_rows_for_skipped_share", raw.min_rows_for_skipped_share
            ),
        )


def _threshold(name: str, text: str | None, *, maximum: float) -> Threshold | None:
    """A gate's limit from its text (a number, or 0 or none for off)."""
    key = settings.QualityConfig.key(name)
    value = (text or "").strip().lower()
    if value == _OFF:
        return None
    try:
        number = float(value)
    except ValueError:
        raise SettingError(
            key, f"must be a number, or 0 or none to turn the gate off, got {text!r}"
        ) from None
    if not 0 <= number <= maximum:  # also refuses nan
        raise SettingError(key, f"must be between 0 and {maximum:g}, got {text!r}")
    return Threshold(key, number) if number else None


def _count(name: str, value: int) -> int:
    return settings.bounded(settings.QualityConfig, name, value, minimum=0)
