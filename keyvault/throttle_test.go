package keyvault_test

import (
	"context"
	"fmt"
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

// windowStore is memvault behind a vault-style throttle: limit GETs per
// fixed one-second window, then 429 with a Retry-After to the window's end
// (in whole seconds, as Key Vault sends it). It records when each GET
// arrived and how many were in flight at most.
type windowStore struct {
	*memvault.Store
	start            time.Time
	limit            int
	mu               sync.Mutex
	window, count    int
	gets, throttled  int
	arrivals         []time.Duration
	inflight, maxInf int
	alwaysThrottle   int           // the first this many GETs are throttled whatever the count
	throttleLatency  time.Duration // how long a 429 takes to come back
}

func newWindowStore(t *testing.T, limit int, names ...string) *windowStore {
	s := &windowStore{Store: memvault.New(), start: time.Now(), limit: limit}
	for _, n := range names {
		_, err := s.Store.SetSecret(t.Context(), n, "v-"+n, nil)
		require.NoError(t, err)
	}
	return s
}

func (s *windowStore) GetSecret(ctx context.Context, name, version string) (keyvault.Secret, error) {
	s.mu.Lock()
	now := time.Since(s.start)
	s.gets++
	s.arrivals = append(s.arrivals, now)
	if w := int(now / time.Second); w != s.window {
		s.window, s.count = w, 0
	}
	s.count++
	if s.count > s.limit || s.gets <= s.alwaysThrottle {
		s.throttled++
		retryAfter := max(time.Second, time.Duration(s.window+1)*time.Second-now).Round(time.Second)
		s.mu.Unlock()
		se := keyvault.Classify(429, "Throttled", nil)
		se.RetryAfter = retryAfter
		time.Sleep(s.throttleLatency)
		return keyvault.Secret{}, se
	}
	s.inflight++
	s.maxInf = max(s.maxInf, s.inflight)
	s.mu.Unlock()
	time.Sleep(10 * time.Millisecond) // a round trip
	s.mu.Lock()
	s.inflight--
	s.mu.Unlock()
	return s.Store.GetSecret(ctx, name, version)
}

// herdOfOne runs calls concurrent GetSecret calls through one Keyvault (one
// process) and returns the store and the retries OnRetry reported.
func herdOfOne(t *testing.T, calls, limit int, independent bool) (*windowStore, int64) {
	names := make([]string, calls)
	for i := range names {
		names[i] = fmt.Sprintf("s%02d", i)
	}
	st := newWindowStore(t, limit, names...)
	var retries atomic.Int64
	kv := keyvault.New(st, &keyvault.Options{
		Cache: &keyvault.CacheOptions{Disabled: true},
		Retry: &keyvault.RetryOptions{
			IndependentThrottling: independent,
			OnRetry:               func(string, error, time.Duration) { retries.Add(1) },
		},
	})
	got, err := kv.GetSecrets(t.Context(), names)
	require.NoError(t, err)
	require.Len(t, got, calls)
	return st, retries.Load()
}

func TestThrottleSharedWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared, sharedRetries := herdOfOne(t, 12, 3, false)
		assert.EqualValues(t, shared.gets-12, sharedRetries, "every retry is reported: requests = retries + 1 per call")
		assert.Equal(t, shared.gets-12, shared.throttled)

		indep, indepRetries := herdOfOne(t, 12, 3, true)
		assert.EqualValues(t, indep.gets-12, indepRetries)
		t.Logf("429s: shared %d, independent %d", shared.throttled, indep.throttled)
		assert.Less(t, shared.throttled, indep.throttled, "a process that shares its throttle window gets fewer 429s than one whose calls retry alone")
		// The first window throttles 9 of 12; after it, at most a couple of
		// 429s per window while slow start finds the room.
		assert.LessOrEqual(t, shared.throttled, 9+2*4)
	})
}

func TestThrottleWindowHoldsFirstAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newWindowStore(t, 100, "a", "b")
		st.alwaysThrottle = 1
		kv := keyvault.New(st, &keyvault.Options{Cache: &keyvault.CacheOptions{Disabled: true}, Retry: &keyvault.RetryOptions{}})
		done := make(chan error, 1)
		go func() { _, err := kv.GetSecret(t.Context(), "a"); done <- err }()
		synctest.Wait() // "a" was throttled: the store's window is set
		time.Sleep(100 * time.Millisecond)
		_, err := kv.GetSecret(t.Context(), "b")
		require.NoError(t, err)
		require.NoError(t, <-done)
		require.Len(t, st.arrivals, 3)
		assert.GreaterOrEqual(t, st.arrivals[1], time.Second, "a first attempt waits for the window another call's 429 set")
		assert.GreaterOrEqual(t, st.arrivals[2], time.Second)
	})
}

func TestThrottleProbeThenAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		names := []string{"a", "b", "c", "d", "e"}
		st := newWindowStore(t, 100, names...)
		st.alwaysThrottle = 5 // the first wave
		st.throttleLatency = 10 * time.Millisecond
		var retries atomic.Int64
		kv := keyvault.New(st, &keyvault.Options{
			Cache: &keyvault.CacheOptions{Disabled: true},
			Retry: &keyvault.RetryOptions{OnRetry: func(string, error, time.Duration) { retries.Add(1) }},
		})
		got, err := kv.GetSecrets(t.Context(), names)
		require.NoError(t, err)
		require.Len(t, got, 5)
		require.Len(t, st.arrivals, 10)
		assert.EqualValues(t, 5, retries.Load(), "requests = retries + 1 per call")
		for _, a := range st.arrivals[:5] {
			assert.Zero(t, a, "the first wave goes at once")
		}
		probe := st.arrivals[5]
		assert.GreaterOrEqual(t, probe, time.Second, "after the window")
		for _, a := range st.arrivals[6:] {
			assert.GreaterOrEqual(t, a, probe+10*time.Millisecond, "the others wait for the probe's answer")
		}
		assert.Equal(t, st.arrivals[6], st.arrivals[9], "then they go together")
	})
}

func TestThrottleHerdSpread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newWindowStore(t, 100, "a")
		spread := keyvault.ThrottleSpread()
		st.alwaysThrottle = 2 + len(spread) + 1
		var waits []time.Duration
		kv := keyvault.New(st, &keyvault.Options{
			Cache: &keyvault.CacheOptions{Disabled: true},
			Retry: &keyvault.RetryOptions{OnRetry: func(_ string, _ error, d time.Duration) { waits = append(waits, d) }},
		})
		_, err := kv.GetSecret(t.Context(), "a")
		require.NoError(t, err)
		require.Len(t, waits, st.alwaysThrottle)
		for i, d := range waits {
			lo, hi := time.Second, 1050*time.Millisecond // the Retry-After and its 5% jitter
			if j := i - 2; j >= 0 && j < len(spread) {
				lo, hi = time.Duration(spread[j][0]*float64(lo)), time.Duration(spread[j][1]*float64(hi))
			}
			assert.GreaterOrEqual(t, d, lo, "window %d", i+1)
			assert.LessOrEqual(t, d, hi, "window %d", i+1)
		}
		for _, d := range waits[:2] {
			assert.LessOrEqual(t, d, 1050*time.Millisecond, "two throttled windows are not yet a herd")
		}

		// One accepted request ends the streak, once a window has passed.
		time.Sleep(2 * time.Second)
		waits = nil
		st.mu.Lock()
		st.alwaysThrottle = st.gets + 3
		st.mu.Unlock()
		_, err = kv.GetSecret(t.Context(), "a")
		require.NoError(t, err)
		require.Len(t, waits, 3)
		for _, d := range waits[:2] {
			assert.LessOrEqual(t, d, 1050*time.Millisecond)
		}
		assert.GreaterOrEqual(t, waits[2], time.Duration(spread[0][0]*float64(time.Second)), "the third window of the new streak spreads")

		// Throttled again right after the accepted request: the window
		// filled before this call got in, and the streak goes on.
		waits = nil
		st.mu.Lock()
		st.alwaysThrottle = st.gets + 1
		st.mu.Unlock()
		_, err = kv.GetSecret(t.Context(), "a")
		require.NoError(t, err)
		require.Len(t, waits, 1)
		assert.GreaterOrEqual(t, waits[0], time.Duration(spread[1][0]*float64(time.Second)), "the streak's fourth window")
		assert.LessOrEqual(t, waits[0], time.Duration(spread[1][1]*1050*float64(time.Millisecond)))
	})
}
