package keyvault_test

// Fault tests: Keyvault over azurevault over the keyvaulttest emulator, with
// the emulator's fault knobs. Each call must come back with the right value
// or a typed error, within its context, and leave no goroutine behind.

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/azurevault"
	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
)

type faultEnv struct {
	srv     *keyvaulttest.Server
	kv      *keyvault.Keyvault
	mu      sync.Mutex
	retries []time.Duration // waits reported by OnRetry
}

func (e *faultEnv) waits() []time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]time.Duration(nil), e.retries...)
}

// newFaultEnv starts an emulator holding secrets and returns a Keyvault over
// it, both with the options users get by default (azurevault leaves every
// retry to the Keyvault's retry layer). The goroutine check runs after the
// server is closed.
func newFaultEnv(t *testing.T, secrets map[string]string, opts *keyvault.Options) *faultEnv {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	e := &faultEnv{srv: keyvaulttest.NewServer(nil)}
	t.Cleanup(e.srv.Close)
	st, err := azurevault.New(e.srv.VaultURL(), e.srv.Credential(), &azurevault.Options{ClientOptions: e.srv.ClientOptions()})
	require.NoError(t, err)
	if opts == nil {
		opts = &keyvault.Options{}
	}
	o := *opts
	ro := keyvault.RetryOptions{}
	if o.Retry != nil {
		ro = *o.Retry
	}
	ro.OnRetry = func(_ string, _ error, wait time.Duration) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.retries = append(e.retries, wait)
	}
	o.Retry = &ro
	e.kv = keyvault.New(st, &o)
	if len(secrets) > 0 {
		require.NoError(t, e.kv.SetSecrets(t.Context(), secrets))
		e.kv.Invalidate()
	}
	e.srv.ResetStats()
	return e
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestFaultThrottledWithRetryAfter(t *testing.T) {
	secrets := map[string]string{"a": "1", "b": "2", "c": "3", "d": "4"}
	e := newFaultEnv(t, secrets, nil)
	e.srv.SetThrottle(2, time.Second)
	got, err := e.kv.GetSecrets(ctxTimeout(t, 10*time.Second), []string{"a", "b", "c", "d"})
	require.NoError(t, err)
	assert.Equal(t, secrets, got)
	st := e.srv.Stats()
	assert.Positive(t, st.Count(keyvaulttest.RouteGetSecret, http.StatusTooManyRequests))
	require.NotEmpty(t, e.waits())
	for _, w := range e.waits() {
		assert.GreaterOrEqual(t, w, time.Second, "the emulator's Retry-After (whole seconds) is honoured")
	}
}

func TestFaultThrottledRetryAfterPastAzcoreMaxRetryDelay(t *testing.T) {
	// azcore on its own gives up when Retry-After exceeds its MaxRetryDelay;
	// Keyvault waits it out (up to RetryOptions.MaxDelay).
	e := newFaultEnv(t, map[string]string{"a": "1", "b": "2"}, nil)
	_, err := e.kv.GetSecret(t.Context(), "a") // warm: token and connection
	require.NoError(t, err)
	e.srv.SetThrottle(1, time.Second)
	co := e.srv.ClientOptions()
	co.Retry.MaxRetryDelay = 100 * time.Millisecond // so that a 1 s Retry-After is past it
	st, err := azurevault.New(e.srv.VaultURL(), e.srv.Credential(), &azurevault.Options{ClientOptions: co})
	require.NoError(t, err)
	kv := keyvault.New(st, nil)
	got, err := kv.GetSecrets(ctxTimeout(t, 10*time.Second), []string{"a", "b"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"a": "1", "b": "2"}, got)
}

func TestFaultThrottledWithoutRetryAfter(t *testing.T) {
	e := newFaultEnv(t, map[string]string{"a": "1"}, nil)
	e.srv.FailNext(3, http.StatusTooManyRequests) // injected 429s carry no Retry-After
	v, err := e.kv.GetSecret(ctxTimeout(t, 10*time.Second), "a")
	require.NoError(t, err)
	assert.Equal(t, "1", v)
	waits := e.waits()
	require.Len(t, waits, 3)
	for i, w := range waits {
		assert.LessOrEqual(t, w, keyvault.DefaultRetryBaseDelay<<i, "full-jitter exponential backoff from 250 ms")
	}
}

