// Package flight shares one call among the goroutines that ask for the same
// key at once, as golang.org/x/sync/singleflight does, with two differences
// that the request path needs:
//
//   - each caller is bounded by its own context: a caller whose context ends
//     stops waiting at once, and when the call failed only because the
//     context of the goroutine running it ended, a caller whose context lives
//     on starts the call again rather than return someone else's
//     cancellation;
//   - the call runs on the goroutine of the caller that started it, never on
//     a goroutine of its own, so a lone request costs no goroutine and a
//     panic in it reaches that caller's own goroutine (where its recover can
//     see it). Callers that were sharing the call get a *PanicError instead.
package flight

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Group shares calls by key. The zero Group is ready to use; it must not be
// copied after first use.
type Group[T any] struct {
	mu   sync.Mutex
	m    map[string]*call[T]
	free sync.Pool // *call[T]s that nobody shared, for reuse
}

// A call is one run of fn. A lone call allocates nothing: done is made only
// when a second caller joins (shared), and a call nobody joined goes back
// to the Group's pool once its starter has its result.
type call[T any] struct {
	done   chan struct{} // closed when the call is over; nil until shared
	shared bool          // some other caller waits on it (set under mu)
	val    T
	err    error
}

// PanicError is what the callers sharing a call get when the call panicked.
// The goroutine that ran the call re-panics with the original value.
type PanicError struct {
	// Value is the value the call panicked with.
	Value any
}

// Error says that the shared call panicked. It names the panic value's type
// only: the value itself could hold anything.
func (e *PanicError) Error() string {
	return fmt.Sprintf("a shared call panicked (%T); the goroutine that ran it re-panicked", e.Value)
}

var errGoexit = errors.New("a shared call's goroutine exited (runtime.Goexit) before it returned")

// Do runs fn once for all concurrent callers of key and returns its result,
// or the caller's context error as soon as that context ends. fn runs on the
// goroutine, and with the context, of the caller that started the call.
func (g *Group[T]) Do(ctx context.Context, key string, fn func(context.Context) (T, error)) (T, error) {
	var zero T
	for {
		if err := ctx.Err(); err != nil {
			return zero, err
		}
		g.mu.Lock()
		if g.m == nil {
			g.m = map[string]*call[T]{}
		}
		if c, ok := g.m[key]; ok {
			if c.done == nil {
				c.done = make(chan struct{})
			}
			c.shared = true
			g.mu.Unlock()
			select {
			case <-c.done:
			case <-ctx.Done():
				return zero, ctx.Err()
			}
			if c.err != nil && IsContextError(c.err) && ctx.Err() == nil {
				continue // its starter gave up; this caller has not
			}
			return c.val, c.err
		}
		c, _ := g.free.Get().(*call[T])
		if c == nil {
			c = new(call[T])
		}
		g.m[key] = c
		g.mu.Unlock()
		if g.run(ctx, key, c, fn) {
			return c.val, c.err // others hold c: it is theirs to read too
		}
		val, err := c.val, c.err
		*c = call[T]{}
		g.free.Put(c)
		return val, err
	}
}

// run calls fn and publishes its result; a panic is published as a
// *PanicError and then re-raised on this goroutine. It reports whether
// another caller shared the call.
func (g *Group[T]) run(ctx context.Context, key string, c *call[T], fn func(context.Context) (T, error)) (shared bool) {
	normal := false
	defer func() {
		if normal {
			return
		}
		r := recover()
		if r == nil { // runtime.Goexit (t.FailNow, say): let it go on
			c.err = errGoexit
			g.finish(key, c)
			return
		}
		c.err = &PanicError{Value: r}
		g.finish(key, c)
		panic(r)
	}()
	c.val, c.err = fn(ctx)
	normal = true
	return g.finish(key, c)
}

// finish takes c out of the Group, so that no caller can join it any more,
// wakes the callers that did, and reports whether there were any.
func (g *Group[T]) finish(key string, c *call[T]) (shared bool) {
	g.mu.Lock()
	if g.m[key] == c {
		delete(g.m, key)
	}
	done, shared := c.done, c.shared
	g.mu.Unlock()
	if done != nil {
		close(done)
	}
	return shared
}

// Forget makes the next Do for key start a new call instead of joining one
// in progress (whose result may be older than a write that just happened).
func (g *Group[T]) Forget(key string) {
	g.mu.Lock()
	delete(g.m, key)
	g.mu.Unlock()
}

// IsContextError reports whether err is, or wraps, context.Canceled or
// context.DeadlineExceeded.
func IsContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
