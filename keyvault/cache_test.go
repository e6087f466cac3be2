package keyvault_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/memvault"
)

// fakeClock is a Clock whose Sleep advances time at once and records the
// wait: no test here waits on the wall clock.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.sleeps = append(c.sleeps, d)
	return nil
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// scriptStore is memvault with counted GetSecret/SetSecret calls, errors
// scripted per call, and an optional gate that holds GetSecret calls.
type scriptStore struct {
	*memvault.Store
	gets, sets atomic.Int64
	mu         sync.Mutex
	getErrs    []error // returned by the next GetSecret calls, in order
	setErrs    []error
	gate       chan struct{} // when non-nil, GetSecret waits on it (or ctx)
}

func newScriptStore(t *testing.T, secrets map[string]string) *scriptStore {
	t.Helper()
	s := &scriptStore{Store: memvault.New()}
	for n, v := range secrets {
		_, err := s.Store.SetSecret(t.Context(), n, v, nil)
		require.NoError(t, err)
	}
	return s
}

func (s *scriptStore) script(getErrs ...error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.getErrs = append(s.getErrs, getErrs...)
}

func (s *scriptStore) scriptSet(setErrs ...error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setErrs = append(s.setErrs, setErrs...)
}

func pop(mu *sync.Mutex, errs *[]error) error {
	mu.Lock()
	defer mu.Unlock()
	if len(*errs) == 0 {
		return nil
	}
	err := (*errs)[0]
	*errs = (*errs)[1:]
	return err
}

func (s *scriptStore) GetSecret(ctx context.Context, name, version string) (keyvault.Secret, error) {
	s.gets.Add(1)
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return keyvault.Secret{}, ctx.Err()
		}
	}
	if err := pop(&s.mu, &s.getErrs); err != nil {
		return keyvault.Secret{}, err
	}
	return s.Store.GetSecret(ctx, name, version)
}

func (s *scriptStore) SetSecret(ctx context.Context, name, value string, opts *keyvault.SetSecretOptions) (keyvault.Properties, error) {
	s.sets.Add(1)
	if err := pop(&s.mu, &s.setErrs); err != nil {
		return keyvault.Properties{}, err
	}
	return s.Store.SetSecret(ctx, name, value, opts)
}

func throttled(retryAfter time.Duration) error {
	se := keyvault.Classify(429, "Throttled", nil)
	se.RetryAfter = retryAfter
	return se
}

func unavailable() error { return keyvault.Classify(503, "ServiceUnavailable", nil) }

func TestCacheServesRepeatsFromMemory(t *testing.T) {
	st := newScriptStore(t, map[string]string{"db-password": "s3cret"})
	kv := keyvault.New(st, &keyvault.Options{Clock: newFakeClock()})
	for _, n := range []string{"db-password", "DB-Password", "db-password"} {
		v, err := kv.GetSecret(t.Context(), n)
		require.NoError(t, err)
		assert.Equal(t, "s3cret", v)
	}
	got, err := kv.GetSecrets(t.Context(), []string{"db-password", "DB-PASSWORD"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"db-password": "s3cret", "DB-PASSWORD": "s3cret"}, got)
	s, err := kv.GetSecretVersion(t.Context(), "Db-Password", "")
	require.NoError(t, err)
	assert.Equal(t, "s3cret", s.Value.Reveal())
	assert.EqualValues(t, 1, st.gets.Load(), "one request, whatever the spelling")
}

func TestCacheDisabled(t *testing.T) {
	st := newScriptStore(t, map[string]string{"a": "1"})
	kv := keyvault.New(st, &keyvault.Options{Cache: &keyvault.CacheOptions{Disabled: true}})
	for range 3 {
		_, err := kv.GetSecret(t.Context(), "a")
		require.NoError(t, err)
	}
	assert.EqualValues(t, 3, st.gets.Load())
}

func TestCacheTTLWithJitter(t *testing.T) {
	clk := newFakeClock()
	st := newScriptStore(t, map[string]string{"a": "1"})
	kv := keyvault.New(st, &keyvault.Options{Clock: clk, Cache: &keyvault.CacheOptions{TTL: time.Minute, Jitter: 0.5}})
	_, err := kv.GetSecret(t.Context(), "a")
	require.NoError(t, err)
	clk.Advance(29 * time.Second) // before the earliest jittered expiry (30 s)
	_, err = kv.GetSecret(t.Context(), "a")
	require.NoError(t, err)
	assert.EqualValues(t, 1, st.gets.Load())
	clk.Advance(31*time.Second + time.Nanosecond) // past the TTL
	_, err = kv.GetSecret(t.Context(), "a")
	require.NoError(t, err)
	assert.EqualValues(t, 2, st.gets.Load())
}

