package keyvault_test

import (
	"context"
	"errors"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/memvault"
)

// faultyStore wraps a Store: names in fail get that error, and it records
// the most requests in flight at once.
type faultyStore struct {
	keyvault.Store
	fail             map[string]error
	delay            time.Duration
	inFlight, peak   atomic.Int64
	gets, sets, dels atomic.Int64
}

func (f *faultyStore) enter() func() {
	n := f.inFlight.Add(1)
	for {
		p := f.peak.Load()
		if n <= p || f.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if f.delay > 0 {
		<-time.After(f.delay) // simulated latency, on the synctest bubble's clock
	}
	return func() { f.inFlight.Add(-1) }
}

func (f *faultyStore) GetSecret(ctx context.Context, name, version string) (keyvault.Secret, error) {
	defer f.enter()()
	f.gets.Add(1)
	if err := f.fail[keyvault.NameKey(name)]; err != nil {
		return keyvault.Secret{}, err
	}
	return f.Store.GetSecret(ctx, name, version)
}

func (f *faultyStore) SetSecret(ctx context.Context, name, value string, opts *keyvault.SetSecretOptions) (keyvault.Properties, error) {
	defer f.enter()()
	f.sets.Add(1)
	if err := f.fail[keyvault.NameKey(name)]; err != nil {
		return keyvault.Properties{}, err
	}
	return f.Store.SetSecret(ctx, name, value, opts)
}

func (f *faultyStore) DeleteSecret(ctx context.Context, name string) error {
	defer f.enter()()
	f.dels.Add(1)
	if err := f.fail[keyvault.NameKey(name)]; err != nil {
		return err
	}
	return f.Store.DeleteSecret(ctx, name)
}

func (f *faultyStore) ListSecrets(ctx context.Context) iter.Seq2[keyvault.Properties, error] {
	return f.Store.ListSecrets(ctx)
}

func newKV(t *testing.T, fail map[string]error, values map[string]string) (*keyvault.Keyvault, *faultyStore) {
	t.Helper()
	fs := &faultyStore{Store: memvault.New(), fail: fail}
	for n, v := range values {
		_, err := fs.Store.SetSecret(t.Context(), n, v, nil)
		require.NoError(t, err)
	}
	// Retries and cache off: these tests check batch semantics alone.
	return keyvault.New(fs, noCacheNoRetry()), fs
}

func TestGetSecretsReportsEveryMissingName(t *testing.T) {
	kv, _ := newKV(t, nil, map[string]string{"a": "1", "b": "2"})
	got, err := kv.GetSecrets(t.Context(), []string{"a", "missing-1", "b", "missing-2"})
	assert.Equal(t, map[string]string{"a": "1", "b": "2"}, got, "every value found is returned")
	require.ErrorIs(t, err, keyvault.ErrNotFound)
	var be *keyvault.BatchError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, []string{"missing-1", "missing-2"}, be.Names())
	assert.Contains(t, err.Error(), "get secrets: 2 of 4 failed:\n  missing-1: not found", "a list, one a line")
	assert.Contains(t, err.Error(), "missing-2: not found")
	_, present := got["missing-1"]
	assert.False(t, present, "a missing name is absent, never an empty value")
}

func TestGetSecretsDeduplicatesCaseInsensitively(t *testing.T) {
	kv, fs := newKV(t, nil, map[string]string{"db-password": "pw"})
	got, err := kv.GetSecrets(t.Context(), []string{"db-password", "DB-Password", "db-password"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"db-password": "pw", "DB-Password": "pw"}, got)
	assert.EqualValues(t, 1, fs.gets.Load(), "one request per distinct name")
}

func TestGetSecretsBadNamesAndFailures(t *testing.T) {
	kv, _ := newKV(t, map[string]error{"locked": keyvault.Classify(403, "Forbidden", nil)}, map[string]string{"ok": "v"})
	got, err := kv.GetSecrets(t.Context(), []string{"ok", "bad_name", "locked"})
	assert.Equal(t, map[string]string{"ok": "v"}, got)
	require.ErrorIs(t, err, keyvault.ErrInvalidName)
	require.ErrorIs(t, err, keyvault.ErrPermission)
	assert.NotErrorIs(t, err, keyvault.ErrNotFound)
	assert.Contains(t, err.Error(), `did you mean "bad-name"?`)
	assert.Contains(t, err.Error(), "locked: permission denied (403 Forbidden)")
}

