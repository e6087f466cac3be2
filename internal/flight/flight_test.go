package flight_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/go-azureml/secrets/internal/flight"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDoShares(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g flight.Group[int]
		var calls atomic.Int64
		gate := make(chan struct{})
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				v, err := g.Do(t.Context(), "k", func(context.Context) (int, error) {
					calls.Add(1)
					<-gate
					return 7, nil
				})
				assert.NoError(t, err)
				assert.Equal(t, 7, v)
			})
		}
		synctest.Wait() // all ten are waiting: one in fn, nine on it
		close(gate)
		wg.Wait()
		assert.Equal(t, int64(1), calls.Load())
	})
}

func TestDoHonoursEachCallersContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g flight.Group[int]
		release := make(chan struct{})
		started := make(chan struct{})
		go func() {
			_, _ = g.Do(context.Background(), "k", func(context.Context) (int, error) {
				close(started)
				<-release
				return 1, nil
			})
		}()
		<-started
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		t0 := time.Now()
		_, err := g.Do(ctx, "k", func(context.Context) (int, error) { return 2, nil })
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 100*time.Millisecond, time.Since(t0), "the waiter returns at its own deadline")
		close(release)
	})
}

func TestDoRestartsWhenStarterGaveUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g flight.Group[int]
		ctx1, cancel1 := context.WithCancel(t.Context())
		started := make(chan struct{})
		done1 := make(chan error, 1)
		go func() {
			_, err := g.Do(ctx1, "k", func(ctx context.Context) (int, error) {
				close(started)
				<-ctx.Done()
				return 0, ctx.Err()
			})
			done1 <- err
		}()
		<-started
		var second atomic.Int64
		res := make(chan int, 1)
		go func() {
			v, err := g.Do(t.Context(), "k", func(context.Context) (int, error) {
				second.Add(1)
				return 42, nil
			})
			assert.NoError(t, err)
			res <- v
		}()
		synctest.Wait()
		cancel1()
		assert.ErrorIs(t, <-done1, context.Canceled)
		assert.Equal(t, 42, <-res, "the waiter whose context lives started its own call")
		assert.Equal(t, int64(1), second.Load())
	})
}

func TestDoPanicReachesTheCallersGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g flight.Group[int]
		inFn := make(chan struct{})
		release := make(chan struct{})
		waiterErr := make(chan error, 1)
		recovered := make(chan any, 1)
		go func() {
			defer func() { recovered <- recover() }()
			_, _ = g.Do(t.Context(), "k", func(context.Context) (int, error) {
				close(inFn)
				<-release
				panic("store bug")
			})
		}()
		<-inFn
		go func() {
			_, err := g.Do(t.Context(), "k", func(context.Context) (int, error) { return 0, nil })
			waiterErr <- err
		}()
		synctest.Wait()
		close(release)
		assert.Equal(t, "store bug", <-recovered, "the starter's own recover sees the panic")
		var pe *flight.PanicError
		require.ErrorAs(t, <-waiterErr, &pe)
		assert.NotContains(t, pe.Error(), "store bug", "the panic value is not shown")
		// The key is free again.
		v, err := g.Do(t.Context(), "k", func(context.Context) (int, error) { return 3, nil })
		require.NoError(t, err)
		assert.Equal(t, 3, v)
	})
}

func TestForget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g flight.Group[int]
		release := make(chan struct{})
		go func() {
			_, _ = g.Do(t.Context(), "k", func(context.Context) (int, error) { <-release; return 1, nil })
		}()
		synctest.Wait()
		g.Forget("k")
		v, err := g.Do(t.Context(), "k", func(context.Context) (int, error) { return 2, nil })
		require.NoError(t, err)
		assert.Equal(t, 2, v, "after Forget a new call starts")
		close(release)
	})
}

func TestIsContextError(t *testing.T) {
	assert.True(t, flight.IsContextError(context.Canceled))
	assert.True(t, flight.IsContextError(errors.Join(errors.New("x"), context.DeadlineExceeded)))
	assert.False(t, flight.IsContextError(errors.New("x")))
}

// A lone call allocates nothing: its done channel is made only when another
// caller joins, and the call itself is reused.
func TestLoneCallAllocatesNothing(t *testing.T) {
	var g flight.Group[int]
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 7, nil }
	n := testing.AllocsPerRun(100, func() {
		if v, err := g.Do(ctx, "k", fn); v != 7 || err != nil {
			t.Fatalf("Do = %d, %v", v, err)
		}
	})
	assert.Zero(t, n)
}

// A call that was shared is not reused while its sharers read it: each of
// many rounds of sharers sees its own round's result.
func TestSharedCallNotReused(t *testing.T) {
	var g flight.Group[int]
	for round := range 50 {
		started := make(chan struct{})
		release := make(chan struct{})
		var wg sync.WaitGroup
		results := make([]int, 4)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[0], _ = g.Do(context.Background(), "k", func(context.Context) (int, error) {
				close(started)
				<-release
				return round, nil
			})
		}()
		<-started
		for i := 1; i < len(results); i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], _ = g.Do(context.Background(), "k", func(context.Context) (int, error) { return -1, nil })
			}()
		}
		close(release)
		wg.Wait()
		// A late joiner may have started its own call (-1); none may see
		// another round's value.
		for _, r := range results {
			if r != round && r != -1 {
				t.Fatalf("round %d: a caller got %d", round, r)
			}
		}
		_, _ = g.Do(context.Background(), "other", func(context.Context) (int, error) { return 0, nil }) // reuses a pooled call
	}
}