func TestCacheJitterSpreadsRefreshes(t *testing.T) {
	// 100 "nodes" read at the same instant; their entries must not all
	// expire at the same instant.
	clk := newFakeClock()
	st := newScriptStore(t, map[string]string{"a": "1"})
	var kvs []*keyvault.Keyvault
	for range 100 {
		kv := keyvault.New(st, &keyvault.Options{Clock: clk, Cache: &keyvault.CacheOptions{TTL: 100 * time.Second}})
		_, err := kv.GetSecret(t.Context(), "a")
		require.NoError(t, err)
		kvs = append(kvs, kv)
	}
	refreshedAt := map[int]int{}
	for sec := 89; sec <= 100; sec++ {
		clk.Advance(time.Second)
		if sec == 89 {
			clk.Advance(89 * time.Second)
		}
		before := st.gets.Load()
		for _, kv := range kvs {
			_, err := kv.GetSecret(t.Context(), "a")
			require.NoError(t, err)
		}
		refreshedAt[sec] = int(st.gets.Load() - before)
	}
	assert.Zero(t, refreshedAt[89], "no entry expires before TTL×(1-DefaultCacheJitter)")
	busiest := 0
	for _, n := range refreshedAt {
		busiest = max(busiest, n)
	}
	assert.Less(t, busiest, 40, "refreshes spread over the jitter window: %v", refreshedAt)
}

func TestCacheStaleOnError(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		recheck time.Duration
	}{
		{"throttled with Retry-After", throttled(30 * time.Second), 30 * time.Second},
		{"throttled without Retry-After", throttled(0), 10 * time.Second},
		{"unavailable", unavailable(), 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			st := newScriptStore(t, map[string]string{"a": "old"})
			var staleNames []string
			var staleErrs []error
			kv := keyvault.New(st, &keyvault.Options{Clock: clk, Cache: &keyvault.CacheOptions{
				TTL: time.Minute,
				OnStale: func(name string, err error) {
					staleNames = append(staleNames, name)
					staleErrs = append(staleErrs, err)
				},
			}})
			_, err := kv.GetSecret(t.Context(), "a")
			require.NoError(t, err)
			_, err = st.Store.SetSecret(t.Context(), "a", "new", nil) // behind the cache's back
			require.NoError(t, err)

			clk.Advance(2 * time.Minute)
			st.script(tc.err)
			v, err := kv.GetSecret(t.Context(), "a")
			require.NoError(t, err)
			assert.Equal(t, "old", v, "the last good value")
			require.Equal(t, []string{"a"}, staleNames)
			assert.ErrorIs(t, staleErrs[0], tc.err)
			assert.NotContains(t, staleErrs[0].Error(), "old")
			assert.Empty(t, clk.Sleeps(), "a stale value at hand is served at once, not after retries")
			assert.EqualValues(t, 2, st.gets.Load())

			clk.Advance(tc.recheck - time.Second)
			v, err = kv.GetSecret(t.Context(), "a")
			require.NoError(t, err)
			assert.Equal(t, "old", v)
			assert.EqualValues(t, 2, st.gets.Load(), "no new refresh before the recheck time")

			clk.Advance(2 * time.Second)
			v, err = kv.GetSecret(t.Context(), "a")
			require.NoError(t, err)
			assert.Equal(t, "new", v)
			assert.EqualValues(t, 3, st.gets.Load())
		})
	}
}

func TestCacheRefreshFailuresThatDropTheEntry(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		sentinel error
	}{
		{"not found", keyvault.Classify(404, "SecretNotFound", nil), keyvault.ErrNotFound},
		{"forbidden", keyvault.Classify(403, "Forbidden", nil), keyvault.ErrPermission},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			st := newScriptStore(t, map[string]string{"a": "1"})
			kv := keyvault.New(st, &keyvault.Options{Clock: clk})
			_, err := kv.GetSecret(t.Context(), "a")
			require.NoError(t, err)
			clk.Advance(keyvault.DefaultCacheTTL)
			st.script(tc.err)
			_, err = kv.GetSecret(t.Context(), "a")
			require.ErrorIs(t, err, tc.sentinel)
			assert.Equal(t, "get secret a: "+tc.err.Error(), err.Error())
			v, err := kv.GetSecret(t.Context(), "a")
			require.NoError(t, err, "the entry is gone, so the next read asks again")
			assert.Equal(t, "1", v)
			assert.EqualValues(t, 3, st.gets.Load())
		})
	}
}

