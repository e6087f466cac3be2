package keyvault_test

// Request-path tests: Keyvault over azurevault with default options for
// both (the combination users get), against a scripted Key Vault answered
// in process through azcore's Transport, inside a synctest bubble, so that
// backoffs, latencies and deadlines run on the bubble's fake clock and each
// test is exact and fast.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/azurevault"
	"github.com/go-azureml/secrets/keyvault/memvault"
)

const scriptedVaultURL = "https://scripted.vault.azure.net/"

// scriptedVault answers Key Vault's challenge, then every authorized
// request with answer (after latency). It counts what it sees.
type scriptedVault struct {
	latency  time.Duration
	resource string // the challenge's resource; "" means https://vault.azure.net
	answer   func(r *http.Request) (status int, body string)

	// dropProbes unauthenticated requests (probes for the challenge) lose
	// their connection instead of being answered, after latency.
	dropProbes atomic.Int64

	authorized atomic.Int64 // requests with a bearer token: the attempts
	challenges atomic.Int64 // challenges answered
}

// errConnReset is what a request whose connection was dropped fails with.
var errConnReset = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}

func secretBody(name, value string) string {
	return fmt.Sprintf(`{"value":%q,"id":"https://scripted.vault.azure.net/secrets/%s/0123456789abcdef0123456789abcdef","attributes":{"enabled":true}}`, value, name)
}

func (v *scriptedVault) Do(req *http.Request) (*http.Response, error) {
	if v.latency > 0 {
		t := time.NewTimer(v.latency)
		select {
		case <-t.C:
		case <-req.Context().Done():
			t.Stop()
			return nil, req.Context().Err()
		}
	}
	rec := httptest.NewRecorder()
	if req.Header.Get("Authorization") == "" {
		if v.dropProbes.Add(-1) >= 0 {
			return nil, errConnReset
		}
		v.challenges.Add(1)
		res := v.resource
		if res == "" {
			res = "https://vault.azure.net"
		}
		rec.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/tenant", resource="`+res+`"`)
		rec.WriteHeader(http.StatusUnauthorized)
	} else {
		v.authorized.Add(1)
		status, body := http.StatusOK, ""
		if v.answer != nil {
			status, body = v.answer(req)
		} else {
			name := strings.Split(strings.TrimPrefix(req.URL.Path, "/secrets/"), "/")[0]
			body = secretBody(name, "value-of-"+name)
		}
		rec.Header().Set("Content-Type", "application/json")
		rec.WriteHeader(status)
		_, _ = rec.WriteString(body)
	}
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

type staticCred struct{ calls atomic.Int64 }

func (c *staticCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls.Add(1)
	return azcore.AccessToken{Token: "t", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// newScripted returns a Keyvault with default options over azurevault with
// default options over v, and a counter of OnRetry calls.
func newScripted(t *testing.T, v *scriptedVault, cred azcore.TokenCredential, opts *keyvault.Options) (*keyvault.Keyvault, *atomic.Int64) {
	t.Helper()
	st, err := azurevault.New(scriptedVaultURL, cred, &azurevault.Options{ClientOptions: azcore.ClientOptions{Transport: v}})
	require.NoError(t, err)
	var retries atomic.Int64
	o := keyvault.Options{}
	if opts != nil {
		o = *opts
	}
	ro := keyvault.RetryOptions{}
	if o.Retry != nil {
		ro = *o.Retry
	}
	user := ro.OnRetry
	ro.OnRetry = func(name string, err error, wait time.Duration) {
		retries.Add(1)
		if user != nil {
			user(name, err, wait)
		}
	}
	o.Retry = &ro
	return keyvault.New(st, &o), &retries
}

func TestRequestPathUnavailableGivesUpBeforeTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := &scriptedVault{answer: func(*http.Request) (int, string) {
			return http.StatusServiceUnavailable, `{"error":{"code":"ServiceUnavailable","message":"down"}}`
		}}
		kv, retries := newScripted(t, v, &staticCred{}, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		start := time.Now()
		_, err := kv.GetSecret(ctx, "db-password")
		require.ErrorIs(t, err, keyvault.ErrUnavailable, "the reason, not a bare deadline error")
		assert.NotErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 10*time.Second, "gave up before the deadline")
		assert.NoError(t, ctx.Err())
		assert.Equal(t, retries.Load()+1, v.authorized.Load(), "requests the vault saw = retries reported + 1 (one retry owner)")
		assert.Greater(t, v.authorized.Load(), int64(1), "reads are retried on 503")
		assert.Equal(t, int64(1), v.challenges.Load())
		assert.Contains(t, err.Error(), "get secret db-password: vault unavailable (503 ServiceUnavailable)")
	})
}

