#!/usr/bin/env python3
"""Runs the operations that azure-keyvault-secrets' own tests exercise against a
running amlsecrets emulator. Exit status 1 if any operation failed.

Output: one tab-separated line per operation: STATUS (PASS, FAIL or SKIP),
SDK@API-VERSION, OPERATION, milliseconds and, for FAIL and SKIP, why.

Environment:
  AMLSECRETS_KEYVAULT_URL   the emulator's vault URL (https://127.0.0.1:PORT/)
  AMLSECRETS_CA_FILE        the emulator's CA file (amlsecrets serve --ca-out), so TLS is verified
  SDKCOMPAT_VAULT_ALIAS     NAME.vault.azure.net: use that host name (resolved to 127.0.0.1 only)
                            with challenge-resource verification on
  SDKCOMPAT_PROPAGATION_MS  the emulator's --propagation-delay in ms (default 100, serve's default)
  SDKCOMPAT_API_VERSIONS    space-separated api_version values to run the checks under
                            (default: the SDK's default version only)

Written for this project: it performs the same operations and assertions as
the SDK's tests (test_secrets_client.py, test_secrets_async.py,
test_samples_secrets.py, test_parse_id.py, test_context_manager.py), not their code.
"""

import asyncio
import functools
import json
import logging
import os
import re
import socket
import sys
import time
import traceback
from datetime import datetime, timezone

from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.keyvault.secrets import KeyVaultSecretIdentifier, SecretClient

VAULT_URL = os.environ.get("AMLSECRETS_KEYVAULT_URL", "")
CA_FILE = os.environ.get("AMLSECRETS_CA_FILE", "")
if not re.match(r"^https://(127\.0\.0\.1|\[::1\]|localhost)[:/]", VAULT_URL):
    sys.exit("check.py: set AMLSECRETS_KEYVAULT_URL to a loopback emulator URL (amlsecrets serve prints it)")
if not CA_FILE:
    sys.exit("check.py: set AMLSECRETS_CA_FILE to the emulator's CA file (amlsecrets serve --ca-out FILE)")

# With SDKCOMPAT_VAULT_ALIAS=NAME.vault.azure.net the client uses that host
# name, resolved here to 127.0.0.1 (and no other name is resolved at all), with
# challenge-resource verification on: exactly a real vault's client setup.
ALIAS = os.environ.get("SDKCOMPAT_VAULT_ALIAS", "")
if ALIAS:
    if not re.match(r"^[a-z0-9-]+\.vault\.azure\.net$", ALIAS):
        sys.exit("check.py: SDKCOMPAT_VAULT_ALIAS must be NAME.vault.azure.net")
    # The URL has no port, as a real vault's: this SDK's verification compares
    # the challenge's domain with the URL's host *and port*. The resolver maps
    # ALIAS:443 to the emulator's loopback port.
    _emulator_port = int(re.match(r"^https://[^/]*:(\d+)", VAULT_URL).group(1))
    _getaddrinfo = socket.getaddrinfo

    def _only_alias(host, port, *args, **kwargs):
        if host != ALIAS or str(port) not in ("443", "https"):
            raise socket.gaierror(socket.EAI_NONAME, "sdkcompat resolves only %s:443, not %s:%s" % (ALIAS, host, port))
        return _getaddrinfo("127.0.0.1", _emulator_port, *args, **kwargs)

    socket.getaddrinfo = _only_alias
    VAULT_URL = "https://%s/" % ALIAS

# Poll quickly (the SDK's default interval is 2 s); the emulator's default
# propagation delay still makes each poller wait at least one round.
POLL = 0.05
LIST_SIZE = 7
# The emulator's propagation delay (serve's default); the propagation checks
# fail only when a delete or recover shows sooner than this after it was sent.
PROPAGATION = float(os.environ.get("SDKCOMPAT_PROPAGATION_MS", "100")) / 1000
RUN_ID = format(int(time.time() * 1000) % (36**8), "x")
_seq = [0]