func TestGetSecretsIsConcurrent(t *testing.T) {
	synctest.Test(t, testGetSecretsIsConcurrent)
}

func testGetSecretsIsConcurrent(t *testing.T) {
	values := map[string]string{}
	var names []string
	for i := range 64 {
		n := "s" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + string(rune('a'+i/26))
		values[n] = n
		names = append(names, n)
	}
	kv, fs := newKV(t, nil, values)
	fs.delay = 20 * time.Millisecond
	start := time.Now()
	got, err := kv.GetSecrets(t.Context(), names)
	require.NoError(t, err)
	assert.Len(t, got, 64)
	assert.EqualValues(t, 64, fs.peak.Load(), "requests overlap, not one by one")
	assert.Equal(t, 20*time.Millisecond, time.Since(start), "64 names, one round trip")

	one := keyvault.New(fs, &keyvault.Options{Concurrency: 1})
	fs.peak.Store(0)
	_, err = one.GetSecrets(t.Context(), names[:5])
	require.NoError(t, err)
	assert.EqualValues(t, 1, fs.peak.Load(), "Concurrency 1 means one at a time")
}

func TestSetSecretsPartialFailureKeepsSuccesses(t *testing.T) {
	kv, fs := newKV(t, map[string]error{"b": keyvault.Classify(429, "Throttled", nil)}, map[string]string{"b": "old"})
	err := kv.SetSecrets(t.Context(), map[string]string{"a": "1", "b": "2", "c": "3"})
	require.ErrorIs(t, err, keyvault.ErrThrottled)
	assert.Equal(t, "set secrets: 1 of 3 failed: b: throttled (429 Throttled)", err.Error())
	fs.fail = nil
	got, err := kv.GetSecrets(t.Context(), []string{"a", "b", "c"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"a": "1", "b": "old", "c": "3"}, got, "successes stay done; the old value of the failure is kept")
}

func TestSetSecretsChecksEverythingFirst(t *testing.T) {
	kv, fs := newKV(t, nil, map[string]string{"a": "old"})
	err := kv.SetSecrets(t.Context(), map[string]string{
		"a": "new", "bad_name": "x", "too-big": strings.Repeat("x", keyvault.MaxValueBytes+1),
	})
	require.ErrorIs(t, err, keyvault.ErrInvalidName)
	require.ErrorIs(t, err, keyvault.ErrInvalidValue)
	assert.Contains(t, err.Error(), "nothing was sent")
	assert.EqualValues(t, 0, fs.sets.Load(), "nothing sent when any input is bad")
	v, err := kv.GetSecret(t.Context(), "a")
	require.NoError(t, err)
	assert.Equal(t, "old", v)

	err = kv.SetSecrets(t.Context(), map[string]string{"Same": "1", "same": "2"})
	require.ErrorIs(t, err, keyvault.ErrConflict)
	assert.Contains(t, err.Error(), "case-insensitive")
}

func TestDeleteSecrets(t *testing.T) {
	kv, fs := newKV(t, map[string]error{"locked": keyvault.Classify(403, "Forbidden", nil)}, map[string]string{"a": "1", "b": "2", "locked": "3"})
	err := kv.DeleteSecrets(t.Context(), []string{"a", "B", "b", "missing", "locked"})
	require.ErrorIs(t, err, keyvault.ErrNotFound)
	require.ErrorIs(t, err, keyvault.ErrPermission)
	var be *keyvault.BatchError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, []string{"locked", "missing"}, be.Names())
	assert.EqualValues(t, 4, fs.dels.Load(), "B and b are one secret")
	ps, err := kv.ListSecrets(t.Context())
	require.NoError(t, err)
	require.Len(t, ps, 1)
	assert.Equal(t, "locked", ps[0].Name)

	err = kv.DeleteSecrets(t.Context(), []string{"locked", "bad_name"})
	require.ErrorIs(t, err, keyvault.ErrInvalidName)
	assert.EqualValues(t, 4, fs.dels.Load(), "nothing deleted when a name is bad")
}

