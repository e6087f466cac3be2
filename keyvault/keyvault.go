package keyvault

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/go-azureml/secrets/internal/flight"
)

// DefaultConcurrency is how many requests a batch call (GetSecrets,
// SetSecrets, DeleteSecrets) has in flight at once when Options.Concurrency
// is 0: enough that a typical batch of up to 64 names takes one round trip.
const DefaultConcurrency = 64

// Options configure a Keyvault. A nil *Options means all defaults.
type Options struct {
	// Concurrency bounds the requests a batch call has in flight at once.
	// 0 means DefaultConcurrency; 1 means one at a time.
	Concurrency int
	// Cache configures the in-memory cache of secret values; nil means the
	// defaults (on, DefaultCacheTTL). See CacheOptions.
	Cache *CacheOptions
	// Retry configures retries of throttled and failed requests; nil means
	// the defaults. See RetryOptions.
	Retry *RetryOptions
	// RateLimiter, when set, is waited on before every request to the store
	// (each retry included), so that a process with many goroutines, or many
	// Keyvaults sharing one limiter, stays under the vault's limits instead
	// of being throttled. Nil means no client-side limit.
	RateLimiter *rate.Limiter
	// Clock is the time source of the cache and the retries; nil means the
	// real clock. Tests inject a fake one.
	Clock Clock
}

// Keyvault is the portable API over a Store, shaped like azureml-core's
// Keyvault class: SetSecret(s), GetSecret(s), ListSecrets, DeleteSecret(s).
// It does the shared work once for every store: name and value checks before
// any request, error classification and wrapping, bounded-concurrency
// batches, an in-memory cache of values (see CacheOptions), one request per
// name however many goroutines read it at once, retries of throttled
// requests (see RetryOptions) and an optional rate limit. It is safe for
// concurrent use. Printing it shows the store, never a cached value.
type Keyvault struct {
	store   Store
	opts    Options
	cache   *cache // nil when disabled
	retry   RetryOptions
	limiter *rate.Limiter
	clock   Clock
	sf      singleflight.Group

	warm    atomic.Bool   // the store has answered once (see first)
	warming chan struct{} // holds cold calls to one at a time
}

// New returns a Keyvault over store. opts nil means defaults.
func New(store Store, opts *Options) *Keyvault {
	kv := &Keyvault{store: store, warming: make(chan struct{}, 1)}
	if opts != nil {
		kv.opts = *opts
	}
	if kv.opts.Concurrency <= 0 {
		kv.opts.Concurrency = DefaultConcurrency
	}
	kv.retry = kv.opts.Retry.withDefaults()
	kv.limiter = kv.opts.RateLimiter
	kv.clock = kv.opts.Clock
	if kv.clock == nil {
		kv.clock = realClock{}
	}
	_, real := kv.clock.(realClock)
	kv.cache = newCache(kv.opts.Cache, real)
	return kv
}

// String describes the Keyvault by its store; it never shows a value.
func (kv *Keyvault) String() string {
	if s, ok := kv.store.(fmt.Stringer); ok {
		return "keyvault.Keyvault(" + s.String() + ")"
	}
	return fmt.Sprintf("keyvault.Keyvault(%T)", kv.store)
}

// GoString is String, for %#v.
func (kv *Keyvault) GoString() string { return kv.String() }

// Format writes String for every fmt verb, so that no verb (%+v, %#v
// included) walks into the cache.
func (kv *Keyvault) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(kv.String())) }

// Store returns the Store the Keyvault works over.
func (kv *Keyvault) Store() Store { return kv.store }

// SetSecret stores value as a new version of the named secret and returns the
// new version's properties. The name and the value's size are checked before
// anything is sent.
func (kv *Keyvault) SetSecret(ctx context.Context, name, value string, opts *SetSecretOptions) (Properties, error) {
	const op = "set secret"
	if err := ValidateName(name); err != nil {
		return Properties{}, &Error{Op: op, Name: name, Err: err}
	}
	if err := ValidateValue(value); err != nil {
		return Properties{}, &Error{Op: op, Name: name, Err: err}
	}
	p, err := kv.setOne(ctx, name, value, opts.Clone())
	if err != nil {
		return Properties{}, wrap(ctx, op, name, err)
	}
	return p, nil
}