def fresh(what):
    _seq[0] += 1
    return "py-%s-%s-%d" % (what, RUN_ID, _seq[0])


class StaticToken:
    """A credential with a fixed bearer token: the emulator accepts any token."""

    def get_token(self, *scopes, **kwargs):
        return AccessToken("sdkcompat-static-token", int(time.time()) + 3600)


class AsyncStaticToken:
    async def get_token(self, *scopes, **kwargs):
        return AccessToken("sdkcompat-static-token", int(time.time()) + 3600)

    async def close(self):
        pass

    async def __aenter__(self):
        return self

    async def __aexit__(self, *args):
        pass


def client_kwargs(api_version=None, **extra):
    kw = dict(
        connection_verify=CA_FILE,  # verify TLS with the emulator's CA
        # The challenge names vault.azure.net; a loopback URL needs this, the alias does not.
        verify_challenge_resource=bool(ALIAS),
        **extra,
    )
    if api_version:
        kw["api_version"] = api_version
    return kw


def make_client(api_version=None, **extra):
    return SecretClient(VAULT_URL, StaticToken(), **client_kwargs(api_version, **extra))


def error_code(e):
    try:
        return e.response.json()["error"]["code"]
    except Exception:  # noqa: BLE001 - report what there is
        return getattr(getattr(e, "error", None), "code", None)


def expect_error(fn, cls=HttpResponseError):
    try:
        fn()
    except cls as e:
        return e
    raise AssertionError("expected %s, got success" % cls.__name__)


def assert_not_found(e):
    assert isinstance(e, ResourceNotFoundError), type(e).__name__
    assert e.status_code == 404, e.status_code
    assert error_code(e) == "SecretNotFound", error_code(e)


def same_attributes(a, b):
    """The attributes test_secrets_client compares between two SecretProperties."""
    for attr in ("name", "vault_url", "content_type", "enabled", "not_before", "expires_on",
                 "created_on", "updated_on", "recovery_level", "key_id"):
        va, vb = getattr(a, attr), getattr(b, attr)
        assert va == vb, "%s: %r != %r" % (attr, va, vb)


def poll_until_no_exception(fn, exc, tries=100):
    for i in range(tries):
        try:
            return fn()
        except exc:
            if i == tries - 1:
                raise
            time.sleep(POLL)


def poll_until_exception(fn, exc, tries=100):
    for _ in range(tries):
        try:
            fn()
        except exc:
            return
        time.sleep(POLL)
    raise AssertionError("still no %s after %d tries" % (exc.__name__, tries))


def delete_wait(c, name, **kw):
    p = c.begin_delete_secret(name, _polling_interval=POLL, **kw)
    p.wait()
    return p.result()


# ---- sync checks: each takes a SecretClient ----

CHECKS = []


def check(name):
    def register(fn):
        CHECKS.append((name, fn))
        return fn
    return register


def validate_bundle(secret, vault, name, value):
    prefix = "/".join(s.strip("/") for s in [vault, "secrets", name])
    assert secret.id.startswith(prefix), "id %s does not start with %s" % (secret.id, prefix)
    assert secret.value == value
    assert secret.properties.created_on and secret.properties.updated_on, "missing dates"


