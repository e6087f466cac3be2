package run

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-azureml/secrets/internal/secretref"
	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/workspace"
)

// Watch yields the latest version of the named secret at once, then again
// each time the vault holds a new latest version (or its enabled state or
// expiry changed): keyvault.Keyvault.Watch over the run's vault, so that
// all the watches of a name in the process share one poll. A
// failed poll yields the error and the watch goes on; it ends when ctx ends
// or the loop breaks. Offline with no vault, it yields once from the local
// source (environment variables and .env file) and ends.
func (r *Run) Watch(ctx context.Context, name string, opts *keyvault.WatchOptions) iter.Seq2[keyvault.Secret, error] {
	if r.local != nil {
		return func(yield func(keyvault.Secret, error) bool) {
			s, err := r.kv.GetSecretVersion(ctx, name, "")
			if ctx.Err() != nil {
				return
			}
			yield(s, err)
		}
	}
	return r.kv.Watch(ctx, name, opts)
}

// WatchEnv yields environ (KEY=VALUE entries; nil means the run's
// Options.Environ) with its references resolved, as ResolveEnv does, at once
// and then each time a value behind one of them changes: each reference to
// a latest version is watched as Watch does (references to one version never
// change), each connection is listed again every interval. A new version
// that holds the same value yields nothing.
//
// A failed poll yields the error (one *ResolveError per variable it
// concerns, joined) and the watch goes on, keeping the last good values; the
// first yield is an error when any reference failed at first. A malformed
// reference yields its error and ends the watch. It ends when ctx ends, the
// loop breaks or nothing is left to watch (offline with no vault, values
// are read once), leaving no goroutine behind.
func (r *Run) WatchEnv(ctx context.Context, environ []string, opts *keyvault.WatchOptions) iter.Seq2[[]string, error] {
	return func(yield func([]string, error) bool) {
		if environ == nil {
			environ = r.opts.environ()
		}
		type use struct {
			index int
			key   string // the variable
			ref   string // canonical form
		}
		var (
			uses []use
			errs []error
		)
		refs := map[string]ref{}
		for i, kv := range environ {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || !secretref.IsRef(v) {
				continue
			}
			sr, err := secretref.Parse(v)
			if err != nil {
				errs = append(errs, &ResolveError{Variable: k, Err: err})
				continue
			}
			rf := ref{Ref: sr}
			refs[rf.key()] = rf
			uses = append(uses, use{i, k, rf.key()})
		}
		if len(errs) > 0 {
			yield(nil, errors.Join(errs...))
			return
		}
		if len(refs) == 0 {
			yield(slices.Clone(environ), nil)
			return
		}
		for values, failed := range r.watchRefs(ctx, refs, opts) {
			if failed != nil {
				for _, u := range uses {
					if err, ok := failed[u.ref]; ok {
						errs = append(errs, &ResolveError{Variable: u.key, Ref: u.ref, Err: err})
					}
				}
				err := errors.Join(errs...)
				errs = errs[:0]
				if !yield(nil, err) {
					return
				}
				continue
			}
			out := slices.Clone(environ)
			for _, u := range uses {
				out[u.index] = u.key + "=" + values[u.ref]
			}
			if !yield(out, nil) {
				return
			}
		}
	}
}

// WatchTemplate yields t rendered, as RenderTemplate does, at once and then
// each time a value behind one of its references changes; see WatchEnv for
// what is watched and how failures are yielded (here as *RenderErrors).
func (r *Run) WatchTemplate(ctx context.Context, t *Template, opts *keyvault.WatchOptions) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if len(t.refs) == 0 {
			yield(t.execute(nil), nil)
			return
		}
		for values, failed := range r.watchRefs(ctx, t.refs, opts) {
			if failed != nil {
				if !yield("", t.refErrors(failed)) {
					return
				}
				continue
			}
			if !yield(t.execute(values), nil) {
				return
			}
		}
	}
}

// refEvent is one watcher's report: a value or a failure for a reference,
// or (done) that the watcher ended.
type refEvent struct {
	key   string
	value string
	err   error
	done  bool
}

