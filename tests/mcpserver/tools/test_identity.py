"""``whoami``: the tool that only reads the verified token."""

from __future__ import annotations

import inspect

from mcpserver.tools import identity


def test_whoami_is_a_coroutine_so_the_sdk_calls_it_without_a_worker_thread() -> None:
    # The SDK hands a plain function to a worker thread on every call; whoami does no I/O.
    assert inspect.iscoroutinefunction(identity.whoami)