func TestRequestPathWritesAndThrottling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 429 with Retry-After 1 s twice, then success: every class is
		// retried by the one owner, and OnRetry sees each retry.
		var n atomic.Int64
		v := &scriptedVault{}
		v.answer = func(r *http.Request) (int, string) {
			if n.Add(1) <= 2 {
				return http.StatusTooManyRequests, `{"error":{"code":"Throttled","message":"slow down"}}`
			}
			return http.StatusOK, secretBody("a", "1")
		}
		kv, retries := newScripted(t, v, &staticCred{}, nil)
		_, err := kv.SetSecret(t.Context(), "a", "1", nil)
		require.NoError(t, err)
		assert.Equal(t, int64(3), v.authorized.Load())
		assert.Equal(t, int64(2), retries.Load())

		// A 503 on a write is not repeated: the vault may have acted.
		v.answer = func(*http.Request) (int, string) { return http.StatusServiceUnavailable, `{}` }
		before := v.authorized.Load()
		_, err = kv.SetSecret(t.Context(), "a", "2", nil)
		require.ErrorIs(t, err, keyvault.ErrUnavailable)
		assert.Equal(t, int64(1), v.authorized.Load()-before)
	})
}

func TestRequestPathPermanentAnswersAreNotRetried(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		body     string
		resource string
		want     error
	}{
		{"400", http.StatusBadRequest, `{"error":{"code":"BadParameter","message":"no"}}`, "", nil},
		{"401", http.StatusUnauthorized, `{"error":{"code":"Unauthorized","message":"no"}}`, "", keyvault.ErrPermission},
		{"403", http.StatusForbidden, `{"error":{"code":"Forbidden","message":"no"}}`, "", keyvault.ErrPermission},
		{"200 not JSON", http.StatusOK, `<html>proxy login</html>`, "", keyvault.ErrBadResponse},
		{"200 not a secret", http.StatusOK, `{"hello":"world"}`, "", keyvault.ErrBadResponse},
		{"challenge for another resource", http.StatusOK, secretBody("a", "1"), "https://management.azure.com", keyvault.ErrBadResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				v := &scriptedVault{resource: tc.resource, answer: func(*http.Request) (int, string) { return tc.status, tc.body }}
				cred := &staticCred{}
				kv, retries := newScripted(t, v, cred, nil)
				_, err := kv.GetSecret(t.Context(), "a")
				require.Error(t, err)
				if tc.want != nil {
					require.ErrorIs(t, err, tc.want)
				}
				assert.NotErrorIs(t, err, keyvault.ErrUnavailable)
				assert.Zero(t, retries.Load(), "no retry")
				assert.Equal(t, int64(1), v.challenges.Load())
				if tc.resource == "" {
					assert.Equal(t, int64(1), v.authorized.Load(), "exactly one request after the challenge")
				} else {
					assert.Zero(t, v.authorized.Load(), "nothing is sent after a challenge for another resource")
					assert.Zero(t, cred.calls.Load(), "no token is fetched for another resource")
					assert.NotContains(t, err.Error(), "management.azure.com", "the server's text is not in the error")
				}
			})
		})
	}
}

