"""AWS API clients made with botocore directly, on first use.

``boto3.client`` is a botocore client from a default botocore session; importing boto3 also
imports s3transfer, about 110 ms of a Lambda cold start (s3transfer alone about 60 ms) for S3
transfer helpers and resource objects neither deployable uses. The clients here are the same
classes with the same credential chain, region and endpoint resolution (``AWS_ENDPOINT_URL_*``
included).

Importing botocore's client machinery and loading a service model cost a cold start about
130 ms more (Cognito's model alone about 50 ms), which requests that never call AWS (metadata)
need not pay: :class:`LazyClient` makes its client on first use, and
:meth:`LazyClient.connect` makes it ahead of time, e.g. before a SnapStart snapshot.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache
from typing import Any

# botocore's session is not safe to create clients from in several threads at once; the endpoints
# reach the clients from worker threads.
_LOCK = threading.Lock()


@cache
def session() -> Any:
    """The process's one botocore session (what ``boto3``'s default session wraps)."""
    # One session per process, as boto3's default session: its loaders and credential lookup are
    # shared by every client. Called under _LOCK.
    from botocore.session import get_session

    return get_session()


class LazyClient:
    """A low-level client of ``service``, as ``boto3.client`` makes it, made on first use.

    ``config`` holds ``botocore.config.Config`` arguments (importing that module alone costs a
    cold start about 60 ms); ``client`` is a ready-made client (tests).
    """

    def __init__(
        self,
        service: str,
        region: str | None = None,
        *,
        endpoint_url: str | None = None,
        config: dict[str, Any] | None = None,
        client: Any | None = None,
    ) -> None:
        self._args = (service, region, endpoint_url, config)
        self._client = client

    def connect(self) -> Any:
        """The client, made now if it was not yet."""
        if self._client is None:
            with _LOCK:
                if self._client is None:
                    self._client = self._make()
        return self._client

    def _make(self) -> Any:
        from botocore.config import Config

        service, region, endpoint_url, config = self._args
        return session().create_client(
            service,
            region_name=region,
            endpoint_url=endpoint_url,
            config=Config(**config) if config else None,
        )


def before_snapshot(*hooks: Callable[[], object]) -> bool:
    """Have Lambda run ``hooks`` before it takes a SnapStart snapshot (the clients they make are
    then in every restored environment). Returns False outside Lambda's runtime, where
    ``snapshot_restore_py`` is absent."""
    try:
        from snapshot_restore_py import register_before_snapshot
    except ImportError:
        return False
    for hook in hooks:
        register_before_snapshot(hook)
    return True