@check("secret CRUD: set, set with options, get latest and by version, update properties, delete")
def crud(c):
    name = fresh("crud")
    created = c.set_secret(name, "crud_secret_value")
    validate_bundle(created, c.vault_url, name, "crud_secret_value")
    expires = datetime(2050, 2, 2, 8, tzinfo=timezone.utc)
    not_before = datetime(2015, 2, 2, 8, tzinfo=timezone.utc)
    tags = {"foo": "created tag"}
    created = c.set_secret(name, "crud_secret_value", enabled=True, content_type="password",
                           not_before=not_before, expires_on=expires, tags=tags)
    validate_bundle(created, c.vault_url, name, "crud_secret_value")
    p = created.properties
    assert (p.content_type, p.enabled, p.not_before, p.expires_on, p.tags) == (
        "password", True, not_before, expires, tags), vars(p)
    same_attributes(created.properties, c.get_secret(name).properties)
    same_attributes(created.properties, c.get_secret(name, p.version).properties)
    time.sleep(1.1)  # as the live test does: updated_on has 1 s resolution
    new_expires = datetime(2050, 1, 2, 8, tzinfo=timezone.utc)
    updated = c.update_secret_properties(name, version=p.version, content_type="text/plain",
                                         expires_on=new_expires, tags={"foo": "updated tag"},
                                         enabled=not p.enabled)
    assert updated.tags == {"foo": "updated tag"}
    assert updated.id == created.id
    assert updated.content_type == "text/plain"
    assert updated.expires_on == new_expires
    assert updated.enabled != p.enabled
    assert updated.updated_on != p.updated_on, "updated_on did not change"
    deleted = c.begin_delete_secret(name, _polling_interval=POLL).result()
    assert deleted is not None and deleted.name == name


@check("list secret properties (max_page_size 6 over 7 secrets)")
def list_secrets(c):
    expected = {}
    for i in range(LIST_SIZE):
        s = c.set_secret(fresh("list%d" % i), "secVal%d" % i)
        expected[s.name] = s
    pages = 0
    for page in c.list_properties_of_secrets(max_page_size=LIST_SIZE - 1).by_page():
        items = list(page)
        assert len(items) <= LIST_SIZE - 1, len(items)
        pages += 1
        for p in items:
            assert getattr(p, "value", None) is None
            if p.name in expected:
                same_attributes(expected.pop(p.name).properties, p)
    assert not expected, "not listed: %s" % sorted(expected)
    assert pages >= 2, pages


@check("list versions (max_page_size 6 over 7 versions)")
def list_versions(c):
    name = fresh("vers")
    expected = {}
    for _ in range(LIST_SIZE):
        s = c.set_secret(name, "secVal")
        expected[s.id] = s
    for p in c.list_properties_of_secret_versions(name, max_page_size=LIST_SIZE - 1):
        if p.id in expected:
            same_attributes(expected.pop(p.id).properties, p)
    assert not expected, "not listed: %s" % sorted(expected)


@check("list versions of a missing secret: empty")
def list_versions_missing(c):
    assert list(c.list_properties_of_secret_versions(fresh("noversions"))) == []


@check("list deleted secrets (attributes, deleted_date, scheduled_purge_date, recovery_id)")
def list_deleted(c):
    expected = {}
    for i in range(LIST_SIZE):
        s = c.set_secret(fresh("listdel%d" % i), "value%d" % i)
        expected[s.name] = s
    for n in expected:
        delete_wait(c, n)
    seen = set()
    for d in c.list_deleted_secrets(max_page_size=3):
        assert d.deleted_date and d.scheduled_purge_date and d.recovery_id
        if d.name in expected:
            same_attributes(expected[d.name].properties, d.properties)
            seen.add(d.name)
    assert seen == set(expected), "not listed: %s" % sorted(set(expected) - seen)


@check("backup, delete, purge, restore (retry while 409)")
def backup_restore(c):
    name = fresh("bak")
    created = c.set_secret(name, "secVal", tags={"t": "1"})
    backup = c.backup_secret(name)
    assert isinstance(backup, bytes) and backup
    delete_wait(c, name)
    c.purge_deleted_secret(name)
    restored = poll_until_no_exception(functools.partial(c.restore_secret_backup, backup), ResourceExistsError)
    same_attributes(created.properties, restored)
    assert c.get_secret(name).value == "secVal"


@check("restore of malformed backup bytes: 400 Malformed backup blob")
def restore_malformed(c):
    e = expect_error(lambda: c.restore_secret_backup(bytes(4728)))
    assert e.status_code == 400, e.status_code
    assert error_code(e) == "Malformed backup blob", error_code(e)
    assert "Backup blob contains invalid or corrupt version." in e.message, e.message