// setOne stores a value (retrying when throttled) and updates the cache: an
// enabled version with no time bounds becomes the cached value; anything
// else, failures included, drops the entry.
func (kv *Keyvault) setOne(ctx context.Context, name, value string, opts *SetSecretOptions) (Properties, error) {
	var p Properties
	err := kv.do(ctx, name, retryThrottled, func(ctx context.Context) error {
		var err error
		p, err = kv.store.SetSecret(ctx, name, value, opts)
		return err
	})
	if kv.cache != nil {
		key := NameKey(name)
		if err == nil && opts.IsEnabled() && (opts == nil || opts.Expires.IsZero() && opts.NotBefore.IsZero()) {
			kv.cache.set(key, Secret{Properties: p.Clone(), Value: NewValue(value)}, kv.clock.Now())
		} else {
			kv.cache.drop(key)
		}
		kv.sf.Forget(key)
	}
	return p, err
}

// forget drops the cached entry of each name and lets the next read start a
// new request rather than join one begun before.
func (kv *Keyvault) forget(names ...string) {
	if kv.cache == nil {
		return
	}
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = NameKey(n)
		kv.sf.Forget(keys[i])
	}
	kv.cache.drop(keys...)
}

// SetSecrets stores each name/value pair, concurrently with the Keyvault's
// bound. Every name and value is checked first, and if any is bad nothing is
// sent. On partial failure the error is a *BatchError naming each failed name
// and why; the pairs that succeeded stay stored.
func (kv *Keyvault) SetSecrets(ctx context.Context, secrets map[string]string) error {
	const op = "set secrets"
	names := sortedKeys(secrets)
	if err := checkBatch(op, names, secrets); err != nil {
		return err
	}
	return kv.batch(ctx, op, names, func(ctx context.Context, name string) error {
		_, err := kv.setOne(ctx, name, secrets[name], nil)
		return wrap(ctx, "set secret", name, err)
	})
}

// GetSecret returns the value of the latest version of the named secret,
// from the cache when it holds a fresh one (see CacheOptions). A missing
// secret is an error wrapping ErrNotFound, never "".
func (kv *Keyvault) GetSecret(ctx context.Context, name string) (string, error) {
	if c := kv.cache; c != nil {
		if e := c.get(name); e != nil && c.fresh(e, kv.clock) {
			return e.secret.Value.Reveal(), nil
		}
	}
	s, err := kv.getLatest(ctx, name)
	if err != nil {
		return "", err
	}
	return s.Value.Reveal(), nil
}

// GetSecretVersion returns one version of the named secret with its
// properties; version "" means the latest, which goes through the cache as
// GetSecret does. The value stays wrapped in a Value, which never prints its
// plaintext.
func (kv *Keyvault) GetSecretVersion(ctx context.Context, name, version string) (Secret, error) {
	const op = "get secret"
	if version == "" {
		s, err := kv.getLatest(ctx, name)
		if err != nil {
			return Secret{}, err
		}
		s.Properties = s.Properties.Clone()
		return s, nil
	}
	if err := ValidateName(name); err != nil {
		return Secret{}, &Error{Op: op, Name: name, Err: err}
	}
	var s Secret
	err := kv.do(ctx, name, retryReads, func(ctx context.Context) error {
		var err error
		s, err = kv.store.GetSecret(ctx, name, version)
		return err
	})
	if err != nil {
		return Secret{}, wrap(ctx, op, name, err)
	}
	return s, nil
}

// Invalidate drops the named secrets from the cache, or every cached secret
// when no name is given, so that the next read of each asks the store.
func (kv *Keyvault) Invalidate(names ...string) {
	if kv.cache == nil {
		return
	}
	if len(names) == 0 {
		kv.cache.drop()
		return
	}
	kv.forget(names...)
}

// Refresh reads the latest version of the named secret from the store,
// whatever the cache holds, caches it and returns its value. Unlike a read
// of a stale entry, a failed Refresh returns its error and leaves the cache
// as it was.
func (kv *Keyvault) Refresh(ctx context.Context, name string) (string, error) {
	const op = "get secret"
	if err := ValidateName(name); err != nil {
		return "", &Error{Op: op, Name: name, Err: err}
	}
	key := NameKey(name)
	kv.sf.Forget(key)
	s, err := kv.fetchShared(ctx, key, name, retryReads)
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrPermission) {
			kv.forget(name)
		}
		return "", wrap(ctx, op, name, err)
	}
	return s.Value.Reveal(), nil
}

