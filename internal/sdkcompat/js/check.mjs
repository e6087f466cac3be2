// Runs the operations that @azure/keyvault-secrets' own public test specs
// exercise, against a running amlsecrets emulator, and prints one line per
// operation, tab-separated: STATUS (PASS, FAIL or SKIP), SDK@VERSION,
// OPERATION, milliseconds and, for FAIL and SKIP, why. Exit status 1 if any failed.
//
// Environment:
//   AMLSECRETS_KEYVAULT_URL  the emulator's vault URL (https://127.0.0.1:PORT/)
//   NODE_EXTRA_CA_CERTS      the emulator's CA file (amlsecrets serve --ca-out), so TLS is verified
//   SDKCOMPAT_VAULT_ALIAS    NAME.vault.azure.net: use that host name (resolved to 127.0.0.1 only)
//                            with challenge-resource verification on
//   SDKCOMPAT_SLOW_KEYVAULT_URL  a second emulator started with --latency 50ms, for the
//                            request-timeout checks (skipped without it)
//   SDKCOMPAT_PROPAGATION_MS the emulator's --propagation-delay in ms (default 100, serve's default)
//   SDKCOMPAT_SERVICE_VERSIONS  space-separated serviceVersion values to run the whole set under
//                            (default: the SDK's default version only)
//
// The scripts here are written for this project; they perform the same
// operations and assertions as the SDK's specs, not their code.

import assert from "node:assert/strict";
import { SecretClient } from "@azure/keyvault-secrets";

const loopbackUrl = process.env.AMLSECRETS_KEYVAULT_URL;
if (!loopbackUrl || !/^https:\/\/(127\.0\.0\.1|\[::1\]|localhost)[:/]/.test(loopbackUrl)) {
  console.error("check.mjs: set AMLSECRETS_KEYVAULT_URL to a loopback emulator URL (amlsecrets serve prints it)");
  process.exit(2);
}

// With SDKCOMPAT_VAULT_ALIAS=NAME.vault.azure.net the client uses that host
// name, resolved here to 127.0.0.1 (and no other name is resolved at all), with
// challenge-resource verification on: exactly a real vault's client setup.
const alias = process.env.SDKCOMPAT_VAULT_ALIAS;
let vaultUrl = loopbackUrl;
if (alias) {
  if (!/^[a-z0-9-]+\.vault\.azure\.net$/.test(alias)) {
    console.error("check.mjs: SDKCOMPAT_VAULT_ALIAS must be NAME.vault.azure.net");
    process.exit(2);
  }
  const dns = (await import("node:dns")).default;
  const only = (host, options, callback) => {
    const cb = typeof options === "function" ? options : callback;
    const opts = typeof options === "object" && options ? options : {};
    if (host !== alias) {
      const err = Object.assign(new Error(`sdkcompat resolves only ${alias}, not ${host}`), { code: "ENOTFOUND" });
      return process.nextTick(cb, err);
    }
    if (opts.all) return process.nextTick(cb, null, [{ address: "127.0.0.1", family: 4 }]);
    process.nextTick(cb, null, "127.0.0.1", 4);
  };
  dns.lookup = only;
  vaultUrl = loopbackUrl.replace(/^https:\/\/[^/:]+/, `https://${alias}`);
}
if (!process.env.NODE_EXTRA_CA_CERTS) {
  console.error("check.mjs: set NODE_EXTRA_CA_CERTS to the emulator's CA file (amlsecrets serve --ca-out FILE)");
  process.exit(2);
}

// A static bearer token: the emulator accepts any token unless configured otherwise.
const credential = {
  async getToken() {
    return { token: "sdkcompat-static-token", expiresOnTimestamp: Date.now() + 3600_000 };
  },
};

// The request-timeout checks need a server slower than 1 ms (the specs skip
// them in playback, where answers come too fast for the timer): the driver
// starts a second emulator with --latency and names it here.
const slowUrl = process.env.SDKCOMPAT_SLOW_KEYVAULT_URL;
let slowClient;
class Skip extends Error {}
function slow() {
  if (!slowUrl) throw new Skip("SDKCOMPAT_SLOW_KEYVAULT_URL (an emulator started with --latency) is not set");
  return slowClient;
}