@check("backup a missing secret: 404 SecretNotFound")
def backup_missing(c):
    assert_not_found(expect_error(lambda: c.backup_secret(fresh("bakmissing"))))


@check("recover: delete 7, list deleted, recover each (poller wait), get each")
def recover(c):
    secrets = {}
    for i in range(LIST_SIZE):
        s = c.set_secret(fresh("rec%d" % i), "value%d" % i)
        secrets[s.name] = s
    for n in secrets:
        delete_wait(c, n)
    deleted = {d.name for d in c.list_deleted_secrets()}
    assert set(secrets) <= deleted, "not listed as deleted: %s" % sorted(set(secrets) - deleted)
    for n in secrets:
        c.begin_recover_deleted_secret(n, _polling_interval=POLL).wait()
    for n, s in secrets.items():
        got = c.get_secret(n)
        same_attributes(got.properties, s.properties)
        assert got.value == s.value


@check("recover a missing deleted secret: 404 SecretNotFound")
def recover_missing(c):
    assert_not_found(expect_error(lambda: c.begin_recover_deleted_secret(fresh("recmissing"))))


@check("purge: delete 7, purge each, poll until get_deleted_secret 404, not listed")
def purge(c):
    names = [c.set_secret(fresh("purge%d" % i), "value%d" % i).name for i in range(LIST_SIZE)]
    for n in names:
        delete_wait(c, n)
    deleted = {d.name for d in c.list_deleted_secrets()}
    assert set(names) <= deleted
    for n in names:
        c.purge_deleted_secret(n)
    for n in names:
        poll_until_exception(functools.partial(c.get_deleted_secret, n), ResourceNotFoundError)
    deleted = {d.name for d in c.list_deleted_secrets()}
    assert not set(names) & deleted, "still listed: %s" % sorted(set(names) & deleted)


@check("purge a missing deleted secret: 404 SecretNotFound")
def purge_missing(c):
    assert_not_found(expect_error(lambda: c.purge_deleted_secret(fresh("purgemissing"))))


@check("get a missing secret: 404 SecretNotFound")
def get_missing(c):
    assert_not_found(expect_error(lambda: c.get_secret(fresh("missing"))))


@check("get a missing version: 404 SecretNotFound")
def get_missing_version(c):
    name = c.set_secret(fresh("missingv"), "v").name
    assert_not_found(expect_error(lambda: c.get_secret(name, "0123456789abcdef0123456789abcdef")))


@check("get a disabled secret: 403 Forbidden")
def get_disabled(c):
    name = c.set_secret(fresh("disabled"), "v", enabled=False).name
    e = expect_error(lambda: c.get_secret(name))
    assert e.status_code == 403, e.status_code
    assert "disabled" in e.message, e.message


@check("delete a missing secret: 404 SecretNotFound")
def delete_missing(c):
    assert_not_found(expect_error(lambda: c.begin_delete_secret(fresh("delmissing"))))


@check("get a missing deleted secret: 404 SecretNotFound")
def get_deleted_missing(c):
    assert_not_found(expect_error(lambda: c.get_deleted_secret(fresh("getdelmissing"))))


@check("delete poller: result() at once, done() false, wait(timeout) then wait() completes")
def delete_poller_resume(c):
    name = c.set_secret(fresh("delpoll"), "v").name
    t0 = time.monotonic()
    p = c.begin_delete_secret(name, _polling_interval=POLL)
    assert p.result().name == name and p.result().recovery_id
    p.wait(timeout=0)  # stop waiting before the deletion has propagated ...
    assert not p.done() or time.monotonic() - t0 >= PROPAGATION, "the delete was complete at once: no propagation delay"
    p.wait()  # ... and wait again until it has
    assert p.done()
    assert c.get_deleted_secret(name).name == name


