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
// It checks names and values before any request, wraps errors, runs batches
// with bounded concurrency and keeps values in Value. The policies of the
// request path are layers New composes over the store, each with one job:
// the cache with its request sharing (CacheStore) over the retries and rate
// limit (RetryStore). It is safe for concurrent use. Printing it shows the
// store, never a cached value.
type Keyvault struct {
	base  Store       // the store given to New: its abilities
	top   Store       // the layered path every request takes
	cache *CacheStore // the cache layer (caching may be off in it)
	opts  Options

	watches watchHub // the shared polls of Watch
}

// New returns a Keyvault over store: the cache layer over the retry layer
// over store. opts nil means defaults.
func New(store Store, opts *Options) *Keyvault {
	kv := &Keyvault{base: store}
	if opts != nil {
		kv.opts = *opts
	}
	if kv.opts.Concurrency <= 0 {
		kv.opts.Concurrency = DefaultConcurrency
	}
	ro := RetryOptions{}
	if kv.opts.Retry != nil {
		ro = *kv.opts.Retry
	}
	if ro.RateLimiter == nil {
		ro.RateLimiter = kv.opts.RateLimiter
	}
	if ro.Clock == nil {
		ro.Clock = kv.opts.Clock
	}
	co := CacheOptions{}
	if kv.opts.Cache != nil {
		co = *kv.opts.Cache
	}
	if co.Clock == nil {
		co.Clock = kv.opts.Clock
	}
	kv.cache = NewCacheStore(NewRetryStore(store, &ro), &co)
	kv.top = kv.cache
	return kv
}

// String describes the Keyvault by its store; it never shows a value.
func (kv *Keyvault) String() string { return "keyvault.Keyvault(" + storeString(kv.base) + ")" }

// storeString names a store by its String method, or its type.
func storeString(s Store) string {
	if st, ok := s.(fmt.Stringer); ok {
		return st.String()
	}
	return fmt.Sprintf("%T", s)
}

// GoString is String, for %#v.
func (kv *Keyvault) GoString() string { return kv.String() }

// Format writes String for every fmt verb, so that no verb (%+v, %#v
// included) walks into the cache.
func (kv *Keyvault) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(kv.String())) }

// Store returns the Store the Keyvault works over (the one given to New,
// without the layers).
func (kv *Keyvault) Store() Store { return kv.base }

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
	p, err := kv.top.SetSecret(ctx, name, value, opts.Clone())
	if err != nil {
		return Properties{}, wrap(ctx, op, name, err)
	}
	return p, nil
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
		_, err := kv.top.SetSecret(ctx, name, secrets[name], nil)
		return wrap(ctx, "set secret", name, err)
	})
}

// GetSecret returns the value of the latest version of the named secret,
// from the cache when it holds a fresh one (see CacheOptions). A missing
// secret is an error wrapping ErrNotFound, never "".
func (kv *Keyvault) GetSecret(ctx context.Context, name string) (string, error) {
	if s, ok := kv.cache.hit(name); ok {
		return s.Value.Reveal(), nil
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
		return kv.getLatest(ctx, name) // the cache layer returns a copy
	}
	if err := ValidateName(name); err != nil {
		return Secret{}, &Error{Op: op, Name: name, Err: err}
	}
	s, err := kv.top.GetSecret(ctx, name, version)
	if err != nil {
		return Secret{}, wrap(ctx, op, name, err)
	}
	return s, nil
}

// Invalidate drops the named secrets from the cache, or every cached secret
// when no name is given, so that the next read of each asks the store.
func (kv *Keyvault) Invalidate(names ...string) { kv.cache.Invalidate(names...) }

// Refresh reads the latest version of the named secret from the store,
// whatever the cache holds, caches it and returns its value. Unlike a read
// of a stale entry, a failed Refresh returns its error and leaves the cache
// as it was.
func (kv *Keyvault) Refresh(ctx context.Context, name string) (string, error) {
	const op = "get secret"
	if err := ValidateName(name); err != nil {
		return "", &Error{Op: op, Name: name, Err: err}
	}
	s, err := kv.cache.Refresh(ctx, name)
	if err != nil {
		return "", wrap(ctx, op, name, err)
	}
	return s.Value.Reveal(), nil
}

