package flight_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sync/singleflight"

	"github.com/go-azureml/secrets/internal/flight"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDoShares(t *testing.T) {
	var g singleflight.Group
	var calls atomic.Int64
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			v, err := flight.Do(t.Context(), &g, "k", func() (int, error) {
				calls.Add(1)
				<-gate
				return 7, nil
			})
			assert.NoError(t, err)
			assert.Equal(t, 7, v)
		})
	}
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	time.Sleep(10 * time.Millisecond) // let the others join
	close(gate)
	wg.Wait()
	assert.LessOrEqual(t, calls.Load(), int64(2))
}

func TestDoRestartsAfterTheStarterGaveUp(t *testing.T) {
	var g singleflight.Group
	started := make(chan struct{})
	starterCtx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := flight.Do(starterCtx, &g, "k", func() (int, error) {
			close(started)
			<-starterCtx.Done()
			return 0, starterCtx.Err()
		})
		done <- err
	}()
	<-started
	got := make(chan int, 1)
	go func() {
		v, err := flight.Do(t.Context(), &g, "k", func() (int, error) { return 9, nil })
		assert.NoError(t, err)
		got <- v
	}()
	time.Sleep(10 * time.Millisecond) // the second caller joins the first flight
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	assert.Equal(t, 9, <-got, "the second caller starts its own flight instead of failing")
}

func TestDoHonoursItsContext(t *testing.T) {
	var g singleflight.Group
	release := make(chan struct{})
	defer close(release)
	go func() {
		_, _ = flight.Do(context.Background(), &g, "k", func() (int, error) { <-release; return 1, nil })
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	time.Sleep(5 * time.Millisecond)
	_, err := flight.Do(ctx, &g, "k", func() (int, error) { <-release; return 1, nil })
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, flight.IsContextError(err))
	assert.False(t, flight.IsContextError(errors.New("other")))
}