func TestFaultThrottledPastTheDeadline(t *testing.T) {
	// With azcore's own 429 retries on, azcore would sleep out a Retry-After
	// up to its MaxRetryDelay and return only a context error at the
	// deadline; Keyvault's loop says "throttled" at once.
	e := newFaultEnv(t, map[string]string{"a": "1", "b": "2"}, nil)
	_, err := e.kv.GetSecret(t.Context(), "a")
	require.NoError(t, err)
	e.srv.SetThrottle(1, time.Minute) // Retry-After: the rest of the minute
	_, err = e.kv.GetSecret(t.Context(), "a")
	require.NoError(t, err, "served from the cache")
	_, err = e.kv.Refresh(t.Context(), "a") // takes the one request of the window
	require.NoError(t, err)
	ctx := ctxTimeout(t, 2*time.Second)
	_, err = e.kv.GetSecret(ctx, "b")
	require.ErrorIs(t, err, keyvault.ErrThrottled)
	var re *azcore.ResponseError
	require.ErrorAs(t, err, &re, "the SDK's error stays reachable")
	assert.Equal(t, http.StatusTooManyRequests, re.StatusCode)
	assert.NoError(t, ctx.Err(), "a wait past the deadline gives up at once, with the reason, rather than wait into the deadline")
}

func TestFaultUnavailable(t *testing.T) {
	t.Run("read retried by Keyvault", func(t *testing.T) {
		e := newFaultEnv(t, map[string]string{"a": "1"}, nil)
		e.srv.FailNext(2, http.StatusServiceUnavailable)
		v, err := e.kv.GetSecret(ctxTimeout(t, 10*time.Second), "a")
		require.NoError(t, err)
		assert.Equal(t, "1", v)
		assert.Len(t, e.waits(), 2)
	})
	t.Run("write not repeated by Keyvault", func(t *testing.T) {
		e := newFaultEnv(t, nil, nil)
		e.srv.FailNext(1, http.StatusServiceUnavailable)
		_, err := e.kv.SetSecret(ctxTimeout(t, 10*time.Second), "a", "1", nil)
		require.ErrorIs(t, err, keyvault.ErrUnavailable)
		assert.Equal(t, "set secret a: vault unavailable (503 ServiceUnavailable)", err.Error())
	})
	t.Run("stale value served while unavailable", func(t *testing.T) {
		var stale []string
		clk := newFakeClock() // expiry on an injected clock: no race with a timer
		e := newFaultEnv(t, map[string]string{"a": "1"}, &keyvault.Options{Clock: clk, Cache: &keyvault.CacheOptions{
			TTL:     time.Millisecond,
			Jitter:  -1,
			OnStale: func(name string, err error) { stale = append(stale, name) },
		}})
		_, err := e.kv.GetSecret(t.Context(), "a")
		require.NoError(t, err)
		clk.Advance(time.Second) // past the 1 ms TTL
		e.srv.FailNext(1, http.StatusServiceUnavailable)
		v, err := e.kv.GetSecret(ctxTimeout(t, 10*time.Second), "a")
		require.NoError(t, err)
		assert.Equal(t, "1", v)
		assert.Equal(t, []string{"a"}, stale)
	})
}

func TestFaultDroppedConnection(t *testing.T) {
	t.Run("read", func(t *testing.T) {
		e := newFaultEnv(t, map[string]string{"a": "1"}, nil)
		e.srv.DropNext(2)
		v, err := e.kv.GetSecret(ctxTimeout(t, 10*time.Second), "a")
		require.NoError(t, err)
		assert.Equal(t, "1", v)
		assert.Equal(t, 2, e.srv.Stats().Dropped)
	})
	t.Run("write", func(t *testing.T) {
		e := newFaultEnv(t, nil, nil)
		e.srv.DropNext(1)
		_, err := e.kv.SetSecret(ctxTimeout(t, 10*time.Second), "a", "1", nil)
		require.ErrorIs(t, err, keyvault.ErrUnavailable, "a dropped write may or may not have happened: typed, not repeated")
		assert.NotContains(t, err.Error(), `"1"`)
	})
}