// getLatest returns the latest version of name through the layers.
func (kv *Keyvault) getLatest(ctx context.Context, name string) (Secret, error) {
	const op = "get secret"
	if err := ValidateName(name); err != nil {
		return Secret{}, &Error{Op: op, Name: name, Err: err}
	}
	s, err := kv.top.GetSecret(ctx, name, "")
	if err != nil {
		return Secret{}, wrap(ctx, op, name, err)
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
		// Fresh cache hits need no goroutine.
		if s, ok := kv.cache.hit(n); ok {
			out[n] = s.Value.Reveal()
			continue
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
	out, err := collect(ctx, kv.top.ListSecrets)
	if err != nil {
		return out, wrap(ctx, "list secrets", "", err)
	}
	sortProps(out)
	return out, nil
}

// collect gathers a listing (the retry layer starts it over when it fails
// midway).
func collect[T any](ctx context.Context, list func(context.Context) iter.Seq2[T, error]) ([]T, error) {
	var out []T
	for p, err := range list(ctx) {
		if err != nil {
			return out[:0], err
		}
		out = append(out, p)
	}
	return out, nil
}

// DeleteSecret deletes the named secret with all its versions. A missing
// secret is an error wrapping ErrNotFound.
func (kv *Keyvault) DeleteSecret(ctx context.Context, name string) error {
	const op = "delete secret"
	if err := ValidateName(name); err != nil {
		return &Error{Op: op, Name: name, Err: err}
	}
	return wrap(ctx, op, name, kv.top.DeleteSecret(ctx, name))
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
	if _, ok := kv.base.(VersionLister); !ok {
		return nil, unsupported(op, name, kv.base)
	}
	out, err := collect(ctx, func(ctx context.Context) iter.Seq2[Properties, error] {
		return kv.top.(VersionLister).ListSecretVersions(ctx, name)
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
	if _, ok := kv.base.(PropertiesUpdater); !ok {
		return Properties{}, unsupported(op, name, kv.base)
	}
	if opts == nil {
		opts = &UpdateSecretPropertiesOptions{}
	}
	p, err := kv.top.(PropertiesUpdater).UpdateSecretProperties(ctx, name, version, opts)
	return p, wrap(ctx, op, name, err)
}

// ListDeletedSecrets returns the deleted secrets that can still be recovered
// or purged. It needs a store that implements DeletedLister.
func (kv *Keyvault) ListDeletedSecrets(ctx context.Context) ([]DeletedSecret, error) {
	const op = "list deleted secrets"
	if _, ok := kv.base.(DeletedLister); !ok {
		return nil, unsupported(op, "", kv.base)
	}
	out, err := collect(ctx, kv.top.(DeletedLister).ListDeletedSecrets)
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
	if _, ok := kv.base.(Recoverer); !ok {
		return Properties{}, unsupported(op, name, kv.base)
	}
	p, err := kv.top.(Recoverer).RecoverDeletedSecret(ctx, name)
	return p, wrap(ctx, op, name, err)
}

// PurgeSecret removes a deleted secret for good, so that its name can be set
// again. It needs a store that implements Purger.
func (kv *Keyvault) PurgeSecret(ctx context.Context, name string) error {
	const op = "purge secret"
	if err := ValidateName(name); err != nil {
		return &Error{Op: op, Name: name, Err: err}
	}
	if _, ok := kv.base.(Purger); !ok {
		return unsupported(op, name, kv.base)
	}
	return wrap(ctx, op, name, kv.top.(Purger).PurgeDeletedSecret(ctx, name))
}

func unsupported(op, name string, s Store) error {
	return &Error{Op: op, Name: name, Err: unsupportedErr(s)}
}

func unsupportedErr(s Store) error {
	return fmt.Errorf("%w: store %T cannot do this", errors.ErrUnsupported, s)
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
	// A panic in a batch goroutine (a Store's, a credential's, a
	// callback's) is carried to the caller's goroutine and raised there
	// once the batch is done, so the caller's recover can see it.
	var panicked atomic.Pointer[panicValue]
	g.SetLimit(min(kv.opts.Concurrency, len(items)))
	for _, it := range items {
		if ctx.Err() != nil || panicked.Load() != nil {
			break
		}
		g.Go(func() error {
			defer func() {
				if r := recover(); r != nil {
					panicked.CompareAndSwap(nil, &panicValue{r})
				}
			}()
			if err := fn(ctx, it); err != nil {
				mu.Lock()
				failed[it] = err
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	if p := panicked.Load(); p != nil {
		panic(p.v)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(failed) == 0 {
		return nil
	}
	return &BatchError{Op: op, Failed: failed, Total: len(items)}
}

type panicValue struct{ v any }

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