// watchRefs watches refs and yields either every value (failed nil) or the
// failures of one poll (values nil): the values once every reference has
// one, then each time one changes.
func (r *Run) watchRefs(ctx context.Context, refs map[string]ref, opts *keyvault.WatchOptions) iter.Seq2[map[string]string, map[string]error] {
	return func(yield func(map[string]string, map[string]error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer func() {
			cancel()
			wg.Wait()
		}()
		events := make(chan refEvent)
		send := func(ev refEvent) bool {
			select {
			case events <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		running := 0
		start := func(f func()) {
			running++
			wg.Go(func() {
				defer send(refEvent{done: true})
				f()
			})
		}

		conns := map[string][]string{} // connection -> keys of its references
		for _, k := range slices.Sorted(maps.Keys(refs)) {
			rf := refs[k]
			switch {
			case rf.Kind == secretref.Connection:
				conns[rf.Connection] = append(conns[rf.Connection], k)
			case rf.Version != "":
				// One version never changes: read it once.
				start(func() {
					v, err := r.resolveRef(ctx, rf)
					send(refEvent{key: k, value: v, err: err})
				})
			default:
				start(func() {
					kv, err := r.refVault(ctx, rf)
					if err != nil {
						send(refEvent{key: k, err: err})
						return
					}
					seq := kv.Watch(ctx, rf.Name, opts)
					if kv == r.kv {
						seq = r.Watch(ctx, rf.Name, opts) // the local source yields once
					}
					for s, err := range seq {
						if !send(refEvent{key: k, value: s.Value.Reveal(), err: err}) {
							return
						}
					}
				})
			}
		}
		for name, keys := range conns {
			start(func() { r.watchConnection(ctx, name, keys, refs, opts, send) })
		}

		values := map[string]string{}     // the last good value of each reference
		reported := map[string]bool{}     // references heard from
		firstFailed := map[string]error{} // failures before every reference was heard from
		yielded := false
		for running > 0 {
			var ev refEvent
			select {
			case <-ctx.Done():
				return
			case ev = <-events:
			}
			if ev.done {
				running--
				continue
			}
			wasAll := len(reported) == len(refs)
			reported[ev.key] = true
			nowAll := len(reported) == len(refs)
			if ev.err != nil {
				failed := map[string]error{ev.key: ev.err}
				if !wasAll {
					firstFailed[ev.key] = ev.err
					if !nowAll {
						continue // report the first failures together
					}
					failed = firstFailed
				}
				if !yield(nil, failed) {
					return
				}
				continue
			}
			old, had := values[ev.key]
			values[ev.key] = ev.value
			if !wasAll {
				delete(firstFailed, ev.key)
			}
			switch {
			case !nowAll:
				continue
			case !wasAll && len(firstFailed) > 0:
				if !yield(nil, firstFailed) {
					return
				}
				continue
			case len(values) < len(refs):
				continue
			case yielded && had && old == ev.value:
				continue
			}
			yielded = true
			if !yield(maps.Clone(values), nil) {
				return
			}
		}
	}
}

// refVault returns the Keyvault of a keyvault reference.
func (r *Run) refVault(ctx context.Context, rf ref) (*keyvault.Keyvault, error) {
	if rf.short {
		return r.kv, nil
	}
	return r.vaultFor(ctx, rf.VaultURL)
}

// watchConnection lists connection name at once and then every interval,
// and sends the fields keys select; a failed listing sends its error for
// each of them.
func (r *Run) watchConnection(ctx context.Context, name string, keys []string, refs map[string]ref, opts *keyvault.WatchOptions, send func(refEvent) bool) {
	for {
		c, err := r.listConnection(ctx, name)
		if ctx.Err() != nil {
			return
		}
		for _, k := range keys {
			ev := refEvent{key: k, err: err}
			if err == nil {
				ev.value, ev.err = connectionField(c, refs[k].Ref)
			}
			if !send(ev) {
				return
			}
		}
		if !sleep(ctx, nextWait(opts)) {
			return
		}
	}
}

// listConnection lists a connection's secrets afresh (not through the run's
// once-per-run cache).
func (r *Run) listConnection(ctx context.Context, name string) (*workspace.Connection, error) {
	src := r.opts.Connections
	if src == nil && r.ws != nil {
		src = r.ws
	}
	if src == nil {
		return r.connection(ctx, name) // the error that says why there is none
	}
	c, err := src.ListConnectionSecrets(ctx, name)
	if err == nil && c == nil {
		err = fmt.Errorf("connection %s: %w", name, keyvault.ErrNotFound)
	}
	return c, err
}

// nextWait is the time to the next poll of a connection: the interval (as
// keyvault.WatchOptions documents it) shortened at random by up to its
// jitter.
func nextWait(opts *keyvault.WatchOptions) time.Duration {
	var o keyvault.WatchOptions
	if opts != nil {
		o = *opts
	}
	d := o.Interval
	if d == 0 {
		d = keyvault.DefaultWatchInterval
	}
	d = max(d, keyvault.MinWatchInterval)
	j := o.Jitter
	switch {
	case j == 0:
		j = keyvault.DefaultWatchJitter
	case j < 0:
		j = 0
	case j > 1:
		j = 1
	}
	return d - time.Duration(rand.Float64()*j*float64(d))
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
