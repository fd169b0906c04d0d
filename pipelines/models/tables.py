"""The tables the models read from the sources, by name: one definition for every module."""

from __future__ import annotations

RAW_LEADS = "footprints.leads"
RAW_TRIGGERS = "infinity.triggers"