func TestFaultSlowServer(t *testing.T) {
	e := newFaultEnv(t, map[string]string{"a": "1"}, nil)
	e.srv.SetLatency(5 * time.Second)
	for _, tc := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"get", func(ctx context.Context) error { _, err := e.kv.GetSecret(ctx, "a"); return err }},
		{"get batch", func(ctx context.Context) error { _, err := e.kv.GetSecrets(ctx, []string{"a", "b"}); return err }},
		{"set", func(ctx context.Context) error { _, err := e.kv.SetSecret(ctx, "b", "2", nil); return err }},
		{"list", func(ctx context.Context) error { _, err := e.kv.ListSecrets(ctx); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := tc.call(ctxTimeout(t, 200*time.Millisecond))
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Less(t, time.Since(start), 5*time.Second, "returns at its deadline, not after the server's 5 s latency")
		})
	}
	e.srv.SetLatency(0)
}

func TestFaultTruncatedBody(t *testing.T) {
	t.Run("read", func(t *testing.T) {
		e := newFaultEnv(t, map[string]string{"a": "1"}, nil)
		e.srv.TruncateNext(1)
		v, err := e.kv.GetSecret(ctxTimeout(t, 10*time.Second), "a")
		require.NoError(t, err)
		assert.Equal(t, "1", v, "the cut response is retried, never taken as a value")
		assert.Equal(t, 1, e.srv.Stats().Truncated)
	})
	t.Run("write", func(t *testing.T) {
		e := newFaultEnv(t, nil, nil)
		e.srv.TruncateNext(1)
		_, err := e.kv.SetSecret(ctxTimeout(t, 10*time.Second), "a", "1", nil)
		require.ErrorIs(t, err, keyvault.ErrUnavailable)
		v, err := e.kv.GetSecret(ctxTimeout(t, 10*time.Second), "a")
		require.NoError(t, err, "the truncated write took effect; the cache did not keep a guess")
		assert.Equal(t, "1", v)
	})
}

func TestFaultCanceledWhileWaiting(t *testing.T) {
	e := newFaultEnv(t, map[string]string{"a": "1"}, nil)
	e.srv.FailNext(100, http.StatusTooManyRequests)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { _, err := e.kv.GetSecret(ctx, "a"); errc <- err }()
	require.Eventually(t, func() bool { return len(e.waits()) > 0 }, 5*time.Second, time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		require.True(t, errors.Is(err, context.Canceled), "got %v", err)
	case <-time.After(2 * time.Second):
		t.Fatal("GetSecret did not return after its context was canceled")
	}
}

func TestFaultStaleWhileThrottled(t *testing.T) {
	// With azcore's 429 retries off, a throttled refresh falls back to the
	// cached value at once; with them on, azcore would first sleep out the
	// Retry-After (here a minute, within its MaxRetryDelay).
	var stale []error
	clk := newFakeClock() // expiry on an injected clock: no race with a timer
	e := newFaultEnv(t, map[string]string{"a": "1"}, &keyvault.Options{Clock: clk, Cache: &keyvault.CacheOptions{
		TTL:     time.Millisecond,
		Jitter:  -1,
		OnStale: func(_ string, err error) { stale = append(stale, err) },
	}})
	_, err := e.kv.GetSecret(t.Context(), "a")
	require.NoError(t, err)
	e.srv.SetThrottle(1, time.Minute)
	_, err = e.kv.Refresh(t.Context(), "a") // takes the one request of the window
	require.NoError(t, err)
	clk.Advance(time.Second) // past the 1 ms TTL
	ctx := ctxTimeout(t, 10*time.Second)
	v, err := e.kv.GetSecret(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, "1", v)
	assert.NoError(t, ctx.Err(), "the stale value is served at once, not after the minute's Retry-After")
	require.Len(t, stale, 1)
	assert.ErrorIs(t, stale[0], keyvault.ErrThrottled)
}