func TestRequestPathLoopbackRefusedFailsFastWithHint(t *testing.T) {
	// A port nothing listens on: 127.0.0.1:1 is refused at once.
	st, err := azurevault.New("https://127.0.0.1:1/", nil, nil)
	require.NoError(t, err)
	var retries atomic.Int64
	kv := keyvault.New(st, &keyvault.Options{Retry: &keyvault.RetryOptions{
		OnRetry: func(string, error, time.Duration) { retries.Add(1) },
	}})
	_, err = kv.GetSecret(t.Context(), "db-password")
	require.ErrorIs(t, err, keyvault.ErrUnavailable)
	assert.False(t, keyvault.IsRetryable(err))
	assert.Zero(t, retries.Load(), "a refused loopback connection is final")
	assert.Contains(t, err.Error(), "amlsecrets serve")
	assert.Contains(t, err.Error(), "amlsecrets.env")
}

// panicStore panics on every GetSecret.
type panicStore struct{ keyvault.Store }

func (panicStore) GetSecret(context.Context, string, string) (keyvault.Secret, error) {
	panic("store bug")
}

func recovered(f func()) (r any) {
	defer func() { r = recover() }()
	f()
	return nil
}

func TestRequestPathPanicsReachTheCaller(t *testing.T) {
	t.Run("store, GetSecret", func(t *testing.T) {
		kv := keyvault.New(panicStore{memvault.New()}, nil)
		assert.Equal(t, "store bug", recovered(func() { _, _ = kv.GetSecret(t.Context(), "a") }))
	})
	t.Run("store, GetSecrets batch", func(t *testing.T) {
		kv := keyvault.New(panicStore{memvault.New()}, nil)
		assert.Equal(t, "store bug", recovered(func() { _, _ = kv.GetSecrets(t.Context(), []string{"a", "b", "c"}) }))
	})
	t.Run("OnRetry", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			v := &scriptedVault{answer: func(*http.Request) (int, string) { return http.StatusTooManyRequests, `{}` }}
			kv, _ := newScripted(t, v, &staticCred{}, &keyvault.Options{Retry: &keyvault.RetryOptions{
				OnRetry: func(string, error, time.Duration) { panic("callback bug") },
			}})
			assert.Equal(t, "callback bug", recovered(func() { _, _ = kv.GetSecrets(t.Context(), []string{"a", "b"}) }))
		})
	})
	t.Run("credential", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			kv, _ := newScripted(t, &scriptedVault{}, panicCred{}, nil)
			assert.Equal(t, "credential bug", recovered(func() { _, _ = kv.GetSecret(t.Context(), "a") }))
		})
	})
	t.Run("sharers of a panicking call get an error", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			release := make(chan struct{})
			st := &blockingPanicStore{Store: memvault.New(), release: release}
			kv := keyvault.New(st, nil)
			var wg sync.WaitGroup
			wg.Go(func() {
				assert.Equal(t, "store bug", recovered(func() { _, _ = kv.GetSecret(t.Context(), "a") }))
			})
			synctest.Wait()
			var err error
			wg.Go(func() { _, err = kv.GetSecret(t.Context(), "a") })
			synctest.Wait()
			close(release)
			wg.Wait()
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "store bug")
		})
	})
}

type panicCred struct{}

func (panicCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	panic("credential bug")
}

type blockingPanicStore struct {
	keyvault.Store
	release chan struct{}
}

func (s *blockingPanicStore) GetSecret(context.Context, string, string) (keyvault.Secret, error) {
	<-s.release
	panic("store bug")
}

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("s%d", i)
	}
	return out
}

func TestRequestPathWarmUpGate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rtt = 20 * time.Millisecond
		v := &scriptedVault{latency: rtt}
		cred := &staticCred{}
		st, err := azurevault.New(scriptedVaultURL, cred, &azurevault.Options{ClientOptions: azcore.ClientOptions{Transport: v}})
		require.NoError(t, err)

		// A cold store: the first request meets the challenge alone, then
		// the rest of the batch starts once the token is asked for.
		start := time.Now()
		_, err = keyvault.New(st, nil).GetSecrets(t.Context(), names(64))
		require.NoError(t, err)
		assert.Equal(t, int64(1), cred.calls.Load(), "one token for a cold batch")
		assert.Equal(t, int64(1), v.challenges.Load(), "one challenge")
		assert.Equal(t, 2*rtt, time.Since(start), "the challenge alone, then all 64 GETs together (the gate opens at the token request)")

		// A new Keyvault over the warm store: the batch starts at once.
		start = time.Now()
		_, err = keyvault.New(st, nil).GetSecrets(t.Context(), names(64))
		require.NoError(t, err)
		assert.Equal(t, rtt, time.Since(start), "one round trip: the gate belongs to the store, not the Keyvault")
		start = time.Now()
		_, err = keyvault.New(st, nil).GetSecret(t.Context(), "s1")
		require.NoError(t, err)
		assert.Equal(t, rtt, time.Since(start))
	})
}

