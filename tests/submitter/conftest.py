"""Submitter test configuration: the ``reliability`` marker (``make test-reliability`` selects it)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "reliability: multi-process reliability tests (full size with ZS_RELIABILITY_FULL=1)"
    )
