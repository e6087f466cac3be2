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
//   - When the window has passed, one attempt goes (a probe); the others
//     wait until the vault accepts it, so that a process still throttled
//     costs the vault one 429 a window, not one per call.
//   - A process throttled in throttleFirstSpread windows in a row, each
//     time before any of its requests was accepted, is one of a herd: when
//     the vault sent a Retry-After, its next window is drawn uniformly from
//     throttleSpread[i] (in Retry-Afters), i counting the windows since.
//     The ranges first widen, so that a herd spreads over the windows to
//     come instead of returning together, then narrow back to one
//     Retry-After: a process that has waited through many windows is near
//     the end of the herd's queue, and returning promptly keeps the vault
//     busy until the last process is served. Their floors above one keep
//     the processes that spread out of the very next window. An accepted
//     request ends the streak, unless the process is throttled again within
//     a Retry-After of it: its probe got in, but the window filled before
//     its other calls did, and the streak goes on where it was (restarting
//     it would send a process that has waited long to the back of the
//     queue). Two throttled windows in a row are not yet a herd: 100
//     processes reading 5 secrets against 200 requests per window get that
//     far, and any spread then costs them a window.
type throttleGate struct {
	mu       sync.Mutex
	until    time.Time     // no attempt starts before
	blockSet time.Time     // when until was last set
	streak   int           // windows set since the last accepted request
	window   time.Duration // the last 429's own wait (its Retry-After)
	resume   int           // the streak an accepted request ended
	resumeBy time.Time     // a 429 before this resumes it
	probing  bool          // one attempt at a time until the vault accepts one
	inflight int
	waiters  int           // attempts waiting on changed
	changed  chan struct{} // closed and replaced when a slot frees
}

const throttleFirstSpread = 3

// throttleSpread is the range a herd's next window is drawn from, in
// half Retry-Afters, by windows since throttleFirstSpread; past its end,
// one Retry-After. Tuned with TestHerdSimulation (kvbench rows 3 and 3b on
// a fake clock) and then kvbench itself: ranges that start at one
// Retry-After, one range for every window, or decorrelated jitter gave
// more 429s for the same time; wider ones cost a 300-process herd more
// time. A variable, not a constant, so that the simulation can try others.
var throttleSpread = []struct{ lo, hi time.Duration }{{4, 6}, {4, 12}, {4, 8}, {4, 6}, {3, 5}, {2, 4}}

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
		if g.probing && g.inflight > 0 {
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
	if g.waiters > 0 && (!g.probing || g.inflight == 0) {
		close(g.changed)
		g.changed = make(chan struct{})
	}
}

// leave gives the slot back after an attempt sent at sent. accepted says
// the vault acted on it (any answer but 429 or a failure to answer);
// throttled that it answered 429, with d the wait the call would take on
// its own (the Retry-After with its jitter, capped at maxWait, or the
// computed backoff); windowed that the vault said how long (Retry-After):
// only then is a herd's window spread, as the backoff without one is
// already jittered in full. leave returns the wait until the process's
// window has passed (0 unless throttled).
func (g *throttleGate) leave(now, sent time.Time, accepted, throttled, windowed bool, d, maxWait time.Duration) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight--
	defer g.wake()
	if accepted {
		if g.streak > 0 {
			g.resume, g.resumeBy = g.streak, now.Add(g.window)
		}
		g.streak, g.probing = 0, false
		return 0
	}
	if !throttled {
		return 0
	}
	g.probing = true
	if !sent.Before(g.blockSet) || !now.Before(g.until) {
		// New news: the request left after the last window was set.
		if g.streak == 0 && now.Before(g.resumeBy) {
			g.streak = g.resume
		}
		g.streak++
		next := d
		if i := g.streak - throttleFirstSpread; i >= 0 && i < len(throttleSpread) && windowed && d > 0 {
			r := throttleSpread[i]
			lo := max(d, min(r.lo*d/2, maxWait))
			hi := max(lo, min(r.hi*d/2, maxWait))
			next = lo + time.Duration(rand.Int64N(int64(hi-lo)+1))
		}
		g.blockSet, g.window = now, d
		if u := now.Add(next); u.After(g.until) {
			g.until = u
		}
	}
	return max(g.until.Sub(now), 0)
}
