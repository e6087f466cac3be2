package keyvault_test

import (
	"context"
	"errors"
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

// countingStore counts the latest-version reads of a memvault store and
// fails the next failNext of them with failErr.
type countingStore struct {
	*memvault.Store
	gets     atomic.Int64
	failNext atomic.Int64
	failErr  error
}

func (s *countingStore) GetSecret(ctx context.Context, name, version string) (keyvault.Secret, error) {
	s.gets.Add(1)
	if s.failNext.Add(-1) >= 0 {
		return keyvault.Secret{}, s.failErr
	}
	return s.Store.GetSecret(ctx, name, version)
}

// watchItem is one yield of a watch.
type watchItem struct {
	s   keyvault.Secret
	err error
}

// collect runs a watch in a goroutine and sends its yields to the returned
// channel; stop cancels it and waits for it to end.
func collect(kv *keyvault.Keyvault, name string, opts *keyvault.WatchOptions) (<-chan watchItem, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan watchItem, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for s, err := range kv.Watch(ctx, name, opts) {
			ch <- watchItem{s, err}
		}
	}()
	return ch, func() { cancel(); <-done }
}

var fast = &keyvault.WatchOptions{Interval: 100 * time.Millisecond, Jitter: -1}

func TestWatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &countingStore{Store: memvault.New()}
		kv := keyvault.New(st, nil)
		ctx := context.Background()
		p1, err := kv.SetSecret(ctx, "db-password", "v1", nil)
		require.NoError(t, err)

		ch, stop := collect(kv, "db-password", fast)
		it := <-ch
		require.NoError(t, it.err)
		assert.Equal(t, p1.Version, it.s.Version)
		assert.Equal(t, "v1", it.s.Value.Reveal())

		// Nothing changed for ten intervals: no yield, one GET each.
		st.gets.Store(0)
		time.Sleep(time.Second + time.Millisecond)
		synctest.Wait()
		assert.Empty(t, ch, "no duplicate")
		assert.Equal(t, int64(10), st.gets.Load())

		// A new version is seen at the next poll, and refreshes the cache.
		p2, err := kv.SetSecret(ctx, "db-password", "v2", &keyvault.SetSecretOptions{Tags: map[string]string{"k": "v"}})
		require.NoError(t, err)
		start := time.Now()
		it = <-ch
		require.NoError(t, it.err)
		assert.Equal(t, p2.Version, it.s.Version)
		assert.LessOrEqual(t, time.Since(start), 100*time.Millisecond)
		gets := st.gets.Load()
		v, err := kv.GetSecret(ctx, "db-password")
		require.NoError(t, err)
		assert.Equal(t, "v2", v)
		assert.Equal(t, gets, st.gets.Load(), "the watched value is in the cache")

		// A changed expiry or enabled state of the latest version is yielded.
		exp := time.Now().Add(time.Hour).Truncate(time.Second)
		_, err = kv.UpdateSecretProperties(ctx, "db-password", p2.Version, &keyvault.UpdateSecretPropertiesOptions{Expires: &exp})
		require.NoError(t, err)
		it = <-ch
		require.NoError(t, it.err)
		assert.True(t, it.s.Expires.Equal(exp))
		stop()
	})
}

func TestWatchSharesOnePoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &countingStore{Store: memvault.New()}
		kv := keyvault.New(st, nil)
		_, err := kv.SetSecret(context.Background(), "db-password", "v1", nil)
		require.NoError(t, err)
		var (
			stops []func()
			chans []<-chan watchItem
		)
		for range 100 {
			ch, stop := collect(kv, "DB-Password", fast) // any letter case: one name
			chans = append(chans, ch)
			stops = append(stops, stop)
		}
		for _, ch := range chans {
			it := <-ch
			require.NoError(t, it.err)
			assert.Equal(t, "v1", it.s.Value.Reveal())
		}
		st.gets.Store(0)
		time.Sleep(time.Second + time.Millisecond)
		synctest.Wait()
		assert.Equal(t, int64(10), st.gets.Load(), "100 watches, 10 intervals: 10 GETs")

		_, err = kv.SetSecret(context.Background(), "db-password", "v2", nil)
		require.NoError(t, err)
		for _, ch := range chans {
			it := <-ch
			require.NoError(t, it.err)
			assert.Equal(t, "v2", it.s.Value.Reveal())
		}
		// Watches leave one by one; the last stops the poll.
		for _, stop := range stops {
			stop()
		}
		synctest.Wait()
		gets := st.gets.Load()
		time.Sleep(time.Second)
		assert.Equal(t, gets, st.gets.Load(), "no poll after the last watch ended")
	})
}