func TestCacheFollowsWrites(t *testing.T) {
	clk := newFakeClock()
	st := newScriptStore(t, map[string]string{"a": "1", "b": "2"})
	kv := keyvault.New(st, &keyvault.Options{Clock: clk})
	ctx := t.Context()
	_, err := kv.GetSecrets(ctx, []string{"a", "b"})
	require.NoError(t, err)
	require.EqualValues(t, 2, st.gets.Load())

	_, err = kv.SetSecret(ctx, "A", "1b", nil)
	require.NoError(t, err)
	v, err := kv.GetSecret(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, "1b", v, "SetSecret replaces the cached value")
	require.NoError(t, kv.SetSecrets(ctx, map[string]string{"b": "2b"}))
	v, err = kv.GetSecret(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, "2b", v)
	assert.EqualValues(t, 2, st.gets.Load(), "no request: the write filled the cache")

	disabled := false
	_, err = kv.SetSecret(ctx, "a", "1c", &keyvault.SetSecretOptions{Enabled: &disabled})
	require.NoError(t, err)
	_, err = kv.GetSecret(ctx, "a")
	require.ErrorIs(t, err, keyvault.ErrDisabled, "a disabled latest version is not served from the cache")

	st.scriptSet(unavailable())
	_, err = kv.SetSecret(ctx, "b", "2c", nil)
	require.ErrorIs(t, err, keyvault.ErrUnavailable)
	gets := st.gets.Load()
	_, err = kv.GetSecret(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, gets+1, st.gets.Load(), "a failed write drops the entry: the vault may or may not have it")

	require.NoError(t, kv.DeleteSecret(ctx, "b"))
	_, err = kv.GetSecret(ctx, "b")
	require.ErrorIs(t, err, keyvault.ErrNotFound, "DeleteSecret drops the entry")
}

func TestInvalidateAndRefresh(t *testing.T) {
	st := newScriptStore(t, map[string]string{"a": "1", "b": "2"})
	kv := keyvault.New(st, &keyvault.Options{Clock: newFakeClock()})
	ctx := t.Context()
	_, err := kv.GetSecrets(ctx, []string{"a", "b"})
	require.NoError(t, err)
	_, err = st.Store.SetSecret(ctx, "a", "1b", nil)
	require.NoError(t, err)
	_, err = st.Store.SetSecret(ctx, "b", "2b", nil)
	require.NoError(t, err)

	kv.Invalidate("A")
	got, err := kv.GetSecrets(ctx, []string{"a", "b"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"a": "1b", "b": "2"}, got)

	v, err := kv.Refresh(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, "2b", v)
	assert.EqualValues(t, 4, st.gets.Load())

	kv.Invalidate()
	_, err = kv.GetSecrets(ctx, []string{"a", "b"})
	require.NoError(t, err)
	assert.EqualValues(t, 6, st.gets.Load(), "Invalidate() drops everything")

	st.script(throttled(0))
	_, err = kv.Refresh(ctx, "a")
	require.NoError(t, err, "Refresh retries a throttled read")
	st.script(keyvault.Classify(404, "SecretNotFound", nil))
	_, err = kv.Refresh(ctx, "a")
	require.ErrorIs(t, err, keyvault.ErrNotFound)
	_, err = kv.Refresh(ctx, "bad_name")
	require.ErrorIs(t, err, keyvault.ErrInvalidName)
}

func TestCacheMaxEntries(t *testing.T) {
	secrets := map[string]string{}
	var names []string
	for i := range 50 {
		n := fmt.Sprintf("s%02d", i)
		secrets[n] = n
		names = append(names, n)
	}
	st := newScriptStore(t, secrets)
	kv := keyvault.New(st, &keyvault.Options{Clock: newFakeClock(), Cache: &keyvault.CacheOptions{MaxEntries: 10}})
	_, err := kv.GetSecrets(t.Context(), names)
	require.NoError(t, err)
	st.gets.Store(0)
	_, err = kv.GetSecrets(t.Context(), names)
	require.NoError(t, err)
	assert.EqualValues(t, 40, st.gets.Load(), "only 10 of 50 stay cached")
}

