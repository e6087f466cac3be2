package keyvault

import (
	"math/rand/v2"
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

// nextWait returns how long a watch with these options waits before its next
// poll: the interval shortened at random by up to its jitter.
func (o *WatchOptions) nextWait() time.Duration {
	d, j := o.interval()
	return d - time.Duration(rand.Float64()*j*float64(d))
}

// changed reports whether a watch yields b after a: the version, the
// enabled state or a time bound differ.
func changed(a, b Properties) bool {
	return a.Version != b.Version || a.Enabled != b.Enabled ||
		!a.Expires.Equal(b.Expires) || !a.NotBefore.Equal(b.NotBefore)
}
