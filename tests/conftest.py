"""Shared fixtures: the real ``authproxy dev`` stack, started once per session."""

from collections.abc import Iterator

import pytest

from support.stack import Stack, dev_stack


@pytest.fixture(scope="session")
def dev() -> Iterator[Stack]:
    """`authproxy dev` as a user runs it (pooled policy, defaults)."""
    with dev_stack() as stack:
        yield stack