func TestWatchSurvivesFailures(t *testing.T) {
	for _, failErr := range []error{keyvault.ErrUnavailable, keyvault.ErrThrottled} {
		t.Run(failErr.Error(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := &countingStore{Store: memvault.New(), failErr: failErr}
				kv := keyvault.New(st, &keyvault.Options{Retry: &keyvault.RetryOptions{Disabled: true}})
				_, err := kv.SetSecret(context.Background(), "db-password", "v1", nil)
				require.NoError(t, err)
				ch, stop := collect(kv, "db-password", fast)
				defer stop()
				require.NoError(t, (<-ch).err)

				st.failNext.Store(5)
				for range 5 {
					it := <-ch
					require.Error(t, it.err)
					assert.ErrorIs(t, it.err, failErr)
					assert.Contains(t, it.err.Error(), "db-password")
				}
				// After the burst, the same version is not yielded again...
				time.Sleep(time.Second)
				synctest.Wait()
				assert.Empty(t, ch)
				// ... and a new one is.
				_, err = kv.SetSecret(context.Background(), "db-password", "v2", nil)
				require.NoError(t, err)
				it := <-ch
				require.NoError(t, it.err)
				assert.Equal(t, "v2", it.s.Value.Reveal())
			})
		})
	}
}

func TestWatchEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kv := keyvault.New(memvault.New(), nil)
		_, err := kv.SetSecret(context.Background(), "a", "1", nil)
		require.NoError(t, err)

		// break ends it; the poll goroutine is gone when the loop returns.
		n := 0
		for _, err := range kv.Watch(context.Background(), "a", fast) {
			require.NoError(t, err)
			n++
			break
		}
		assert.Equal(t, 1, n)

		// A missing secret yields errors, and the watch goes on until ctx ends.
		ctx, cancel := context.WithTimeout(context.Background(), 350*time.Millisecond)
		defer cancel()
		var errs int
		for _, err := range kv.Watch(ctx, "missing", fast) {
			assert.ErrorIs(t, err, keyvault.ErrNotFound)
			errs++
		}
		assert.Equal(t, 4, errs, "at 0, 100, 200 and 300 ms")

		// An invalid name: one error, then the end.
		errs = 0
		for _, err := range kv.Watch(context.Background(), "bad_name", nil) {
			assert.ErrorIs(t, err, keyvault.ErrInvalidName)
			errs++
		}
		assert.Equal(t, 1, errs)
	})
}

func TestWatchDefaultInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &countingStore{Store: memvault.New()}
		kv := keyvault.New(st, nil)
		_, err := kv.SetSecret(context.Background(), "a", "1", nil)
		require.NoError(t, err)
		ch, stop := collect(kv, "a", nil)
		defer stop()
		<-ch
		st.gets.Store(0)
		time.Sleep(keyvault.DefaultWatchInterval - time.Duration(keyvault.DefaultWatchJitter*float64(keyvault.DefaultWatchInterval)) - time.Millisecond)
		synctest.Wait()
		assert.Zero(t, st.gets.Load(), "no poll before the jittered minute")
		time.Sleep(time.Duration(keyvault.DefaultWatchJitter*float64(keyvault.DefaultWatchInterval)) + 2*time.Millisecond)
		synctest.Wait()
		assert.Equal(t, int64(1), st.gets.Load(), "one poll within the minute")

		// A watch with a shorter interval joining makes the poll faster.
		ch2, stop2 := collect(kv, "a", fast)
		defer stop2()
		<-ch2           // at once, from the poll's last result
		synctest.Wait() // and the poll starts over at once, at the new interval
		st.gets.Store(0)
		time.Sleep(time.Second + time.Millisecond)
		synctest.Wait()
		assert.Equal(t, int64(10), st.gets.Load())
	})
}

func TestCacheHonoursExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &countingStore{Store: memvault.New()}
		kv := keyvault.New(st, nil)
		ctx := context.Background()
		exp := time.Now().Add(2 * time.Second)
		_, err := st.Store.SetSecret(ctx, "short-lived", "v1", &keyvault.SetSecretOptions{Expires: exp})
		require.NoError(t, err)

		get := func() string {
			t.Helper()
			v, err := kv.GetSecret(ctx, "short-lived")
			require.NoError(t, err)
			return v
		}
		assert.Equal(t, "v1", get())
		assert.Equal(t, "v1", get())
		assert.Equal(t, int64(1), st.gets.Load(), "cached before Expires")
		time.Sleep(time.Until(exp) - time.Millisecond)
		assert.Equal(t, "v1", get())
		assert.Equal(t, int64(1), st.gets.Load())

		time.Sleep(time.Millisecond) // now == Expires
		assert.Equal(t, "v1", get(), "Key Vault serves an expired secret; so does the Keyvault")
		assert.Equal(t, int64(2), st.gets.Load(), "not from the cache after Expires")
		assert.Equal(t, "v1", get())
		assert.Equal(t, int64(3), st.gets.Load(), "an expired secret is never cached")

		// Not even as a stale fallback while the vault is unavailable.
		_, err = st.Store.SetSecret(ctx, "soon", "v1", &keyvault.SetSecretOptions{Expires: time.Now().Add(time.Hour)})
		require.NoError(t, err)
		kvStale := keyvault.New(st, &keyvault.Options{Cache: &keyvault.CacheOptions{TTL: time.Minute, Jitter: -1}, Retry: &keyvault.RetryOptions{Disabled: true}})
		_, err = kvStale.GetSecret(ctx, "soon")
		require.NoError(t, err)
		st.failErr = keyvault.ErrUnavailable
		st.failNext.Store(1)
		time.Sleep(2 * time.Minute)
		v, err := kvStale.GetSecret(ctx, "soon")
		require.NoError(t, err, "stale value served before Expires")
		assert.Equal(t, "v1", v)
		time.Sleep(time.Hour)
		st.failNext.Store(1)
		_, err = kvStale.GetSecret(ctx, "soon")
		assert.ErrorIs(t, err, keyvault.ErrUnavailable, "past Expires: no stale value")
	})
}

// TestWatchConcurrentJoinLeave joins and leaves watches of one name from
// many goroutines, for the race detector.
func TestWatchConcurrentJoinLeave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kv := keyvault.New(memvault.New(), nil)
		_, err := kv.SetSecret(context.Background(), "a", "1", nil)
		require.NoError(t, err)
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i*10)*time.Millisecond+time.Millisecond)
				defer cancel()
				for _, err := range kv.Watch(ctx, "a", fast) {
					if err != nil && !errors.Is(err, context.DeadlineExceeded) {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
	})
}

// The Done-when figures, against the emulator (real HTTPS on loopback, real
// time: the emulator's network is outside any synctest bubble).
// pollSignal is a store that tells, on a channel, each time a read starts.
type pollSignal struct {
	keyvault.Store
	polls chan struct{}
}

func (s *pollSignal) GetSecret(ctx context.Context, name, version string) (keyvault.Secret, error) {
	select {
	case s.polls <- struct{}{}:
	default: // nobody is counting
	}
	return s.Store.GetSecret(ctx, name, version)
}

