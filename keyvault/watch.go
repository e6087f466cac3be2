package keyvault

import "time"

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
