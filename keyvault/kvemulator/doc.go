// Package kvemulator is an HTTPS emulator of the Azure Key Vault secrets REST
// API that the real Azure SDK clients (Go, Python, JavaScript) talk to
// unchanged. `amlsecrets serve` runs it standalone; tests usually start it
// through keyvaulttest.NewServer. It does not import package testing.
//
// # The emulator
//
// Start listens on a loopback port with a certificate signed by a CA of its
// own. VaultURL is https://NAME.vault.azure.net/; ClientOptions returns a
// Transport that trusts the CA and dials every address to the listener, so
// requests carry the real vault host and the SDK's challenge-resource
// verification stays on, as in production. Credential is a fake credential
// whose tokens the server accepts:
//
//	srv, err := kvemulator.Start(nil)
//	if err != nil {
//		return err
//	}
//	defer srv.Close()
//	client, err := azsecrets.NewClient(srv.VaultURL(), srv.Credential(),
//		&azsecrets.ClientOptions{ClientOptions: srv.ClientOptions()})
//
// The server speaks the protocol as Key Vault does: a request without a valid
// bearer token gets a 401 challenge naming the tenant and the resource
// https://vault.azure.net, answered before the body is read; api-version is
// required and must be one Key Vault publishes (2015-06-01, 2016-10-01, 7.0 to
// 7.6 and their previews, 2025-07-01, 2026-04-01), else 400 BadParameter "The
// specified version (X) is not recognized..."; a POST with an X-HTTP-REQUEST
// header of DELETE, PATCH or PUT is served as that method; names are 1-127 characters of [0-9a-zA-Z-], case-insensitive, and
// keep the case of their first creation; versions are 32 lowercase hex
// characters; times are integer Unix seconds; deletion is soft (recoverable for
// 90 days, until purged); lists page with maxresults (1..25, default 25) and a
// nextLink that carries api-version and a $skiptoken. Errors have Key Vault's
// shape, {"error":{"code":...,"message":...,"innererror":{"code":...}}}: 404
// SecretNotFound, 409 Conflict (innererror ObjectIsDeletedButRecoverable when
// setting a soft-deleted name), 403 Forbidden (innererror SecretDisabled for a
// disabled version), 400 BadParameter (bad name, bad JSON, values over 25 KiB,
// more than 15 tags, a tag name or value over 512 characters, a contentType
// over 255, a missing or unknown api-version, maxresults out of range), 400
// "Malformed backup blob" for a restore it cannot read, 404 NotFound and 405
// MethodNotAllowed for anything else. Error messages never contain a value.
//
// Deleted secrets stay until purged: the server never purges on its own.
// Delete, recover and purge propagate as in Key Vault (Options.PropagationDelay,
// DefaultPropagationDelay): after a delete, /deletedsecrets/NAME answers 404
// and a set of the name 409 ObjectIsBeingDeleted until the delay has passed;
// after a recover, /secrets/NAME answers 404; after a purge, a restore of the
// name answers 409. Clients poll, as the SDKs' delete and recover pollers do.
// Listing the versions of a name that does not exist answers an empty list.
// Backups are opaque to clients, restorable into any Server, and not a stable
// format. ListenURL (https://127.0.0.1:PORT/) reaches the same server directly;
// clients using it must turn challenge-resource verification off, as they must
// against `amlsecrets serve`, which sets AcceptAnyToken.
//
// # Bounds
//
// Every connection and request is bounded, with documented defaults in
// Options: the TLS handshake and headers within DefaultReadHeaderTimeout
// (10s), a whole request within DefaultReadTimeout (30s), an idle keep-alive
// connection closed after DefaultIdleTimeout (30s); a request body over
// DefaultMaxBodyBytes (1 MiB; 4 MiB for a restore) gets 413
// RequestEntityTooLarge, unread when its Content-Length announces it; past
// DefaultMaxConns (1024) open connections the longest-idle one is closed to
// let a new one in.
//
// # Faults
//
// Options and methods on Server make the vault misbehave on demand.
// Faults are applied in this order, and only to requests that passed the
// challenge, so the authentication handshake is never disturbed:
//
//   - Latency (SetLatency) delays every request, challenges included.
//   - ThrottleLimit requests per ThrottleWindow (SetThrottle), in fixed
//     windows; further requests get 429 Throttled with Retry-After (the
//     seconds left in the window, rounded up, or RetryAfter), or none with
//     ThrottleNoRetryAfter. Challenges are not counted.
//   - DropNext(n) closes the connection of the next n requests unanswered,
//     FailNext(n, status) answers them with status, TruncateNext(n) cuts their
//     responses short.
//   - ErrorRate and DropRate fail or drop a fraction of requests, drawn from
//     a generator seeded with Seed, so runs are repeatable.
//
// azcore retries 408, 429, 500, 502, 503, 504 and transport errors three times
// by default; set ClientOptions.Retry.MaxRetries = -1 to see each fault.
//
// Stats counts requests by route (RouteSetSecret, ...) and status, and counts
// challenges, throttled, faulted, dropped and truncated requests;
// TokenRequests counts the fake credential's tokens.
//
// # Testing
//
// Create a server per test and close it with t.Cleanup(srv.Close); Close
// closes the client connections of ClientOptions too, so go.uber.org/goleak
// stays quiet. Inject Options.Now to move throttle windows and
// timestamps without sleeping. Options.StatePath persists the vault to a
// file: a log of JSON lines, each write appended and fsynced (concurrent
// writes share one fsync) before it is applied and acknowledged, compacted
// atomically as it grows.
package kvemulator