// within fails the test if ch yields nothing for a long while: a guard
// against a hang, not a bound on how fast anything is.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s after 30 s", what)
		panic("unreachable")
	}
}

// Watch over the real wire (azurevault against the emulator). The timing of
// polls is checked on a fake clock by the tests above; these count events.
func TestWatchAgainstEmulator(t *testing.T) {
	e := newFaultEnv(t, map[string]string{"db-password": "v1"}, &keyvault.Options{Retry: &keyvault.RetryOptions{MaxAttempts: 1}})
	opts := &keyvault.WatchOptions{Interval: 100 * time.Millisecond}

	t.Run("a new version, and no duplicate of an unchanged one", func(t *testing.T) {
		sig := &pollSignal{Store: e.kv.Store(), polls: make(chan struct{})}
		kv := keyvault.New(sig, &keyvault.Options{Retry: &keyvault.RetryOptions{MaxAttempts: 1}})
		ch, stop := collect(kv, "db-password", opts)
		defer stop()
		within(t, sig.polls, "first poll")
		it := within(t, ch, "first value")
		require.NoError(t, it.err)
		assert.Equal(t, "v1", it.s.Value.Reveal())
		// Polls run one after another: when the sixth starts, whatever the
		// first five would have sent is in ch.
		for i := range 5 {
			within(t, sig.polls, fmt.Sprintf("poll %d", i+2))
		}
		assert.Empty(t, ch, "no duplicate of an unchanged secret over five polls")

		_, err := e.kv.SetSecret(t.Context(), "db-password", "v2", nil)
		require.NoError(t, err)
		go func() { // keep the polls flowing
			for range sig.polls {
			}
		}()
		it = within(t, ch, "new version")
		require.NoError(t, it.err)
		assert.Equal(t, "v2", it.s.Value.Reveal())
		stop()
		close(sig.polls)
	})

	t.Run("a burst of 503 and 429", func(t *testing.T) {
		ch, stop := collect(e.kv, "db-password", opts)
		defer stop()
		require.NoError(t, within(t, ch, "first value").err)
		var errs []error
		for _, status := range []int{503, 429} {
			e.srv.FailNext(3, status)
			for range 3 {
				it := within(t, ch, "error")
				require.Error(t, it.err)
				errs = append(errs, it.err)
			}
		}
		assert.ErrorIs(t, errs[0], keyvault.ErrUnavailable)
		assert.ErrorIs(t, errs[5], keyvault.ErrThrottled)
		_, err := e.kv.SetSecret(t.Context(), "db-password", "v3", nil)
		require.NoError(t, err)
		it := within(t, ch, "new value")
		require.NoError(t, it.err, "then the new value")
		assert.Equal(t, "v3", it.s.Value.Reveal())
	})

	t.Run("100 watches share one poll", func(t *testing.T) {
		var stops []func()
		var chans []<-chan watchItem
		for range 100 {
			ch, stop := collect(e.kv, "db-password", opts)
			chans, stops = append(chans, ch), append(stops, stop)
		}
		for _, ch := range chans {
			require.NoError(t, within(t, ch, "first value").err)
		}
		// From here to the moment all 100 have the new version, shared
		// polls make a few GETs (one before the set, maybe one during it,
		// the one that sees it); 100 watches polling alone would make 100.
		e.srv.ResetStats()
		_, err := e.kv.SetSecret(t.Context(), "db-password", "v4", nil)
		require.NoError(t, err)
		for _, ch := range chans {
			it := within(t, ch, "new version")
			require.NoError(t, it.err)
			assert.Equal(t, "v4", it.s.Value.Reveal())
		}
		gets := e.srv.Stats().Count("GetSecret", 200)
		t.Logf("100 watches: %d GETs until all had the new version", gets)
		assert.GreaterOrEqual(t, gets, 1)
		assert.LessOrEqual(t, gets, 10)
		for _, stop := range stops {
			stop()
		}
	})
}
