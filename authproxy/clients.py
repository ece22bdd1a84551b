"""Registrations and their backing Cognito app clients (design D4).

A registration is a store row the façade owns; the Cognito app client behind it is a credential the
façade uses on the registration's behalf. With the ``pooled`` policy, registrations of the same
client software share one backing client, so registration storms (Claude registers on every fresh
connection) cost rows, not Cognito quota. With ``dedicated``, each registration gets its own, under
a quota guard.

Writes that span Cognito and the store are ordered so a failure halfway leaves nothing behind: a
quota slot first, then the Cognito client, then the backing row, then the registration row; each
later failure undoes the earlier steps it owns. Writes to a registration never lose a concurrent
one (design D9): revocation sets the status alone; an update is conditional on the version read
and on the registration being active, so a stale writer loses instead of undoing a revocation or
recreating a deleted record.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import secrets
import string
import time
from dataclasses import dataclass, replace
from typing import Any

from servicekit.metrics import Metrics

from .cognito_admin import CognitoAdmin, CognitoAdminError, deployment_mark
from .errors import OAuthError, invalid_client, temporarily_unavailable
from .resources import scopes_supported
from .sealing import SecretBox
from .settings import Settings
from .store import BackingClient, Registration, Store, StoreConflict, StoreUnavailable
from .store.base import RegistrationKind

log = logging.getLogger(__name__)
_METRICS = Metrics("authproxy")

# Record a registration's use at most this often: one store write per hour, not per token.
TOUCH_INTERVAL = 3600
CLIENT_ID_ALPHABET = string.ascii_letters + string.digits


def new_client_id() -> str:
    """RFC 7591 §3.2.1 leaves the identifier's form to the server: 24 letters and digits, 142
    bits. No ``-`` or ``_``: an id starting with ``-`` reads as an option on a command line
    (``authproxy clients show ID``), and operators copy these by double-click."""
    return "".join(secrets.choice(CLIENT_ID_ALPHABET) for _ in range(24))


def digest(value: str) -> str:
    """SHA-256 of a 256-bit random secret: enough to compare, useless to steal."""
    return hashlib.sha256(value.encode()).hexdigest()


def matches(value: str | None, expected_digest: str | None) -> bool:
    if not value or not expected_digest:
        return False
    return hmac.compare_digest(digest(value), expected_digest)


def pool_of(metadata: dict[str, Any]) -> str:
    """Which shared backing client a registration uses under the ``pooled`` policy.

    Only whether the client is public or confidential decides it: nothing else a registrant says
    (its name, its metadata URL) may mint a Cognito app client, or anyone could exhaust the
    pool's app-client quota with anonymous registrations. Cognito never sees what else differs
    between clients (the façade's callback is the only one it knows), and revocation is the
    façade's, per registration.
    """
    confidential = metadata.get("token_endpoint_auth_method", "none") != "none"
    return "confidential" if confidential else "public"


@dataclass(frozen=True)
class IssuedRegistration:
    """A new registration and the credentials shown to the client once (RFC 7591 §3.2.1)."""

    registration: Registration
    client_secret: str | None
    registration_access_token: str | None


def capacity_exhausted(why: str) -> OAuthError:
    log.error("registration refused: backing client capacity exhausted", extra={"why": why})
    return OAuthError(
        "temporarily_unavailable",
        "this server cannot register more clients now; its operator has been alerted",
        status=503,
    )


def admin_failure(exc: CognitoAdminError) -> OAuthError:
    if exc.throttled:
        return temporarily_unavailable("Cognito is throttling client management; retry shortly")
    if exc.transient:
        log.warning(
            "Cognito admin call failed; the client may retry",
            extra={"operation": exc.operation, "cognito_error": exc.code},
        )
        return temporarily_unavailable("Cognito is not answering; retry shortly")
    if exc.quota_exceeded:
        return capacity_exhausted(f"{exc.operation}: {exc.code}")
    log.error(
        "Cognito admin call failed",
        extra={"operation": exc.operation, "cognito_error": exc.code, "detail": exc.message},
    )
    return OAuthError("server_error", f"{exc.operation} failed ({exc.code})", status=502)


def delete_cognito_client(admin: CognitoAdmin, client_id: str) -> bool:
    """DeleteUserPoolClient; on failure, say so loudly and leave it for reconcile."""
    try:
        admin.delete_client(client_id)
    except CognitoAdminError as exc:
        log.error(
            "could not delete Cognito client; reconcile will report it",
            extra={"backing_client_id": client_id, "cognito_error": exc.code},
        )
        return False
    return True


def retire_backing(store: Store, admin: CognitoAdmin, backing: BackingClient) -> bool:
    """Delete the Cognito client, then its row; a row stays while its client exists."""
    if not delete_cognito_client(admin, backing.client_id):
        return False
    store.delete_backing(backing.client_id)
    log.info("backing client deleted", extra={"backing_client_id": backing.client_id})
    return True


def revoke_registration(
    store: Store, admin: CognitoAdmin, client_id: str, *, delete_backing: bool
) -> Registration | None:
    """Refuse the registration at authorize, token and refresh; with ``delete_backing``, also
    retire a dedicated backing client (its Cognito refresh tokens then stop working too). Pooled
    backing clients are shared and stay. A targeted write of the status alone, so no concurrent
    update is lost and none can undo it; None if the registration is gone."""
    revoked = store.set_status(client_id, "revoked")
    if revoked is None:
        return None
    log.info("client revoked", extra={"client_id": client_id})
    if delete_backing:
        backing = store.get_backing(revoked.backing_client_id)
        if backing is not None and backing.policy == "dedicated":
            retire_backing(store, admin, backing)
    return revoked


def management_token_refused() -> OAuthError:
    """RFC 7592 §3 / RFC 6750 §3.1: the registration access token does not (or no longer) fit."""
    return OAuthError(
        "invalid_token",
        "registration access token is not valid for this client",
        status=401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


class Registrar:
    """Creates, authenticates, updates and retires registrations."""

    def __init__(
        self, settings: Settings, store: Store, admin: CognitoAdmin, box: SecretBox
    ) -> None:
        self.settings = settings
        self.store = store
        self.admin = admin
        self.box = box
        self.owner = deployment_mark(settings.store_url, settings.region)
        self._secrets: dict[str, str] = {}

    @property
    def backing_scopes(self) -> list[str]:
        """Every scope the façade can ask Cognito for on a client's behalf."""
        return scopes_supported(self.settings.resources)

    # registration

    def register(
        self, metadata: dict[str, Any], *, kind: RegistrationKind = "dcr", client_id: str = ""
    ) -> IssuedRegistration:
        """Create a registration and, when needed, its backing Cognito client."""
        client_id = client_id or new_client_id()
        confidential = metadata.get("token_endpoint_auth_method", "none") != "none"
        client_secret = secrets.token_urlsafe(32) if confidential else None
        access_token = secrets.token_urlsafe(32) if kind == "dcr" else None
        # A metadata-document client appears with an unauthenticated GET: always pooled.
        dedicated = kind == "dcr" and self.settings.client_policy == "dedicated"
        backing = self._new_backing(metadata, dedicated)
        created = int(time.time())
        registration = Registration(
            client_id=client_id,
            metadata=metadata,
            backing_client_id=backing.client_id,
            kind=kind,
            client_secret_hash=digest(client_secret) if client_secret else None,
            registration_token_hash=digest(access_token) if access_token else None,
            created_at=created,
            # Most registrations are never used (clients re-register on every fresh connection):
            # the store forgets those by itself.
            expires_at=created + self.settings.unused_registration_days * 24 * 3600,
        )
        try:
            self.store.create_registration(registration)
        except Exception:
            if dedicated:
                # Undo the Cognito client; if even the row cannot go, reconcile will report it.
                with contextlib.suppress(StoreUnavailable):
                    self._retire_backing(backing)
            raise
        log.info(
            "client registered",
            extra={
                "client_id": client_id,
                "kind": kind,
                "backing_client_id": backing.client_id,
                "auth_method": registration.auth_method,
            },
        )
        _METRICS.emit("Registrations", Kind=kind, Policy="dedicated" if dedicated else "pooled")
        return IssuedRegistration(registration, client_secret, access_token)

    def _new_backing(self, metadata: dict[str, Any], dedicated: bool) -> BackingClient:
        pool = None if dedicated else pool_of(metadata)
        if pool is not None:
            existing = self.store.find_backing(pool)
            if existing is not None:
                return existing
        # The quota slot is taken before Cognito is asked, atomically in the store, so concurrent
        # registrations on any number of instances cannot overshoot the guard.
        limit = self.settings.max_backing_clients
        if not self.store.reserve_backing(limit):
            raise capacity_exhausted(f"{limit} backing clients (AUTHPROXY_MAX_BACKING_CLIENTS)")
        name = str(metadata.get("client_name") or "client") if dedicated else f"pool-{pool}"
        try:
            created = self.admin.create_client(
                owner=self.owner,
                name=name,
                callback_url=self.settings.callback_url,
                scopes=self.backing_scopes,
                identity_providers=self.settings.identity_providers,
            )
        except CognitoAdminError as exc:
            self._release_slot()
            raise admin_failure(exc) from None
        backing = BackingClient(
            client_id=created.client_id,
            name=name,
            sealed_secret=self.box.seal(created.client_secret),
            policy="dedicated" if dedicated else "pooled",
            pool=pool,
        )
        try:
            self.store.create_backing(backing)
        except StoreConflict:
            # Another instance created this pool's client first: use theirs.
            delete_cognito_client(self.admin, created.client_id)
            self._release_slot()
            winner = self.store.find_backing(pool) if pool else None
            if winner is None:
                raise
            return winner
        except Exception:
            delete_cognito_client(self.admin, created.client_id)
            self._release_slot()
            raise
        self._secrets[backing.client_id] = created.client_secret
        log.info(
            "backing client created",
            extra={"backing_client_id": backing.client_id, "policy": backing.policy},
        )
        return backing

    def _release_slot(self) -> None:
        """Give back a quota slot after a failure; if even that fails, the slot stays taken
        until an operator runs ``authproxy clients reconcile --fix``."""
        try:
            self.store.release_backing()
        except StoreUnavailable:
            log.error("could not release a backing-client quota slot; reconcile will report it")

    def _retire_backing(self, backing: BackingClient) -> None:
        self._secrets.pop(backing.client_id, None)
        retire_backing(self.store, self.admin, backing)

    def metadata_document_registration(
        self, url: str, metadata: dict[str, Any]
    ) -> Registration | None:
        """The registration behind a Client ID Metadata Document URL, created on first sight and
        kept in step with the document; None if it was deleted while being refreshed."""
        existing = self.get(url)
        if existing is None:
            try:
                return self.register(metadata, kind="cimd", client_id=url).registration
            except StoreConflict:
                existing = self.get(url)  # another instance registered it at the same moment
            if existing is None:
                # The row is there but expired unused, not yet purged: start afresh.
                self.store.delete_registration(url)
                return self.register(metadata, kind="cimd", client_id=url).registration
        if existing.status == "active" and existing.metadata != metadata:
            try:
                return self.store.update_registration(replace(existing, metadata=metadata))
            except StoreConflict:
                # Revoked, deleted or refreshed by another instance since it was read: what is
                # stored now is the answer (a revocation stays one).
                return self.get(url)
        return existing

    # lookups and authentication

    def get(self, client_id: str) -> Registration | None:
        return self.store.get_registration(client_id)

    def active(self, client_id: str) -> Registration | None:
        registration = self.get(client_id)
        return registration if registration and registration.status == "active" else None

    def authenticate(self, client_id: str, client_secret: str | None) -> Registration:
        """RFC 6749 §2.3: a confidential client proves its secret; a public client its id."""
        registration = self.get(client_id) if client_id else None
        if registration is None:
            raise invalid_client("unknown client")
        if registration.status != "active":
            raise invalid_client("this client registration was revoked")
        if registration.is_confidential and not matches(
            client_secret, registration.client_secret_hash
        ):
            raise invalid_client()
        return registration

    def authenticate_management(self, client_id: str, token: str | None) -> Registration:
        """RFC 7592 §3: the registration access token guards the client configuration endpoint."""
        registration = self.get(client_id)
        if registration is None or not matches(token, registration.registration_token_hash):
            raise management_token_refused()
        return registration

    def cached_backing_credentials(self, backing_client_id: str) -> tuple[str, str] | None:
        """The backing client's id and secret if already in memory: no I/O, so the event loop
        may call it without a worker thread."""
        secret = self._secrets.get(backing_client_id)
        return None if secret is None else (backing_client_id, secret)

    def backing_credentials(self, backing_client_id: str) -> tuple[str, str]:
        """The backing client's id and secret, from memory, the sealed copy, or Cognito."""
        secret = self._secrets.get(backing_client_id)
        if secret is None:
            backing = self.store.get_backing(backing_client_id)
            secret = self.box.open(backing.sealed_secret) if backing else None
            if secret is None:
                try:
                    secret = self.admin.client_secret(backing_client_id)
                except CognitoAdminError as exc:
                    raise admin_failure(exc) from None
            self._secrets[backing_client_id] = secret
        return backing_client_id, secret

    @staticmethod
    def touch_due(registration: Registration) -> bool:
        """Whether :meth:`touch` would write: the use is recorded at most hourly."""
        last_used = registration.last_used_at
        return last_used is None or int(time.time()) - last_used >= TOUCH_INTERVAL

    def touch(self, registration: Registration) -> None:
        """Record that the registration is used (it no longer expires), at most hourly."""
        if self.touch_due(registration):
            self.store.touch_registration(registration.client_id, int(time.time()))

    # RFC 7592 management and operator actions

    def reissue_management_token(
        self, registration: Registration, metadata: dict[str, Any] | None = None
    ) -> IssuedRegistration:
        """RFC 7592 §3: every client information response carries a registration access token;
        only its digest is kept, so each read or update issues a new one (and, §2.1, the client
        discards the old).

        ``registration`` is what the request authenticated against; the write succeeds only if
        it is still what is stored. Otherwise the registration was revoked (refused as such),
        deleted, or given a new token by a concurrent request (either way this request's token is
        no longer valid)."""
        token = secrets.token_urlsafe(32)
        updated = replace(
            registration,
            metadata=registration.metadata if metadata is None else metadata,
            registration_token_hash=digest(token),
        )
        try:
            stored = self.store.update_registration(updated)
        except StoreConflict:
            now = self.get(registration.client_id)
            if now is not None and now.status != "active":
                raise invalid_client("this client registration was revoked") from None
            raise management_token_refused() from None
        return IssuedRegistration(stored, None, token)

    def revoke(self, registration: Registration, *, delete_backing: bool = False) -> None:
        if delete_backing:
            self._secrets.pop(registration.backing_client_id, None)
        revoke_registration(
            self.store, self.admin, registration.client_id, delete_backing=delete_backing
        )

    def delete(self, registration: Registration) -> None:
        """RFC 7592 §2.3: deprovision. A dedicated backing client goes with it."""
        self.revoke(registration, delete_backing=True)
        self.store.delete_registration(registration.client_id)
        log.info("client deleted", extra={"client_id": registration.client_id})
