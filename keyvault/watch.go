package keyvault

import (
	"context"
	"iter"
	"math/rand/v2"
	"sync"
	"time"
)

// Watch defaults and bounds.
const (
	// DefaultWatchInterval is the time between two polls of a watched
	// secret when WatchOptions.Interval is 0. Each wait is shortened at
	// random by up to DefaultWatchJitter of it, so that the nodes of a job
	// do not poll together.
	DefaultWatchInterval = time.Minute
	// MinWatchInterval is the shortest interval a watch polls at; a shorter
	// WatchOptions.Interval is raised to it.
	MinWatchInterval = 100 * time.Millisecond
	// DefaultWatchJitter is the fraction of the interval by which each wait
	// is shortened at random when WatchOptions.Jitter is 0.
	DefaultWatchJitter = 0.1
)

// WatchOptions configure a watch. A nil *WatchOptions means the defaults.
type WatchOptions struct {
	// Interval is the time between two polls; 0 means DefaultWatchInterval.
	// It may be as short as MinWatchInterval (tests use it); a shorter one
	// is raised to it.
	Interval time.Duration
	// Jitter is the fraction (0..1) of the interval by which each wait is
	// shortened at random; 0 means DefaultWatchJitter, a negative value
	// means none.
	Jitter float64
}

// interval returns the interval and jitter o asks for, defaults applied.
func (o *WatchOptions) interval() (time.Duration, float64) {
	var w WatchOptions
	if o != nil {
		w = *o
	}
	if w.Interval == 0 {
		w.Interval = DefaultWatchInterval
	}
	w.Interval = max(w.Interval, MinWatchInterval)
	switch {
	case w.Jitter == 0:
		w.Jitter = DefaultWatchJitter
	case w.Jitter < 0:
		w.Jitter = 0
	case w.Jitter > 1:
		w.Jitter = 1
	}
	return w.Interval, w.Jitter
}

// changed reports whether a watch yields b after a: the version, the
// enabled state or a time bound differ.
func changed(a, b Properties) bool {
	return a.Version != b.Version || a.Enabled != b.Enabled ||
		!a.Expires.Equal(b.Expires) || !a.NotBefore.Equal(b.NotBefore)
}

// Watch yields the latest version of the named secret at once, then again
// each time the vault holds a new latest version, or the latest version's
// enabled state or time bounds change. It polls every WatchOptions.Interval
// (DefaultWatchInterval, jittered, when opts is nil).
//
// All the watches of one name on a Keyvault share one poll, at the shortest
// interval any of them asks for: a process with 100 watches of a name sends
// one request per interval, which is what keeps many nodes under Key
// Vault's limits. A watch that starts while another of the name runs yields
// the last version that poll saw, without a request. Each poll goes through
// the Keyvault's cache and request sharing (Refresh): it refreshes the
// cached value, and GetSecret calls at the same moment share its request.
//
// A failed poll (throttled, unavailable, not found, ...) yields its error,
// wrapped as the Keyvault's errors are, and the watch goes on; a version
// seen again after a failure is not yielded again. The sequence ends when
// ctx ends or the loop breaks, and then leaves no goroutine behind (the
// shared poll stops with its last watch). An invalid name yields its error
// and ends the sequence.
func (kv *Keyvault) Watch(ctx context.Context, name string, opts *WatchOptions) iter.Seq2[Secret, error] {
	return func(yield func(Secret, error) bool) {
		if err := ValidateName(name); err != nil {
			yield(Secret{}, &Error{Op: "watch secret", Name: name, Err: err})
			return
		}
		d, j := opts.interval()
		sub := kv.watches.join(ctx, kv, name, d, j)
		defer kv.watches.leave(sub)
		var last *Properties
		for {
			var r watchResult
			select {
			case <-ctx.Done():
				return
			case r = <-sub.ch:
			}
			if r.err != nil {
				if !yield(Secret{}, r.err) {
					return
				}
				continue
			}
			if last != nil && !changed(*last, r.secret.Properties) {
				continue
			}
			p := r.secret.Properties.Clone()
			last = &p
			if !yield(r.secret.clone(), nil) {
				return
			}
		}
	}
}