func TestConcurrentReadsShareOneRequest(t *testing.T) {
	for _, cached := range []bool{true, false} {
		t.Run(fmt.Sprint("cache=", cached), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := newScriptStore(t, map[string]string{"a": "1"})
				st.gate = make(chan struct{})
				kv := keyvault.New(st, &keyvault.Options{Cache: &keyvault.CacheOptions{Disabled: !cached}})
				var wg sync.WaitGroup
				errs := make(chan error, 50)
				for i := range 50 {
					wg.Go(func() {
						n := "a"
						if i%2 == 1 {
							n = "A"
						}
						v, err := kv.GetSecret(t.Context(), n)
						if err == nil && v != "1" {
							err = errors.New("wrong value")
						}
						errs <- err
					})
				}
				synctest.Wait() // the other readers are waiting behind the first
				assert.EqualValues(t, 1, st.gets.Load())
				close(st.gate)
				wg.Wait()
				close(errs)
				for err := range errs {
					require.NoError(t, err)
				}
				assert.EqualValues(t, 1, st.gets.Load())
			})
		})
	}
}

func TestSharedReadSurvivesItsStarterLeaving(t *testing.T) {
	synctest.Test(t, testSharedReadSurvivesItsStarterLeaving)
}

func testSharedReadSurvivesItsStarterLeaving(t *testing.T) {
	st := newScriptStore(t, map[string]string{"a": "1"})
	st.gate = make(chan struct{})
	kv := keyvault.New(st, &keyvault.Options{Cache: &keyvault.CacheOptions{Disabled: true}})
	ctx1, cancel1 := context.WithCancel(t.Context())
	done1 := make(chan error, 1)
	go func() { _, err := kv.GetSecret(ctx1, "a"); done1 <- err }()
	synctest.Wait()
	require.EqualValues(t, 1, st.gets.Load())
	done2 := make(chan error, 1)
	go func() {
		v, err := kv.GetSecret(t.Context(), "a")
		if err == nil && v != "1" {
			err = errors.New("wrong value")
		}
		done2 <- err
	}()
	synctest.Wait() // the second reader has joined the first's request
	cancel1()
	require.ErrorIs(t, <-done1, context.Canceled)
	close(st.gate)
	require.NoError(t, <-done2, "the second reader starts its own request rather than fail with the first's cancellation")
}

func TestKeyvaultNeverPrintsCachedValues(t *testing.T) {
	st := newScriptStore(t, map[string]string{"a": "hunter2-plaintext"})
	kv := keyvault.New(st, nil)
	_, err := kv.GetSecret(t.Context(), "a")
	require.NoError(t, err)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%T"} {
		out := fmt.Sprintf(verb, kv)
		assert.NotContains(t, out, "hunter2", verb)
		assert.NotContains(t, out, "68756e74657232", verb) // hex
	}
	assert.Contains(t, kv.String(), "keyvault.Keyvault(")
}

