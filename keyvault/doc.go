// Package keyvault is the portable secrets API of amlsecrets: Go's version of
// azureml-core's Keyvault class (set_secret(s), get_secret(s), list_secrets,
// delete_secret(s)) over any vault that implements the small Store
// interface.
//
// A Keyvault is built over a Store: keyvault/azurevault for Azure Key Vault,
// keyvault/memvault for tests, or your own. workspace.DefaultKeyvault and
// run.GetContext build one for you.
//
//	kv := keyvault.New(memvault.New(), nil)
//	_, err := kv.SetSecret(ctx, "db-password", value, nil)
//	values, err := kv.GetSecrets(ctx, []string{"db-user", "db-password"})
//
// The Keyvault does the shared work once for every store: it checks names
// (ValidateName) and value sizes before any request, fetches and sets
// batches concurrently with a bound (Options.Concurrency), classifies and
// wraps errors, and never prints a value. Stores stay simple; optional
// abilities (versions, properties, recover, purge) are extra interfaces found
// by type assertion, as io/fs does.
//
// # Values
//
// Secret.Value is a Value: fmt (every verb), encoding/json, text marshalling
// and log/slog show [REDACTED]. Value.Reveal is the one explicit way to read
// the plaintext. GetSecret and GetSecrets return plain strings, as
// azureml-core does: do not print them.
//
// # Names
//
// Key Vault names are 1-127 characters of 0-9, a-z, A-Z and '-', and
// case-insensitive. A name with '_' (common in code ported from azureml) is
// refused before any request with a suggestion of the '-' spelling;
// NameFromEnv and EnvFromName map between secret names and environment
// variable names.
//
// # The request path
//
// New composes the policies as layers over the store, each a Store of its
// own with one job, so that each can be tested alone and passes the
// conformance suite: the cache with its request sharing (CacheStore) over
// the retries and rate limit (RetryStore) over the store. The Keyvault
// itself keeps names, values, batches and error wrapping. azurevault's
// Store adds the last piece, its warm-up gate, where the client it protects
// lives.
//
// # Caching
//
// A Keyvault keeps the latest version of each secret it reads in memory, for
// DefaultCacheTTL (5 min) by default. Each entry's lifetime is shortened at
// random by up to 10% (DefaultCacheJitter), so nodes that read together do
// not refresh together. A cache hit makes no request and allocates nothing.
// Concurrent reads of one name, in any letter case, share a single request,
// and each reader waits no longer than its own context. When a refresh is
// throttled (ErrThrottled) or the vault is unavailable (ErrUnavailable), the
// last good value is served and CacheOptions.OnStale is called; the refresh
// is tried again no sooner than the vault's Retry-After, and at least 10 s
// later. ErrNotFound and ErrPermission drop the entry. SetSecret(s) store the
// new value in the cache; deletes, property updates, recover and purge drop
// it. Invalidate and Refresh control the cache by hand; CacheOptions bound
// its size (DefaultCacheMaxEntries) or turn it off. Cached values are never
// shown by fmt, logs or String. An entry never outlives its secret's
// Expires; an expired secret is served as Key Vault serves it, from the
// vault (see CacheOptions).
//
// # Secrets that change
//
// Watch yields a secret's latest version at once and again whenever the
// vault holds a new one (or its enabled state or bounds change), polling
// every WatchOptions.Interval (DefaultWatchInterval, one minute, jittered;
// as short as MinWatchInterval, 100 ms). All the watches of one name on a
// Keyvault share one poll, which goes through the cache (refreshing it) and
// its request sharing. A failed poll yields its error and the watch goes on;
// it ends with its context or its loop, leaving no goroutine behind. Watch
// waits on real timers: test it inside testing/synctest.
//
// # Retries and rate limits
//
// Exactly one layer retries: RetryStore (azurevault turns azcore's retries
// off). It classifies before retrying. ErrThrottled (429) is retried for
// every operation, after its Retry-After plus up to 5% jitter (one wait is
// capped at RetryOptions.MaxDelay, DefaultRetryMaxDelay, 60 s), or without
// one after an exponential backoff with full jitter from
// DefaultRetryBaseDelay (250 ms), capped at DefaultRetryMaxBackoff (16 s).
// ErrUnavailable (5xx, a dropped connection) is retried for reads and
// listings only, since the vault may have acted on a write, and never when
// IsRetryable says retrying cannot help (a refused connection to a loopback
// emulator fails at once with what to do). Permanent answers (400, 401/403,
// 404, 409, ErrBadResponse: a challenge for another resource or a body that
// is not a secret) cost exactly one request. A call gives up, returning an
// error that still wraps the sentinel, when the next wait would pass the
// context's deadline (at once, not at the deadline), when RetryOptions.Budget
// (DefaultRetryBudget, 2 min) is spent, or after MaxAttempts; it returns the
// context's own error when the context ends first. RetryOptions.OnRetry is
// called for every retry, so the requests a vault sees for a call are the
// retries it reported plus one. Options.RateLimiter (golang.org/x/time/rate)
// caps a process's request rate and can be shared between Keyvaults.
//
// # Panics
//
// A panic in a Store, a credential or a callback reaches the goroutine that
// called the Keyvault, batch calls included, where its recover can see it;
// other goroutines that were sharing the panicking request get an error.
//
// # Errors
//
// Errors wrap the sentinels ErrNotFound, ErrInvalidName, ErrInvalidValue,
// ErrPermission, ErrDisabled, ErrThrottled, ErrConflict, ErrUnavailable and
// ErrBadResponse;
// match them with errors.Is. Errors from Azure keep the *azcore.ResponseError
// reachable with errors.As. Context errors come back unchanged. Messages are
// short and name the secret, never its value:
//
//	get secret db-password: not found (404 SecretNotFound)
//
// Batch calls return a *BatchError naming each failed name and why; what
// succeeded stays done. GetSecrets returns every value it found together
// with that error, and a missing name is never reported as "".
//
// # Testing
//
// Use memvault for unit tests and keyvaulttest.NewServer for tests through
// the real Azure SDK against an in-process Key Vault emulator. A Store of
// your own can be checked with keyvaulttest.RunConformance, the suite
// memvault and azurevault both pass.
package keyvault