// watchResult is one poll's outcome.
type watchResult struct {
	secret Secret
	err    error
}

// watchHub holds a Keyvault's shared polls, one per name key. Its zero
// value is ready.
type watchHub struct {
	mu    sync.Mutex
	polls map[string]*watchPoll
}

// watchPoll is the one poll of a name.
type watchPoll struct {
	key, name string
	subs      map[*watchSub]struct{}
	last      *watchResult       // the last good result, for watches that join
	wake      context.CancelFunc // ends the current wait (nil when not waiting)
	cancel    context.CancelFunc
	done      chan struct{}
}

// watchSub is one watch of a poll.
type watchSub struct {
	poll     *watchPoll
	interval time.Duration
	jitter   float64
	ch       chan watchResult // the latest result not yet taken
}

// offer puts r in the slot, replacing what the watch has not taken. Called
// with the hub locked (the only writers).
func (s *watchSub) offer(r watchResult) {
	select {
	case <-s.ch:
	default:
	}
	s.ch <- r
}

// join subscribes to the poll of name, starting it if none runs.
func (h *watchHub) join(ctx context.Context, kv *Keyvault, name string, interval time.Duration, jitter float64) *watchSub {
	key := NameKey(name)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.polls == nil {
		h.polls = map[string]*watchPoll{}
	}
	p, ok := h.polls[key]
	sub := &watchSub{poll: p, interval: interval, jitter: jitter, ch: make(chan watchResult, 1)}
	if !ok {
		pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		p = &watchPoll{key: key, name: name, subs: map[*watchSub]struct{}{}, cancel: cancel, done: make(chan struct{})}
		sub.poll = p
		p.subs[sub] = struct{}{}
		h.polls[key] = p
		go kv.poll(pctx, p)
		return sub
	}
	shortest := p.interval()
	p.subs[sub] = struct{}{}
	switch {
	case p.last != nil:
		sub.offer(*p.last)
		if interval < shortest && p.wake != nil {
			p.wake() // poll now, then at the new, shorter interval
		}
	case p.wake != nil:
		p.wake() // nothing good seen yet: poll now
	}
	return sub
}

// leave unsubscribes; the last watch of a poll stops it and waits for its
// goroutine to end.
func (h *watchHub) leave(sub *watchSub) {
	p := sub.poll
	h.mu.Lock()
	delete(p.subs, sub)
	last := len(p.subs) == 0
	if last {
		delete(h.polls, p.key)
		p.cancel()
	}
	h.mu.Unlock()
	if last {
		<-p.done
	}
}

// interval is the poll's wait: the shortest of its watches', with that
// watch's jitter. Needs the hub locked.
func (p *watchPoll) interval() time.Duration {
	d := time.Duration(0)
	for s := range p.subs {
		if d == 0 || s.interval < d {
			d = s.interval
		}
	}
	return d
}

func (p *watchPoll) nextWait() time.Duration {
	var d time.Duration
	var j float64
	for s := range p.subs {
		if d == 0 || s.interval < d {
			d, j = s.interval, s.jitter
		}
	}
	return d - time.Duration(rand.Float64()*j*float64(d))
}

// poll is the goroutine of one shared poll: Refresh, hand the result to
// every watch, wait, until ctx (cancelled by the last leave) ends.
func (kv *Keyvault) poll(ctx context.Context, p *watchPoll) {
	defer close(p.done)
	h := &kv.watches
	for {
		s, err := kv.cache.Refresh(ctx, p.name)
		if ctx.Err() != nil {
			return
		}
		r := watchResult{secret: s, err: wrap(ctx, "watch secret", p.name, err)}
		h.mu.Lock()
		if err == nil {
			p.last = &r
		}
		for sub := range p.subs {
			sub.offer(r)
		}
		wait := p.nextWait()
		wctx, wake := context.WithTimeout(ctx, wait)
		p.wake = wake
		h.mu.Unlock()

		<-wctx.Done()
		h.mu.Lock()
		p.wake = nil
		h.mu.Unlock()
		wake()
		if ctx.Err() != nil {
			return
		}
	}
}