// getLatest returns the latest version of name: from the cache when fresh,
// else from the store through fetchShared; a stale entry is served when the
// refresh is throttled or the vault is unavailable.
func (kv *Keyvault) getLatest(ctx context.Context, name string) (Secret, error) {
	const op = "get secret"
	if err := ValidateName(name); err != nil {
		return Secret{}, &Error{Op: op, Name: name, Err: err}
	}
	c := kv.cache
	var old *cacheEntry
	if c != nil {
		old = c.get(name)
		if old != nil && c.fresh(old, kv.clock) {
			return old.secret, nil
		}
	}
	key := NameKey(name)
	mode := retryReads
	if old != nil {
		// A stale value is at hand: serve it at once if the vault is
		// throttling rather than keep this caller waiting on retries.
		mode = retryNone
	}
	s, err := kv.fetchShared(ctx, key, name, mode)
	if err == nil {
		return s, nil
	}
	if c != nil {
		switch {
		case old != nil && serveStale(err) && ctx.Err() == nil:
			wait := max(retryAfterOf(err), staleRecheck)
			now := kv.clock.Now()
			c.postpone(key, old, now, now.Add(wait))
			if c.onStale != nil {
				c.onStale(name, wrap(ctx, op, name, err))
			}
			return old.secret, nil
		case errors.Is(err, ErrNotFound) || errors.Is(err, ErrPermission):
			c.drop(key)
		}
	}
	return Secret{}, wrap(ctx, op, name, err)
}

// fetchShared reads the latest version of name from the store, sharing one
// request among all the goroutines that ask for the same key at once. A
// caller that joined a request whose starter gave up (its context ended)
// starts another rather than fail with someone else's context error.
func (kv *Keyvault) fetchShared(ctx context.Context, key, name string, mode retryMode) (Secret, error) {
	return flight.Do(ctx, &kv.sf, key, func() (Secret, error) { return kv.fetch(ctx, key, name, mode) })
}

func (kv *Keyvault) fetch(ctx context.Context, key, name string, mode retryMode) (Secret, error) {
	var writes uint64
	if kv.cache != nil {
		writes = kv.cache.writes.Load()
	}
	var s Secret
	err := kv.do(ctx, name, mode, func(ctx context.Context) error {
		var err error
		s, err = kv.store.GetSecret(ctx, name, "")
		return err
	})
	if err != nil {
		return Secret{}, err
	}
	if kv.cache != nil {
		kv.cache.put(key, s, kv.clock.Now(), writes)
	}
	return s, nil
}

func isContextError(err error) bool { return flight.IsContextError(err) }

// GetSecrets returns the values of the named secrets, fetched concurrently
// with the Keyvault's bound; a name given twice (in any case) is fetched
// once. The map holds every value found, keyed by the names as given. When
// some names are missing or fail, the error is a *BatchError that names each
// of them; errors.Is(err, ErrNotFound) holds when any is missing. Unlike
// azureml-core, a missing name is never reported as an empty value.
func (kv *Keyvault) GetSecrets(ctx context.Context, names []string) (map[string]string, error) {
	const op = "get secrets"
	out := make(map[string]string, len(names))
	if len(names) == 0 {
		return out, nil
	}
	bad := map[string]error{}
	var keys []string
	byKey := map[string][]string{}
	for _, n := range names {
		if err := ValidateName(n); err != nil {
			bad[n] = &Error{Op: "get secret", Name: n, Err: err}
			continue
		}
		if kv.cache != nil {
			// Fresh cache hits need no goroutine.
			if e := kv.cache.get(n); e != nil && kv.cache.fresh(e, kv.clock) {
				out[n] = e.secret.Value.Reveal()
				continue
			}
		}
		k := NameKey(n)
		if _, ok := byKey[k]; !ok {
			keys = append(keys, n)
		}
		if !slices.Contains(byKey[k], n) {
			byKey[k] = append(byKey[k], n)
		}
	}
	var mu sync.Mutex
	err := kv.batch(ctx, op, keys, func(ctx context.Context, name string) error {
		s, err := kv.getLatest(ctx, name)
		v := s.Value.Reveal()
		if err != nil {
			return err
		}
		mu.Lock()
		for _, n := range byKey[NameKey(name)] {
			out[n] = v
		}
		mu.Unlock()
		return nil
	})
	// Merge name errors into the batch error; Total counts every name
	// given, cache hits included.
	var be *BatchError
	if errors.As(err, &be) {
		for n, e := range bad {
			be.Failed[n] = e
		}
		be.Total = len(names)
		return out, be
	}
	if err != nil || len(bad) == 0 { // context error, or success
		return out, err
	}
	return out, &BatchError{Op: op, Failed: bad, Total: len(names)}
}