@check("recover poller: wait(timeout) then wait() completes")
def recover_poller_resume(c):
    name = c.set_secret(fresh("recpoll"), "v").name
    delete_wait(c, name)
    t0 = time.monotonic()
    p = c.begin_recover_deleted_secret(name, _polling_interval=POLL)
    assert p.result().name == name
    p.wait(timeout=0)
    assert not p.done() or time.monotonic() - t0 >= PROPAGATION, "the recover was complete at once: no propagation delay"
    p.wait()
    assert p.done()
    assert c.get_secret(name).value == "v"


@check("delete poller with the SDK's default 2 s interval")
def delete_default_interval(c):
    name = c.set_secret(fresh("deldefault"), "v").name
    c.begin_delete_secret(name).wait()
    assert c.get_deleted_secret(name).name == name


@check("propagation: a deleted secret is not in /deletedsecrets at once")
def propagation(c):
    name = c.set_secret(fresh("prop"), "v").name
    t0 = time.monotonic()
    c.begin_delete_secret(name, _polling_interval=POLL)  # the DELETE, no wait
    try:
        c.get_deleted_secret(name)
    except ResourceNotFoundError:
        return
    # Seen deleted sooner than the emulator's delay after the DELETE was sent:
    # the emulator did not delay. Later (a loaded machine) proves nothing.
    took = time.monotonic() - t0
    assert took >= PROPAGATION, "deleted secret visible within %d ms: the emulator did not delay" % (took * 1000)


@check("sample: crud operations")
def sample_crud(c):
    name = fresh("samplecrud")
    expires = datetime(2050, 2, 2, 8, tzinfo=timezone.utc)
    s = c.set_secret(name, "secret-value", expires_on=expires)
    assert s.name and s.properties.version and s.properties.expires_on == expires
    s = c.get_secret(name)
    s = c.get_secret(name, s.properties.version)
    assert s.id and s.name and s.properties.version and s.properties.vault_url
    u = c.update_secret_properties(name, content_type="text/plain", tags={"foo": "updated tag"})
    assert u.version and u.updated_on and u.content_type == "text/plain" and u.tags == {"foo": "updated tag"}
    p = c.begin_delete_secret(name, _polling_interval=POLL)
    d = p.result()
    assert d.name and d.deleted_date and d.scheduled_purge_date and d.recovery_id
    p.wait()


@check("sample: list operations")
def sample_list(c):
    for i in range(LIST_SIZE):
        c.set_secret(fresh("samplelist%d" % i), "value%d" % i)
    for s in c.list_properties_of_secrets():
        assert s.id and s.name and s.enabled is not None
    for s in c.list_properties_of_secret_versions("secret-name"):
        assert s.id and s.enabled is not None and s.updated_on
    for s in c.list_deleted_secrets():
        assert s.id and s.name and s.scheduled_purge_date and s.recovery_id and s.deleted_date


@check("sample: backup and restore")
def sample_backup(c):
    name = fresh("samplebak")
    c.set_secret(name, "secret-value")
    backup = c.backup_secret(name)
    assert backup
    c.begin_delete_secret(name, _polling_interval=POLL).wait()
    c.purge_deleted_secret(name)
    # The live sample sleeps 60 s here; a restore during purge propagation gets 409.
    r = poll_until_no_exception(functools.partial(c.restore_secret_backup, backup), ResourceExistsError)
    assert r.id and r.version


@check("sample: get deleted and recover")
def sample_recover(c):
    name = fresh("samplerec")
    c.set_secret(name, "secret-value")
    c.begin_delete_secret(name, _polling_interval=POLL).wait()
    assert c.get_deleted_secret(name).name == name
    p = c.begin_recover_deleted_secret(name, _polling_interval=POLL)
    r = p.result()
    assert r.id and r.name == name
    p.wait()


@check("parse a secret id and a deleted secret's recovery id")
def parse_id(c):
    name = fresh("parse")
    s = c.set_secret(name, "v")
    ident = KeyVaultSecretIdentifier(s.id)
    assert ident.name == name and ident.version == s.properties.version
    assert ident.vault_url == c.vault_url, (ident.vault_url, c.vault_url)
    assert ident.source_id == s.id
    d = delete_wait(c, name)
    rid = KeyVaultSecretIdentifier(d.recovery_id)
    assert rid.name == name and rid.version is None and rid.source_id == d.recovery_id
    assert rid.vault_url == c.vault_url