// TestRequestPathWarmUpGateAfterADrop: a cold batch whose first request
// gets no answer (its connection dropped) still meets the challenge with one
// request at a time, so the vault sees one challenge and the credential one
// token request, not one per request of the batch.
func TestRequestPathWarmUpGateAfterADrop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := &scriptedVault{latency: 20 * time.Millisecond}
		v.dropProbes.Store(1)
		cred := &staticCred{}
		kv, retries := newScripted(t, v, cred, nil)
		got, err := kv.GetSecrets(t.Context(), names(64))
		require.NoError(t, err)
		assert.Len(t, got, 64)
		assert.Equal(t, int64(1), v.challenges.Load(), "one challenge answered")
		assert.Equal(t, int64(1), cred.calls.Load(), "one token")
		assert.Equal(t, int64(1), retries.Load(), "the dropped request, retried")
		assert.Equal(t, int64(64), v.authorized.Load())
	})
}

// TestRequestPathWarmUpGateAfterACancel: a cold store's first request whose
// caller gives up before the answer leaves the gate shut, so the batch that
// follows still meets the challenge once.
func TestRequestPathWarmUpGateAfterACancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := &scriptedVault{latency: 20 * time.Millisecond}
		cred := &staticCred{}
		kv, _ := newScripted(t, v, cred, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
		_, err := kv.GetSecret(ctx, "s0")
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, int64(0), v.challenges.Load())

		_, err = kv.GetSecrets(t.Context(), names(64))
		require.NoError(t, err)
		assert.Equal(t, int64(1), v.challenges.Load(), "one challenge answered")
		assert.Equal(t, int64(1), cred.calls.Load(), "one token")
	})
}

// TestRequestPathWarmUpGateUnreachable: a vault that never answers (every
// connection dropped, each after a long wait) opens the gate after the
// second request that got no answer, so a batch's calls fail side by side
// in the time one call takes, not one after another.
func TestRequestPathWarmUpGateUnreachable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const hang = 10 * time.Second
		one := &scriptedVault{latency: hang}
		one.dropProbes.Store(1 << 40)
		ro := &keyvault.RetryOptions{MaxAttempts: 3}
		kv1, _ := newScripted(t, one, &staticCred{}, &keyvault.Options{Retry: ro})
		start := time.Now()
		_, err := kv1.GetSecret(t.Context(), "s0")
		require.ErrorIs(t, err, keyvault.ErrUnavailable)
		alone := time.Since(start)

		batch := &scriptedVault{latency: hang}
		batch.dropProbes.Store(1 << 40)
		kv, _ := newScripted(t, batch, &staticCred{}, &keyvault.Options{Retry: ro})
		start = time.Now()
		_, err = kv.GetSecrets(t.Context(), names(64))
		var be *keyvault.BatchError
		require.ErrorAs(t, err, &be)
		assert.Len(t, be.Failed, 64)
		assert.Less(t, time.Since(start), alone+3*hang, "64 calls that get no answer fail side by side (one call alone: %v)", alone)
	})
}

func TestRequestPathEachCallersContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := &scriptedVault{latency: 3 * time.Second}
		kv, _ := newScripted(t, v, &staticCred{}, nil)
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = kv.GetSecret(t.Context(), "a") })
		synctest.Wait()
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := kv.GetSecret(ctx, "a")
		require.True(t, errors.Is(err, context.DeadlineExceeded))
		assert.Equal(t, 100*time.Millisecond, time.Since(start), "a sharer returns at its own deadline")
		wg.Wait()
	})
}