// The emulator's propagation delay (serve's default); the propagation checks
// fail only when a delete or recover shows sooner than this after it was sent.
const propagationMs = Number(process.env.SDKCOMPAT_PROPAGATION_MS || 100);

// Poll quickly (the specs' testPollerProperties do the same); the emulator's
// default propagation delay still makes every poller wait at least one round.
const poll = { intervalInMs: 50 };
const runId = Date.now().toString(36);
let seq = 0;
const fresh = (what) => `js-${what}-${runId}-${++seq}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function expectError(promise, check) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, "expected an error, got success");
  check(err);
  return err;
}
const notFound = (e) => {
  assert.equal(e.statusCode, 404, `status ${e.statusCode} (${e.message})`);
  assert.equal(e.code, "SecretNotFound", `code ${e.code}`);
};
const aborted = (e) => assert.equal(e.name, "AbortError", `${e.name}: ${e.message}`);

async function deleteAndWait(client, name) {
  const p = await client.beginDeleteSecret(name, poll);
  return p.pollUntilDone();
}
async function flush(client, name) {
  await deleteAndWait(client, name);
  await client.purgeDeletedSecret(name);
}

// Each check is [name, async (client) => void]; names follow the specs' titles.
const checks = [
  // CRUD.spec
  ["set a secret", async (c) => {
    const n = fresh("set");
    const s = await c.setSecret(n, "SECRET_VALUE");
    assert.equal(s.name, n);
    assert.equal(s.value, "SECRET_VALUE");
    assert.ok(s.properties.version && s.properties.createdOn instanceof Date);
  }],
  ["abort a request (aborted signal)", async (c) => {
    const ac = new AbortController();
    ac.abort();
    await expectError(c.getSecret(fresh("abort"), { abortSignal: ac.signal }), (e) =>
      assert.match(e.message, /aborted/i));
  }],
  ["set with an empty name is refused", async (c) => {
    await expectError(c.setSecret("", "v"), () => {});
  }],
  ["set an empty value", async (c) => {
    const n = fresh("empty");
    const s = await c.setSecret(n, "");
    assert.equal(s.value, "");
    assert.equal((await c.getSecret(n)).value, "");
  }],
  ["set with attributes (expiresOn)", async (c) => {
    const n = fresh("attrs");
    const exp = new Date("2027-01-01T00:00:00Z");
    await c.setSecret(n, "v", { expiresOn: exp });
    const got = await c.getSecret(n);
    assert.equal(got.properties.expiresOn?.getTime(), exp.getTime());
  }],
  ["update properties of the latest version (expiresOn)", async (c) => {
    const n = fresh("upd");
    const exp = new Date("2027-01-01T00:00:00Z");
    await c.setSecret(n, "v");
    await c.updateSecretProperties(n, "", { expiresOn: exp });
    assert.equal((await c.getSecret(n)).properties.expiresOn?.getTime(), exp.getTime());
  }],
  ["update a disabled secret", async (c) => {
    const n = fresh("upddis");
    const exp = new Date("2027-01-01T00:00:00Z");
    await c.setSecret(n, "v", { enabled: false });
    const p = await c.updateSecretProperties(n, "", { expiresOn: exp });
    assert.equal(p.expiresOn?.getTime(), exp.getTime());
    assert.equal(p.enabled, false);
  }],
  ["update tags, contentType, enabled, notBefore of a version", async (c) => {
    const n = fresh("updall");
    const s = await c.setSecret(n, "v", { tags: { a: "1" }, contentType: "text/plain" });
    const nbf = new Date("2020-01-01T00:00:00Z");
    // (Before 2038: the SDK sends dates as 32-bit Unix seconds, `(ms / 1000) | 0`.)
    const exp = new Date("2030-01-02T08:00:00Z");
    const p = await c.updateSecretProperties(n, s.properties.version, {
      tags: { b: "2" }, contentType: "application/json", enabled: false, notBefore: nbf, expiresOn: exp,
    });
    assert.deepEqual(p.tags, { b: "2" });
    assert.equal(p.contentType, "application/json");
    assert.equal(p.enabled, false);
    assert.equal(p.notBefore?.getTime(), nbf.getTime());
    assert.equal(p.expiresOn?.getTime(), exp.getTime());
    assert.equal(p.id, s.properties.id);
    const again = await c.updateSecretProperties(n, s.properties.version, { enabled: true });
    assert.equal(again.enabled, true);
    assert.deepEqual(again.tags, { b: "2" }, "a PATCH without tags keeps them");
    assert.equal((await c.getSecret(n)).value, "v");
  }],
  ["get the latest version", async (c) => {
    const n = fresh("get");
    await c.setSecret(n, "one");
    await c.setSecret(n, "two");
    const s = await c.getSecret(n);
    assert.equal(s.name, n);
    assert.equal(s.value, "two");
  }],
  ["get a version by id", async (c) => {
    const n = fresh("getv");
    const one = await c.setSecret(n, "one");
    await c.setSecret(n, "two");
    const s = await c.getSecret(n, { version: one.properties.version });
    assert.equal(s.value, "one");
    assert.equal(s.properties.version, one.properties.version);
  }],
  ["get a disabled secret is refused", async (c) => {
    const n = fresh("dis");
    await c.setSecret(n, "v", { enabled: false });
    await expectError(c.getSecret(n), (e) => {
      assert.equal(e.statusCode, 403);
      assert.match(e.message, /not allowed on a disabled secret/);
    });
  }],
  ["get a missing secret: 404 SecretNotFound", async (c) => {
    await expectError(c.getSecret(fresh("missing")), notFound);
  }],
  ["get a missing version: 404 SecretNotFound", async (c) => {
    const n = fresh("missingv");
    await c.setSecret(n, "v");
    await expectError(c.getSecret(n, { version: "0123456789abcdef0123456789abcdef" }), notFound);
  }],
  ["delete a secret (poller result, pollUntilDone, then 404)", async (c) => {
    const n = fresh("del");
    await c.setSecret(n, "v");
    const p = await c.beginDeleteSecret(n, poll);
    const first = p.getResult();
    assert.equal(typeof first.recoveryId, "string");
    assert.ok(first.deletedOn instanceof Date && first.scheduledPurgeDate instanceof Date);
    assert.equal(typeof first.properties.recoveryId, "string");
    const done = await p.pollUntilDone();
    assert.equal(done.name, n);
    assert.ok(done.deletedOn instanceof Date && done.scheduledPurgeDate instanceof Date);
    await expectError(c.getSecret(n), notFound);
  }],
  ["delete a missing secret: 404 SecretNotFound", async (c) => {
    await expectError(c.beginDeleteSecret(fresh("delmissing"), poll), notFound);
  }],
  ["get a deleted secret", async (c) => {
    const n = fresh("getdel");
    await c.setSecret(n, "RSA");
    const p = await c.beginDeleteSecret(n, poll);
    assert.equal(p.getResult().name, n);
    await p.pollUntilDone();
    const d = await c.getDeletedSecret(n);
    assert.equal(d.name, n);
    assert.ok(d.recoveryId && d.deletedOn instanceof Date);
  }],
  ["get a missing deleted secret (delete poller): 404 SecretNotFound", async (c) => {
    await expectError((async () => (await c.beginDeleteSecret(fresh("getdelmissing"), poll)).pollUntilDone())(), notFound);
  }],
  ["propagation: a deleted secret is not in /deletedsecrets at once", async (c) => {
    const n = fresh("prop");
    await c.setSecret(n, "v");
    const t0 = Date.now();
    // beginDeleteSecret sends the DELETE and one GET /deletedsecrets/NAME.
    const p = await c.beginDeleteSecret(n, { intervalInMs: 60_000 });
    let err;
    try {
      await c.getDeletedSecret(n);
    } catch (e) {
      err = e;
    }
    // Seen deleted sooner than the emulator's delay after the DELETE was sent:
    // the emulator did not delay. Later (a loaded machine) proves nothing.
    const seen = p.getOperationState().isCompleted || !err;
    if (seen) assert.ok(Date.now() - t0 >= propagationMs, `deleted secret visible within ${Date.now() - t0} ms: the emulator did not delay`);
    else notFound(err);
    p.stopPolling();
  }],
  ["operation sequence of the tracing spec (set, get, update by version, backup, delete, purge)", async (c) => {
    const n = fresh("trace");
    const s = await c.setSecret(n, "someValue");
    await c.getSecret(n);
    await c.updateSecretProperties(n, s.properties.version);
    await c.backupSecret(n);
    await deleteAndWait(c, n);
    await c.purgeDeletedSecret(n);
  }],
  // list.spec
  ["list secret properties (no values)", async (c) => {
    const base = fresh("list");
    const names = [`${base}0`, `${base}1`];
    for (const n of names) await c.setSecret(n, "RSA");
    let found = 0;
    for await (const p of c.listPropertiesOfSecrets()) {
      if (!names.includes(p.name)) continue;
      assert.equal(p.value, undefined);
      found++;
    }
    assert.equal(found, 2);
  }],
  ["list deleted secrets", async (c) => {
    const base = fresh("listdel");
    const names = [`${base}0`, `${base}1`];
    for (const n of names) await c.setSecret(n, "RSA");
    for (const n of names) await deleteAndWait(c, n);
    let found = 0;
    for await (const d of c.listDeletedSecrets()) {
      if (!names.includes(d.name)) continue;
      assert.ok(d.recoveryId && d.deletedOn instanceof Date && d.scheduledPurgeDate instanceof Date);
      found++;
    }
    assert.equal(found, 2);
  }],
  ["list all versions of a secret (and get each)", async (c) => {
    const n = fresh("vers");
    const want = [];
    for (const v of ["SECRET_VALUE0", "SECRET_VALUE1", "SECRET_VALUE2"]) {
      const s = await c.setSecret(n, v);
      want.push(`${s.properties.version}=${v}`);
    }
    const got = [];
    for await (const p of c.listPropertiesOfSecretVersions(n)) {
      assert.equal(p.name, n);
      got.push(`${p.version}=${(await c.getSecret(n, { version: p.version })).value}`);
    }
    assert.deepEqual(got.sort(), want.sort());
  }],
  ["list versions of a missing secret: empty", async (c) => {
    let count = 0;
    for await (const _ of c.listPropertiesOfSecretVersions(fresh("noversions"))) count++;
    assert.equal(count, 0);
  }],
  ["list secrets by page (maxPageSize 1)", async (c) => {
    // (The SDK's pages do not expose a continuation token to resume from.)
    const base = fresh("page");
    const names = [`${base}0`, `${base}1`];
    for (const n of names) await c.setSecret(n, "RSA");
    let found = 0;
    let pages = 0;
    for await (const page of c.listPropertiesOfSecrets().byPage({ maxPageSize: 1 })) {
      assert.ok(page.length <= 1, `page of ${page.length}`);
      pages++;
      found += page.filter((p) => names.includes(p.name)).length;
    }
    assert.equal(found, 2);
    assert.ok(pages >= 2, `${pages} pages`);
  }],
  ["list deleted secrets by page (maxPageSize 1)", async (c) => {
    const base = fresh("pagedel");
    const names = [`${base}0`, `${base}1`];
    for (const n of names) await c.setSecret(n, "RSA");
    for (const n of names) await deleteAndWait(c, n);
    let found = 0;
    for await (const page of c.listDeletedSecrets().byPage({ maxPageSize: 1 })) {
      assert.ok(page.length <= 1, `page of ${page.length}`);
      found += page.filter((d) => names.includes(d.name)).length;
    }
    assert.equal(found, 2);
  }],
  ["list versions by page (maxPageSize 1)", async (c) => {
    const n = fresh("pagevers");
    const want = [];
    for (const v of ["SECRET_VALUE0", "SECRET_VALUE1", "SECRET_VALUE2"]) {
      const s = await c.setSecret(n, v);
      want.push(`${s.properties.version}=${v}`);
    }
    const got = [];
    for await (const page of c.listPropertiesOfSecretVersions(n).byPage({ maxPageSize: 1 })) {
      assert.ok(page.length <= 1, `page of ${page.length}`);
      for (const p of page) got.push(`${p.version}=${(await c.getSecret(n, { version: p.version })).value}`);
    }
    assert.deepEqual(got.sort(), want.sort());
  }],
  ["list versions of a missing secret by page: empty", async (c) => {
    let count = 0;
    for await (const page of c.listPropertiesOfSecretVersions(fresh("nopages")).byPage({ maxPageSize: 1 })) count += page.length;
    assert.equal(count, 0);
  }],
  ["samples: list by page (default and maxPageSize 2), get each enabled secret; deleted and versions by page", async (c) => {
    const base = fresh("sample");
    await c.setSecret(`${base}a`, "ABC123");
    await c.setSecret(`${base}b`, "XYZ789");
    await c.setSecret(`${base}b`, "XYZ790");
    await c.setSecret(`${base}off`, "v", { enabled: false });
    await deleteAndWait(c, `${base}a`);
    // Only this run's secrets are read back: other runs delete theirs meanwhile.
    const mine = (name) => name.startsWith(base);
    for (const settings of [{ maxPageSize: 2 }, undefined]) {
      const got = {};
      for await (const page of c.listPropertiesOfSecrets().byPage(settings)) {
        if (settings) assert.ok(page.length <= 2, `page of ${page.length}`);
        for (const p of page) if (mine(p.name) && p.enabled) got[p.name] = (await c.getSecret(p.name)).value;
      }
      assert.deepEqual(got, { [`${base}b`]: "XYZ790" });
    }
    const deleted = [];
    for await (const page of c.listDeletedSecrets().byPage()) deleted.push(...page.filter((d) => mine(d.name)).map((d) => d.name));
    assert.deepEqual(deleted, [`${base}a`]);
    const values = [];
    for await (const page of c.listPropertiesOfSecretVersions(`${base}b`).byPage()) {
      for (const p of page) if (p.enabled) values.push((await c.getSecret(p.name, { version: p.version })).value);
    }
    assert.deepEqual(values.sort(), ["XYZ789", "XYZ790"]);
  }],
  // lro.delete.spec
  ["delete poller: wait until deleted (operation state)", async (c) => {
    const n = fresh("lrodel");
    await c.setSecret(n, "value");
    const p = await c.beginDeleteSecret(n, poll);
    assert.ok(p.getOperationState().isStarted);
    assert.equal(p.getOperationState().result.name, n);
    const d = await p.pollUntilDone();
    assert.equal(d.name, n);
    assert.ok(p.getOperationState().isCompleted);
    assert.equal(p.getOperationState().result.name, n);
  }],
  ["delete poller: resume from a stopped poller", async (c) => {
    const n = fresh("lrodelresume");
    await c.setSecret(n, "value");
    const t0 = Date.now();
    const p = await c.beginDeleteSecret(n, poll);
    assert.ok(p.getOperationState().isStarted);
    const stopped = p.pollUntilDone().then(() => "done", (e) => e.name);
    p.stopPolling();
    assert.ok(p.isStopped());
    // beginDeleteSecret polled once: within the emulator's delay that poll must not see it deleted.
    const early = p.getOperationState().isCompleted;
    assert.ok(!early || Date.now() - t0 >= propagationMs, "delete completed at the first poll: no propagation delay");
    const resumed = await c.beginDeleteSecret(n, { resumeFrom: p.toString(), ...poll });
    assert.ok(resumed.getOperationState().isStarted);
    const d = await resumed.pollUntilDone();
    assert.equal(d.name, n);
    assert.ok(resumed.getOperationState().isCompleted);
    if (!early) assert.equal(await stopped, "PollerStoppedError");
  }],
  ["delete with a 1 ms request timeout aborts", async (_, c = slow()) => {
    const n = fresh("deltimeout");
    await c.setSecret(n, "value");
    await expectError(c.beginDeleteSecret(n, { requestOptions: { timeout: 1 } }), aborted);
  }],
  // lro.recover.spec
  ["recover poller: wait until recovered (operation state)", async (c) => {
    const n = fresh("lrorec");
    await c.setSecret(n, "value");
    await deleteAndWait(c, n);
    const p = await c.beginRecoverDeletedSecret(n, poll);
    assert.ok(p.getOperationState().isStarted);
    assert.equal(p.getOperationState().result.name, n);
    const r = await p.pollUntilDone();
    assert.equal(r.name, n);
    assert.ok(p.getOperationState().isCompleted);
    assert.equal((await c.getSecret(n)).value, "value");
  }],
  ["recover poller: resume from a stopped poller", async (c) => {
    const n = fresh("lrorecresume");
    await c.setSecret(n, "value");
    await deleteAndWait(c, n);
    const t0 = Date.now();
    const p = await c.beginRecoverDeletedSecret(n, poll);
    assert.ok(p.getOperationState().isStarted);
    const stopped = p.pollUntilDone().then(() => "done", (e) => e.name);
    await p.poll(); // one poll, so the state has data
    p.stopPolling();
    assert.ok(p.isStopped());
    // Within the emulator's delay the recover cannot have shown yet.
    const early = p.getOperationState().isCompleted;
    assert.ok(!early || Date.now() - t0 >= propagationMs, "recover completed at the first poll: no propagation delay");
    const resumed = await c.beginRecoverDeletedSecret(n, { resumeFrom: p.toString(), ...poll });
    assert.ok(resumed.getOperationState().isStarted);
    const r = await resumed.pollUntilDone();
    assert.equal(r.name, n);
    assert.ok(resumed.getOperationState().isCompleted);
    if (!early) assert.equal(await stopped, "PollerStoppedError");
  }],
  ["recover with a 1 ms request timeout aborts", async (_, c = slow()) => {
    const n = fresh("rectimeout");
    await c.setSecret(n, "value");
    await deleteAndWait(c, n);
    await expectError(c.beginRecoverDeletedSecret(n, { requestOptions: { timeout: 1 }, ...poll }), aborted);
  }],
  // recoverBackupRestore.spec
  ["recover a deleted secret", async (c) => {
    const n = fresh("recover");
    await c.setSecret(n, "RSA");
    const p = await c.beginDeleteSecret(n, poll);
    assert.equal(p.getResult().name, n);
    await p.pollUntilDone();
    assert.equal((await c.getDeletedSecret(n)).name, n);
    const r = await (await c.beginRecoverDeletedSecret(n, poll)).pollUntilDone();
    assert.equal(r.name, n);
    await flush(c, n);
  }],
  ["recover a missing secret: 404 SecretNotFound", async (c) => {
    await expectError((async () => (await c.beginRecoverDeletedSecret(fresh("recmissing"), poll)).pollUntilDone())(), notFound);
  }],
  ["backup a secret", async (c) => {
    const n = fresh("backup");
    await c.setSecret(n, "RSA");
    const b = await c.backupSecret(n);
    assert.ok(Buffer.isBuffer(b) && b.length > 0, "backup is not a non-empty Buffer");
    await flush(c, n);
  }],
  ["backup a missing secret: 404 SecretNotFound", async (c) => {
    await expectError(c.backupSecret(fresh("backupmissing")), notFound);
  }],
  ["restore a backup after delete and purge (retry while 409)", async (c) => {
    const n = fresh("restore");
    const s = await c.setSecret(n, "RSA", { tags: { t: "1" } });
    const b = await c.backupSecret(n);
    await flush(c, n);
    let restored;
    let conflicts = 0;
    for (let i = 0; ; i++) {
      try {
        restored = await c.restoreSecretBackup(b);
        break;
      } catch (e) {
        if (e.statusCode !== 409 || i >= 100) throw e;
        conflicts++;
        await sleep(50);
      }
    }
    assert.equal(restored.name, n);
    assert.equal(restored.version, s.properties.version);
    assert.deepEqual(restored.tags, { t: "1" });
    assert.equal((await c.getSecret(n)).value, "RSA");
    await flush(c, n);
  }],
  ["restore of malformed backup bytes: 400 Malformed backup blob", async (c) => {
    await expectError(c.restoreSecretBackup(new Uint8Array(4728)), (e) => {
      assert.equal(e.statusCode, 400);
      assert.equal(e.code, "Malformed backup blob");
      assert.equal(e.message, "Backup blob contains invalid or corrupt version.");
    });
  }],
  ["restore with a 1 ms request timeout aborts", async (_, c = slow()) => {
    const n = fresh("restoretimeout");
    await c.setSecret(n, "RSA");
    const b = await c.backupSecret(n);
    await flush(c, n);
    await expectError(c.restoreSecretBackup(b, { requestOptions: { timeout: 1 } }), aborted);
  }],
  ["purge a deleted secret (then 404 in /deletedsecrets, not listed)", async (c) => {
    const n = fresh("purge");
    await c.setSecret(n, "v");
    await deleteAndWait(c, n);
    await c.purgeDeletedSecret(n);
    for (let i = 0; ; i++) {
      try {
        await c.getDeletedSecret(n);
      } catch (e) {
        notFound(e);
        break;
      }
      assert.ok(i < 100, "purged secret still in /deletedsecrets after 5 s");
      await sleep(50);
    }
    for await (const d of c.listDeletedSecrets()) assert.notEqual(d.name, n);
  }],
  ["purge a missing deleted secret: 404 SecretNotFound", async (c) => {
    await expectError(c.purgeDeletedSecret(fresh("purgemissing")), notFound);
  }],
  // contentTypeAndPreviousVersion.spec (2025-07-01 features)
  ["getSecret with outContentType PEM (value or 400/404)", async (c) => {
    const n = fresh("outct");
    await c.setSecret(n, "SECRET_VALUE");
    try {
      assert.equal((await c.getSecret(n, { outContentType: "application/x-pem-file" })).name, n);
    } catch (e) {
      assert.ok(e.statusCode === 400 || e.statusCode === 404, `status ${e.statusCode}`);
    }
    await flush(c, n);
  }],
  ["getSecret with outContentType PEM of a PFX-typed secret (value or 400)", async (c) => {
    const n = fresh("outctpfx");
    await c.setSecret(n, "SECRET_VALUE", { contentType: "application/x-pkcs12" });
    try {
      const s = await c.getSecret(n, { outContentType: "application/x-pem-file" });
      assert.equal(s.name, n);
      assert.notEqual(s.value, undefined);
    } catch (e) {
      assert.equal(e.statusCode, 400);
    }
    await flush(c, n);
  }],
  ["getSecret with outContentType PFX (value or 400)", async (c) => {
    const n = fresh("outctpfx2");
    await c.setSecret(n, "SECRET_VALUE");
    try {
      assert.equal((await c.getSecret(n, { outContentType: "application/x-pkcs12" })).name, n);
    } catch (e) {
      assert.equal(e.statusCode, 400);
    }
    await flush(c, n);
  }],
  ["previousVersion is undefined for a plain secret", async (c) => {
    const n = fresh("prev");
    await c.setSecret(n, "one");
    await c.setSecret(n, "two");
    assert.equal((await c.getSecret(n)).properties.previousVersion, undefined);
    await flush(c, n);
  }],
  // identifier.spec / samples
  ["parse a secret id and a deleted secret's recovery id", async (c) => {
    const { parseKeyVaultSecretIdentifier } = await import("@azure/keyvault-secrets");
    const n = fresh("ident");
    const s = await c.setSecret(n, "v");
    const id = parseKeyVaultSecretIdentifier(s.properties.id);
    assert.equal(id.name, n);
    assert.equal(id.version, s.properties.version);
    assert.equal(id.vaultUrl.replace(/\/$/, ""), vaultUrl.replace(/\/$/, ""));
    assert.equal(id.sourceId, s.properties.id);
    const d = await deleteAndWait(c, n);
    const rid = parseKeyVaultSecretIdentifier(d.recoveryId);
    assert.equal(rid.name, n);
    assert.equal(rid.version, undefined);
    assert.equal(rid.sourceId, d.recoveryId);
  }],
];

const versions = (process.env.SDKCOMPAT_SERVICE_VERSIONS || "").split(/\s+/).filter(Boolean);
// One line per operation: STATUS<TAB>SDK<TAB>OPERATION<TAB>MILLISECONDS[<TAB>WHY].
function report(status, tag, name, t0, why) {
  const cols = [status, tag, name, String(Date.now() - t0)];
  if (why) cols.push(why.replace(/\s+/g, " ").slice(0, 400));
  console.log(cols.join("\t"));
}

let failed = 0;
for (const sv of versions.length ? versions : [undefined]) {
  const client = new SecretClient(vaultUrl, credential, {
    // The challenge names vault.azure.net; a loopback URL needs this, the alias does not.
    disableChallengeResourceVerification: !alias,
    ...(sv ? { serviceVersion: sv } : {}),
  });
  if (slowUrl) slowClient = new SecretClient(slowUrl, credential, { disableChallengeResourceVerification: true, ...(sv ? { serviceVersion: sv } : {}) });
  const tag = `${alias ? "js-verify" : "js"}@${sv || "default"}`;
  for (const [name, fn] of checks) {
    const t0 = Date.now();
    try {
      await fn(client);
      report("PASS", tag, name, t0);
    } catch (e) {
      if (e instanceof Skip) {
        report("SKIP", tag, name, t0, e.message);
        continue;
      }
      failed++;
      report("FAIL", tag, name, t0, String((e && e.message) || e));
    }
  }
}
process.exit(failed ? 1 : 0);