@check("request body logged with logging_enable, not without")
def logging_body(c):
    handler_records = []

    class Handler(logging.Handler):
        def emit(self, record):
            handler_records.append(record)

    logger = logging.getLogger("azure")
    h = Handler()
    logger.addHandler(h)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        def body_logged():
            for r in handler_records:
                if r.levelname == "DEBUG" and r.funcName == "on_request":
                    for section in r.getMessage().split("\n"):
                        try:
                            if json.loads(section).get("value") == "secret-value":
                                return True
                        except (ValueError, AttributeError):
                            pass
            return False

        on = SecretClient(VAULT_URL, StaticToken(), **client_kwargs(c.api_version, logging_enable=True))
        on.set_secret(fresh("logon"), "secret-value")
        assert body_logged(), "request body was not logged with logging_enable=True"
        handler_records.clear()
        off = SecretClient(VAULT_URL, StaticToken(), **client_kwargs(c.api_version, logging_enable=False))
        off.set_secret(fresh("logoff"), "secret-value")
        assert not body_logged(), "request body was logged with logging_enable=False"
    finally:
        logger.removeHandler(h)
        logger.setLevel(old)


@check("client as a context manager")
def context_manager(c):
    with SecretClient(VAULT_URL, StaticToken(), **client_kwargs(c.api_version)) as cm:
        assert cm.set_secret(fresh("ctx"), "v").value == "v"


# ---- async checks: each takes an aio SecretClient ----

ASYNC_CHECKS = []


def acheck(name):
    def register(fn):
        ASYNC_CHECKS.append((name, fn))
        return fn
    return register


async def aexpect_error(coro, cls=HttpResponseError):
    try:
        await coro
    except cls as e:
        return e
    raise AssertionError("expected %s, got success" % cls.__name__)


@acheck("async: secret CRUD (set with options, get by version, update, delete)")
async def acrud(c):
    name = fresh("acrud")
    expires = datetime(2050, 2, 2, 8, tzinfo=timezone.utc)
    created = await c.set_secret(name, "v", enabled=True, content_type="password", expires_on=expires,
                                 tags={"foo": "created tag"})
    validate_bundle(created, c.vault_url, name, "v")
    same_attributes(created.properties, (await c.get_secret(name)).properties)
    same_attributes(created.properties, (await c.get_secret(name, created.properties.version)).properties)
    await asyncio.sleep(1.1)
    u = await c.update_secret_properties(name, version=created.properties.version, content_type="text/plain",
                                         tags={"foo": "updated tag"}, enabled=False)
    assert (u.content_type, u.tags, u.enabled, u.id) == ("text/plain", {"foo": "updated tag"}, False, created.id)
    assert u.updated_on != created.properties.updated_on
    d = await c.delete_secret(name, _polling_interval=POLL)  # polls until deleted
    assert d.name == name and d.recovery_id
    assert (await c.get_deleted_secret(name)).name == name


@acheck("async: list secrets, versions and deleted, by page")
async def alist(c):
    name = fresh("alist")
    ids = set()
    for _ in range(LIST_SIZE):
        ids.add((await c.set_secret(name, "v")).id)
    seen = set()
    async for page in c.list_properties_of_secret_versions(name, max_page_size=LIST_SIZE - 1).by_page():
        items = [p async for p in page]
        assert len(items) <= LIST_SIZE - 1
        seen |= {p.id for p in items}
    assert seen == ids
    names = [n.name async for n in c.list_properties_of_secrets(max_page_size=2)]
    assert name in names
    await c.delete_secret(name, _polling_interval=POLL)
    assert name in [d.name async for d in c.list_deleted_secrets(max_page_size=2)]
    assert [p async for p in c.list_properties_of_secret_versions(fresh("anoversions"))] == []