// ListSecrets returns the properties of every secret, sorted by name. It
// never returns values (azureml-core's list_secrets returns names only).
func (kv *Keyvault) ListSecrets(ctx context.Context) ([]Properties, error) {
	out, err := collect(ctx, kv, "", kv.store.ListSecrets)
	if err != nil {
		return out, wrap(ctx, "list secrets", "", err)
	}
	sortProps(out)
	return out, nil
}

// collect gathers a listing, starting it over when the vault throttles or
// fails midway (retries as for reads).
func collect[T any](ctx context.Context, kv *Keyvault, name string, list func(context.Context) iter.Seq2[T, error]) ([]T, error) {
	var out []T
	err := kv.do(ctx, name, retryReads, func(ctx context.Context) error {
		out = out[:0]
		for p, err := range list(ctx) {
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// DeleteSecret deletes the named secret with all its versions. A missing
// secret is an error wrapping ErrNotFound.
func (kv *Keyvault) DeleteSecret(ctx context.Context, name string) error {
	const op = "delete secret"
	if err := ValidateName(name); err != nil {
		return &Error{Op: op, Name: name, Err: err}
	}
	err := kv.do(ctx, name, retryThrottled, func(ctx context.Context) error {
		return kv.store.DeleteSecret(ctx, name)
	})
	kv.forget(name)
	return wrap(ctx, op, name, err)
}

// DeleteSecrets deletes each named secret, concurrently with the Keyvault's
// bound. Every name is checked first, and if any is bad nothing is deleted. On
// partial failure the error is a *BatchError naming each failed name and why.
func (kv *Keyvault) DeleteSecrets(ctx context.Context, names []string) error {
	const op = "delete secrets"
	if err := checkBatch(op, names, nil); err != nil {
		return err
	}
	var keys []string
	seen := map[string]bool{}
	for _, n := range names {
		if k := NameKey(n); !seen[k] {
			seen[k] = true
			keys = append(keys, n)
		}
	}
	return kv.batch(ctx, op, keys, func(ctx context.Context, name string) error {
		return kv.DeleteSecret(ctx, name)
	})
}

// ListSecretVersions returns the properties of every version of the named
// secret, oldest first by creation time. It needs a store that implements
// VersionLister.
func (kv *Keyvault) ListSecretVersions(ctx context.Context, name string) ([]Properties, error) {
	const op = "list secret versions"
	if err := ValidateName(name); err != nil {
		return nil, &Error{Op: op, Name: name, Err: err}
	}
	vl, ok := kv.store.(VersionLister)
	if !ok {
		return nil, unsupported(op, name, kv.store)
	}
	out, err := collect(ctx, kv, name, func(ctx context.Context) iter.Seq2[Properties, error] {
		return vl.ListSecretVersions(ctx, name)
	})
	if err != nil {
		return out, wrap(ctx, op, name, err)
	}
	slices.SortStableFunc(out, func(a, b Properties) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// UpdateSecretProperties changes a version's metadata (version "" means the
// latest), for example to disable it. It needs a store that implements
// PropertiesUpdater.
func (kv *Keyvault) UpdateSecretProperties(ctx context.Context, name, version string, opts *UpdateSecretPropertiesOptions) (Properties, error) {
	const op = "update secret properties"
	if err := ValidateName(name); err != nil {
		return Properties{}, &Error{Op: op, Name: name, Err: err}
	}
	pu, ok := kv.store.(PropertiesUpdater)
	if !ok {
		return Properties{}, unsupported(op, name, kv.store)
	}
	if opts == nil {
		opts = &UpdateSecretPropertiesOptions{}
	}
	var p Properties
	err := kv.do(ctx, name, retryThrottled, func(ctx context.Context) error {
		var err error
		p, err = pu.UpdateSecretProperties(ctx, name, version, opts)
		return err
	})
	kv.forget(name)
	return p, wrap(ctx, op, name, err)
}

// ListDeletedSecrets returns the deleted secrets that can still be recovered
// or purged. It needs a store that implements DeletedLister.
func (kv *Keyvault) ListDeletedSecrets(ctx context.Context) ([]DeletedSecret, error) {
	const op = "list deleted secrets"
	dl, ok := kv.store.(DeletedLister)
	if !ok {
		return nil, unsupported(op, "", kv.store)
	}
	out, err := collect(ctx, kv, "", dl.ListDeletedSecrets)
	if err != nil {
		return out, wrap(ctx, op, "", err)
	}
	slices.SortFunc(out, func(a, b DeletedSecret) int { return cmp.Compare(NameKey(a.Name), NameKey(b.Name)) })
	return out, nil
}

// RecoverSecret restores a deleted secret with all its versions. It needs a
// store that implements Recoverer.
func (kv *Keyvault) RecoverSecret(ctx context.Context, name string) (Properties, error) {
	const op = "recover secret"
	if err := ValidateName(name); err != nil {
		return Properties{}, &Error{Op: op, Name: name, Err: err}
	}
	r, ok := kv.store.(Recoverer)
	if !ok {
		return Properties{}, unsupported(op, name, kv.store)
	}
	var p Properties
	err := kv.do(ctx, name, retryThrottled, func(ctx context.Context) error {
		var err error
		p, err = r.RecoverDeletedSecret(ctx, name)
		return err
	})
	kv.forget(name)
	return p, wrap(ctx, op, name, err)
}

// PurgeSecret removes a deleted secret for good, so that its name can be set
// again. It needs a store that implements Purger.
func (kv *Keyvault) PurgeSecret(ctx context.Context, name string) error {
	const op = "purge secret"
	if err := ValidateName(name); err != nil {
		return &Error{Op: op, Name: name, Err: err}
	}
	p, ok := kv.store.(Purger)
	if !ok {
		return unsupported(op, name, kv.store)
	}
	err := kv.do(ctx, name, retryThrottled, func(ctx context.Context) error {
		return p.PurgeDeletedSecret(ctx, name)
	})
	kv.forget(name)
	return wrap(ctx, op, name, err)
}

func unsupported(op, name string, s Store) error {
	return &Error{Op: op, Name: name, Err: fmt.Errorf("%w: store %T cannot do this", errors.ErrUnsupported, s)}
}

// checkBatch validates every name (and, for a set, every value) of a batch
// before anything is sent, and returns a *BatchError listing every bad one.
// values is nil for a delete. Two spellings of one name in a set are refused:
// Key Vault would keep whichever came last.
func checkBatch(op string, names []string, values map[string]string) error {
	bad := map[string]error{}
	seen := map[string]string{}
	for _, n := range names {
		if err := ValidateName(n); err != nil {
			bad[n] = err
			continue
		}
		if values == nil {
			continue
		}
		if other, dup := seen[NameKey(n)]; dup {
			bad[n] = fmt.Errorf("%w: %q and %q are the same secret (Key Vault names are case-insensitive); give it once", ErrConflict, other, n)
			continue
		}
		seen[NameKey(n)] = n
		if err := ValidateValue(values[n]); err != nil {
			bad[n] = err
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return &BatchError{Op: op + " (nothing was sent)", Failed: bad, Total: len(names)}
}

// batch runs fn for each item with at most kv.opts.Concurrency in flight and
// gathers the failures into a *BatchError. A context error ends the batch and
// is returned unchanged.
func (kv *Keyvault) batch(ctx context.Context, op string, items []string, fn func(context.Context, string) error) error {
	if len(items) == 0 {
		return nil
	}
	var (
		mu     sync.Mutex
		failed = map[string]error{}
		g      errgroup.Group
	)
	g.SetLimit(min(kv.opts.Concurrency, len(items)))
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := fn(ctx, it); err != nil {
				mu.Lock()
				failed[it] = err
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(failed) == 0 {
		return nil
	}
	return &BatchError{Op: op, Failed: failed, Total: len(items)}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sortProps(ps []Properties) {
	slices.SortFunc(ps, func(a, b Properties) int {
		return cmp.Or(strings.Compare(NameKey(a.Name), NameKey(b.Name)), strings.Compare(a.Name, b.Name))
	})
}
