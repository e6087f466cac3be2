package keyvault

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// throttleGate is what one RetryStore (one process's view of a vault) has
// learnt from the vault's 429 answers, shared by every call through it so
// that a throttled process backs off as one client rather than as each of
// its goroutines:
//
//   - A 429 sets a window (its Retry-After, or the computed backoff without
//     one) that every attempt of the process waits out, first attempts
//     included, instead of each goroutine retrying on its own tick. 429s of
//     requests sent before the window was set join it rather than extend it.
//   - Until the vault accepts requests again, one attempt at a time goes;
//     each accepted request doubles that limit, and at throttleMaxInflight
//     it is lifted (slow start).
//   - A process throttled again before any of its requests was accepted is
//     contending with many others: when the vault sent a Retry-After, its
//     next window is drawn with
//     decorrelated jitter in whole-window units, uniformly between the
//     Retry-After and three times the previous window, at most
//     throttleMaxWindows Retry-Afters, so that a herd spreads over the
//     windows to come instead of returning together. A single accepted
//     request ends the streak.
type throttleGate struct {
	mu       sync.Mutex
	until    time.Time     // no attempt starts before
	blockSet time.Time     // when until was last set
	prev     time.Duration // the last window
	streak   int           // windows set since the last accepted request
	limit    int           // attempts in flight allowed; 0 = no limit
	inflight int
	waiters  int           // attempts waiting on changed
	changed  chan struct{} // closed and replaced when a slot frees
}

const (
	throttleMaxInflight = DefaultConcurrency
	throttleMaxWindows  = 3
)

func newThrottleGate() *throttleGate { return &throttleGate{changed: make(chan struct{})} }

// enter waits until the process's window has passed and an attempt slot is
// free, then takes the slot. It returns ctx's error if ctx ends first.
func (g *throttleGate) enter(ctx context.Context, clock Clock) error {
	for {
		g.mu.Lock()
		if wait := g.until.Sub(clock.Now()); wait > 0 {
			g.mu.Unlock()
			if err := clock.Sleep(ctx, wait); err != nil {
				return err
			}
			continue
		}
		if g.limit > 0 && g.inflight >= g.limit {
			ch := g.changed
			g.waiters++
			g.mu.Unlock()
			var err error
			select {
			case <-ch:
			case <-ctx.Done():
				err = ctx.Err()
			}
			g.mu.Lock()
			g.waiters--
			g.mu.Unlock()
			if err != nil {
				return err
			}
			continue
		}
		g.inflight++
		g.mu.Unlock()
		return ctx.Err()
	}
}

// wake wakes the attempts waiting for a slot if one may go now; g.mu is
// held.
func (g *throttleGate) wake() {
	if g.waiters > 0 && (g.limit == 0 || g.inflight < g.limit) {
		close(g.changed)
		g.changed = make(chan struct{})
	}
}

// leave gives the slot back after an attempt sent at sent. accepted says
// the vault acted on it (any answer but 429 or a failure to answer);
// throttled that it answered 429, with d the wait the call would take on
// its own, capped at maxWait; windowed that the vault said how long
// (Retry-After): only then is the window drawn with decorrelated jitter, as
// the backoff without one is already jittered in full. leave returns the wait until the process's
// window has passed (0 unless throttled).
func (g *throttleGate) leave(now, sent time.Time, accepted, throttled, windowed bool, d, maxWait time.Duration) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight--
	defer g.wake()
	if accepted {
		g.streak = 0
		if g.limit > 0 {
			if g.limit *= 2; g.limit >= throttleMaxInflight {
				g.limit = 0
			}
		}
		return 0
	}
	if !throttled {
		return 0
	}
	g.limit = 1
	if !sent.Before(g.blockSet) || !now.Before(g.until) {
		// New news: the request left after the last window was set.
		g.streak++
		next := d
		if g.streak >= 2 && windowed && d > 0 {
			hi := min(max(3*g.prev, d), throttleMaxWindows*d, max(d, maxWait))
			next = d + time.Duration(rand.Int64N(int64(hi-d)+1))
		}
		g.prev, g.blockSet = next, now
		if u := now.Add(next); u.After(g.until) {
			g.until = u
		}
	}
	return max(g.until.Sub(now), 0)
}