@acheck("async: recover and purge")
async def arecover(c):
    name = fresh("arec")
    await c.set_secret(name, "v")
    await c.delete_secret(name, _polling_interval=POLL)
    r = await c.recover_deleted_secret(name, _polling_interval=POLL)  # polls until recovered
    assert r.name == name
    assert (await c.get_secret(name)).value == "v"
    await c.delete_secret(name, _polling_interval=POLL)
    await c.purge_deleted_secret(name)
    for _ in range(100):
        try:
            await c.get_deleted_secret(name)
        except ResourceNotFoundError:
            break
        await asyncio.sleep(POLL)
    else:
        raise AssertionError("purged secret still in /deletedsecrets")


@acheck("async: backup and restore (retry while 409), malformed backup")
async def abackup(c):
    name = fresh("abak")
    created = await c.set_secret(name, "v")
    backup = await c.backup_secret(name)
    await c.delete_secret(name, _polling_interval=POLL)
    await c.purge_deleted_secret(name)
    for i in range(100):
        try:
            restored = await c.restore_secret_backup(backup)
            break
        except ResourceExistsError:
            if i == 99:
                raise
            await asyncio.sleep(POLL)
    same_attributes(created.properties, restored)
    e = await aexpect_error(c.restore_secret_backup(bytes(4728)))
    assert e.status_code == 400 and error_code(e) == "Malformed backup blob", (e.status_code, error_code(e))


@acheck("async: missing secret errors (get, delete, recover, backup, purge: 404 SecretNotFound)")
async def amissing(c):
    for coro in (c.get_secret(fresh("am")), c.delete_secret(fresh("am")), c.recover_deleted_secret(fresh("am")),
                 c.backup_secret(fresh("am")), c.purge_deleted_secret(fresh("am")), c.get_deleted_secret(fresh("am"))):
        assert_not_found(await aexpect_error(coro))


async def run_async(report, api_version):
    try:
        from azure.keyvault.secrets.aio import SecretClient as AsyncSecretClient
        import aiohttp  # noqa: F401 - the async transport
    except ImportError as e:
        for name, _ in ASYNC_CHECKS:
            report("SKIP", "py-async", name, time.monotonic(), "no async transport (%s)" % e)
        return
    async with AsyncSecretClient(VAULT_URL, AsyncStaticToken(), **client_kwargs(api_version)) as c:
        tag = "%s@%s" % ("py-async-verify" if ALIAS else "py-async", c.api_version)
        for name, fn in ASYNC_CHECKS:
            t0 = time.monotonic()
            try:
                await fn(c)
                report("PASS", tag, name, t0)
            except Exception as e:  # noqa: BLE001 - report and go on
                report("FAIL", tag, name, t0, why(e))


def why(e):
    text = "%s: %s" % (type(e).__name__, e) if str(e) else type(e).__name__
    if isinstance(e, AssertionError) and not str(e):
        tb = traceback.extract_tb(e.__traceback__)[-1]
        text = "assertion at check.py:%d: %s" % (tb.lineno, tb.line)
    return " ".join(text.split())[:400]


def main():
    failed = [0]

    def report(status, tag, name, t0, reason=""):
        if status == "FAIL":
            failed[0] += 1
        cols = [status, tag, name, str(int((time.monotonic() - t0) * 1000))]
        if reason:
            cols.append(" ".join(reason.split())[:400])
        print("\t".join(cols), flush=True)

    versions = os.environ.get("SDKCOMPAT_API_VERSIONS", "").split() or [None]
    for v in versions:
        c = make_client(v)
        tag = "%s@%s" % ("py-verify" if ALIAS else "py", c.api_version)
        for name, fn in CHECKS:
            t0 = time.monotonic()
            try:
                fn(c)
                report("PASS", tag, name, t0)
            except Exception as e:  # noqa: BLE001 - report and go on
                report("FAIL", tag, name, t0, why(e))
        asyncio.run(run_async(report, v))
    return 1 if failed[0] else 0


if __name__ == "__main__":
    sys.exit(main())