func TestErrorsAreShortAndWrapped(t *testing.T) {
	kv, _ := newKV(t, nil, nil)
	_, err := kv.GetSecret(t.Context(), "db-password")
	require.ErrorIs(t, err, keyvault.ErrNotFound)
	var ke *keyvault.Error
	require.ErrorAs(t, err, &ke)
	assert.Equal(t, "get secret", ke.Op)
	assert.Equal(t, "db-password", ke.Name)
	assert.Equal(t, "get secret db-password: not found (SecretNotFound)", err.Error())

	_, err = kv.SetSecret(t.Context(), "db_password", "v", nil)
	require.ErrorIs(t, err, keyvault.ErrInvalidName)
	assert.True(t, strings.HasPrefix(err.Error(), "set secret db_password: invalid secret name"), err.Error())
}

func TestContextErrorsPassThroughUnchanged(t *testing.T) {
	kv, _ := newKV(t, nil, map[string]string{"a": "1"})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := kv.GetSecret(ctx, "a")
	assert.Same(t, context.Canceled, err)
	_, err = kv.GetSecrets(ctx, []string{"a", "b"})
	assert.True(t, errors.Is(err, context.Canceled))
	err = kv.SetSecrets(ctx, map[string]string{"a": "2"})
	assert.True(t, errors.Is(err, context.Canceled))
	_, err = kv.ListSecrets(ctx)
	assert.Same(t, context.Canceled, err)
}

func TestOptionalAbilities(t *testing.T) {
	kv := keyvault.New(memvault.New(), nil)
	ctx := t.Context()
	p1, err := kv.SetSecret(ctx, "rot", "1", nil)
	require.NoError(t, err)
	_, err = kv.SetSecret(ctx, "rot", "2", nil)
	require.NoError(t, err)
	vs, err := kv.ListSecretVersions(ctx, "rot")
	require.NoError(t, err)
	assert.Len(t, vs, 2)
	old, err := kv.GetSecretVersion(ctx, "rot", p1.Version)
	require.NoError(t, err)
	assert.Equal(t, "1", old.Value.Reveal())
	off := false
	_, err = kv.UpdateSecretProperties(ctx, "rot", "", &keyvault.UpdateSecretPropertiesOptions{Enabled: &off})
	require.NoError(t, err)
	_, err = kv.GetSecret(ctx, "rot")
	require.ErrorIs(t, err, keyvault.ErrDisabled)
	require.NoError(t, kv.DeleteSecret(ctx, "rot"))
	ds, err := kv.ListDeletedSecrets(ctx)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	_, err = kv.RecoverSecret(ctx, "rot")
	require.NoError(t, err)
	require.NoError(t, kv.DeleteSecret(ctx, "rot"))
	require.NoError(t, kv.PurgeSecret(ctx, "rot"))

	// A store with only the four methods says so, with errors.ErrUnsupported.
	plain := keyvault.New(struct{ keyvault.Store }{memvault.New()}, nil)
	_, err = plain.ListSecretVersions(ctx, "rot")
	require.ErrorIs(t, err, errors.ErrUnsupported)
	require.ErrorIs(t, plain.PurgeSecret(ctx, "rot"), errors.ErrUnsupported)
}

func TestConcurrentUse(t *testing.T) {
	kv := keyvault.New(memvault.New(), nil)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			n := []string{"a", "b", "c", "d"}[i%4]
			_, _ = kv.SetSecret(t.Context(), n, "v", nil)
			_, _ = kv.GetSecrets(t.Context(), []string{"a", "b", "c", "d"})
			_, _ = kv.ListSecrets(t.Context())
		})
	}
	wg.Wait()
	got, err := kv.GetSecrets(t.Context(), []string{"a", "b", "c", "d"})
	require.NoError(t, err)
	assert.Len(t, got, 4)
}
