package keyvault

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
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
}

// Keyvault is the portable API over a Store, shaped like azureml-core's
// Keyvault class: SetSecret(s), GetSecret(s), ListSecrets, DeleteSecret(s).
// It does the shared work once for every store: name and value checks before
// any request, error classification and wrapping, and bounded-concurrency
// batches. It is safe for concurrent use.
type Keyvault struct {
	store Store
	opts  Options
}

// New returns a Keyvault over store. opts nil means defaults.
func New(store Store, opts *Options) *Keyvault {
	kv := &Keyvault{store: store}
	if opts != nil {
		kv.opts = *opts
	}
	if kv.opts.Concurrency <= 0 {
		kv.opts.Concurrency = DefaultConcurrency
	}
	return kv
}

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
	p, err := kv.store.SetSecret(ctx, name, value, opts.Clone())
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
		_, err := kv.store.SetSecret(ctx, name, secrets[name], nil)
		return wrap(ctx, "set secret", name, err)
	})
}

// GetSecret returns the value of the latest version of the named secret. A
// missing secret is an error wrapping ErrNotFound, never "".
func (kv *Keyvault) GetSecret(ctx context.Context, name string) (string, error) {
	s, err := kv.GetSecretVersion(ctx, name, "")
	if err != nil {
		return "", err
	}
	return s.Value.Reveal(), nil
}

// GetSecretVersion returns one version of the named secret with its
// properties; version "" means the latest. The value stays wrapped in a
// Value, which never prints its plaintext.
func (kv *Keyvault) GetSecretVersion(ctx context.Context, name, version string) (Secret, error) {
	const op = "get secret"
	if err := ValidateName(name); err != nil {
		return Secret{}, &Error{Op: op, Name: name, Err: err}
	}
	s, err := kv.store.GetSecret(ctx, name, version)
	if err != nil {
		return Secret{}, wrap(ctx, op, name, err)
	}
	return s, nil
}

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
		v, err := kv.GetSecret(ctx, name)
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
	if len(bad) == 0 {
		return out, err
	}
	// Merge name errors into the batch error.
	var be *BatchError
	if errors.As(err, &be) {
		maps := be.Failed
		for n, e := range bad {
			maps[n] = e
		}
		be.Total = len(names)
		return out, be
	}
	if err != nil { // context error
		return out, err
	}
	return out, &BatchError{Op: op, Failed: bad, Total: len(names)}
}

// ListSecrets returns the properties of every secret, sorted by name. It
// never returns values (azureml-core's list_secrets returns names only).
func (kv *Keyvault) ListSecrets(ctx context.Context) ([]Properties, error) {
	var out []Properties
	for p, err := range kv.store.ListSecrets(ctx) {
		if err != nil {
			return out, wrap(ctx, "list secrets", "", err)
		}
		out = append(out, p)
	}
	sortProps(out)
	return out, nil
}

// DeleteSecret deletes the named secret with all its versions. A missing
// secret is an error wrapping ErrNotFound.
func (kv *Keyvault) DeleteSecret(ctx context.Context, name string) error {
	const op = "delete secret"
	if err := ValidateName(name); err != nil {
		return &Error{Op: op, Name: name, Err: err}
	}
	return wrap(ctx, op, name, kv.store.DeleteSecret(ctx, name))
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
	var out []Properties
	for p, err := range vl.ListSecretVersions(ctx, name) {
		if err != nil {
			return out, wrap(ctx, op, name, err)
		}
		out = append(out, p)
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
	p, err := pu.UpdateSecretProperties(ctx, name, version, opts)
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
	var out []DeletedSecret
	for d, err := range dl.ListDeletedSecrets(ctx) {
		if err != nil {
			return out, wrap(ctx, op, "", err)
		}
		out = append(out, d)
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
	p, err := r.RecoverDeletedSecret(ctx, name)
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
	return wrap(ctx, op, name, p.PurgeDeletedSecret(ctx, name))
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
