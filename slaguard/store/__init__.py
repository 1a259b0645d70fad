"""The record: results, runs and (later) incidents, outbox and statements."""

from slaguard.store.sqlite import AddStats, SeriesInfo, SQLiteStore

__all__ = ["AddStats", "SQLiteStore", "SeriesInfo"]