func TestRetries(t *testing.T) {
	type want struct {
		err      error // nil: success
		gets     int64
		minSleep []time.Duration
		maxSleep []time.Duration
		gaveUp   bool
	}
	for _, tc := range []struct {
		name  string
		retry *keyvault.RetryOptions
		errs  []error
		want  want
	}{
		{"429 with Retry-After", nil, []error{throttled(3 * time.Second), throttled(2 * time.Second)},
			want{gets: 3, minSleep: []time.Duration{3 * time.Second, 2 * time.Second}, maxSleep: []time.Duration{3300 * time.Millisecond, 2200 * time.Millisecond}}},
		{"Retry-After past azcore's MaxRetryDelay is followed up to MaxDelay", nil, []error{throttled(90 * time.Second)},
			want{gets: 2, minSleep: []time.Duration{60 * time.Second}, maxSleep: []time.Duration{66 * time.Second}}},
		{"429 without Retry-After: exponential backoff with full jitter", nil, []error{throttled(0), throttled(0), throttled(0)},
			want{gets: 4, minSleep: []time.Duration{0, 0, 0}, maxSleep: []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second}}},
		{"503 is retried for reads", nil, []error{unavailable()},
			want{gets: 2, minSleep: []time.Duration{0}, maxSleep: []time.Duration{250 * time.Millisecond}}},
		{"MaxAttempts", &keyvault.RetryOptions{MaxAttempts: 3}, []error{throttled(time.Second), throttled(time.Second), throttled(time.Second)},
			want{err: keyvault.ErrThrottled, gets: 3, gaveUp: true, minSleep: []time.Duration{time.Second, time.Second}, maxSleep: []time.Duration{1100 * time.Millisecond, 1100 * time.Millisecond}}},
		{"Budget", &keyvault.RetryOptions{Budget: 10 * time.Second}, []error{throttled(6 * time.Second), throttled(6 * time.Second), throttled(6 * time.Second)},
			want{err: keyvault.ErrThrottled, gets: 2, gaveUp: true, minSleep: []time.Duration{6 * time.Second}, maxSleep: []time.Duration{6600 * time.Millisecond}}},
		{"Disabled", &keyvault.RetryOptions{Disabled: true}, []error{throttled(time.Second)},
			want{err: keyvault.ErrThrottled, gets: 1}},
		{"not found is not retried", nil, []error{keyvault.Classify(404, "SecretNotFound", nil)},
			want{err: keyvault.ErrNotFound, gets: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			st := newScriptStore(t, map[string]string{"a": "1"})
			st.script(tc.errs...)
			var retries atomic.Int64
			ro := &keyvault.RetryOptions{}
			if tc.retry != nil {
				ro = tc.retry
			}
			ro.OnRetry = func(name string, err error, wait time.Duration) {
				assert.Equal(t, "a", name)
				retries.Add(1)
			}
			kv := keyvault.New(st, &keyvault.Options{Clock: clk, Retry: ro})
			v, err := kv.GetSecret(t.Context(), "a")
			if tc.want.err == nil {
				require.NoError(t, err)
				assert.Equal(t, "1", v)
			} else {
				require.ErrorIs(t, err, tc.want.err)
				var se *keyvault.ServiceError
				assert.ErrorAs(t, err, &se, "the last ServiceError stays reachable")
				assert.Equal(t, tc.want.gaveUp, strings.Contains(err.Error(), "gave up after"), err.Error())
			}
			assert.Equal(t, tc.want.gets, st.gets.Load())
			sleeps := clk.Sleeps()
			require.Len(t, sleeps, len(tc.want.minSleep))
			assert.EqualValues(t, len(sleeps), retries.Load())
			for i, d := range sleeps {
				assert.GreaterOrEqual(t, d, tc.want.minSleep[i], "sleep %d", i)
				assert.LessOrEqual(t, d, tc.want.maxSleep[i], "sleep %d", i)
			}
		})
	}
}

func TestRetriesOfWrites(t *testing.T) {
	clk := newFakeClock()
	st := newScriptStore(t, nil)
	kv := keyvault.New(st, &keyvault.Options{Clock: clk})
	st.scriptSet(throttled(time.Second))
	_, err := kv.SetSecret(t.Context(), "a", "1", nil)
	require.NoError(t, err, "a throttled write was not acted on, so it is retried")
	assert.EqualValues(t, 2, st.sets.Load())

	st.scriptSet(unavailable())
	_, err = kv.SetSecret(t.Context(), "a", "2", nil)
	require.ErrorIs(t, err, keyvault.ErrUnavailable, "a write that may have happened is not repeated")
	assert.EqualValues(t, 3, st.sets.Load())
}

func TestRetryStopsShortOfTheDeadline(t *testing.T) {
	st := newScriptStore(t, map[string]string{"a": "1"})
	st.script(throttled(time.Hour))
	kv := keyvault.New(st, &keyvault.Options{Clock: newFakeClock()})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, err := kv.GetSecret(ctx, "a")
	require.ErrorIs(t, err, keyvault.ErrThrottled, "a wait past the deadline gives up at once, with the reason")
	assert.NoError(t, ctx.Err(), "it did not wait into the deadline")
}

func TestRetryEndsWithTheContext(t *testing.T) {
	st := newScriptStore(t, map[string]string{"a": "1"})
	st.script(throttled(0), throttled(0))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	kv := keyvault.New(st, &keyvault.Options{Clock: newFakeClock()})
	_, err := kv.GetSecret(ctx, "a")
	require.ErrorIs(t, err, context.Canceled)
	assert.Same(t, context.Canceled, err, "context errors come back unchanged")
}

func TestRateLimiter(t *testing.T) {
	st := newScriptStore(t, map[string]string{"a": "1", "b": "2"})
	lim := rate.NewLimiter(rate.Every(time.Hour), 1)
	kv := keyvault.New(st, &keyvault.Options{RateLimiter: lim, Cache: &keyvault.CacheOptions{Disabled: true}})
	_, err := kv.GetSecret(t.Context(), "a")
	require.NoError(t, err, "the burst lets the first request through")
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = kv.GetSecret(ctx, "b")
	require.Error(t, err, "the limiter holds the second request past the deadline")
	assert.EqualValues(t, 1, st.gets.Load())
}
