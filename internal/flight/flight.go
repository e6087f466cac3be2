// Package flight shares one call among the goroutines that ask for the same
// key at once (golang.org/x/sync/singleflight), with each caller bounded by
// its own context.
package flight

import (
	"context"
	"errors"

	"golang.org/x/sync/singleflight"
)

// Do runs fn once for all concurrent callers of key in g and returns its
// result, or the caller's context error as soon as that context ends. fn runs
// on the context of the caller that started the flight; when that caller gave
// up (fn failed with a context error) while this caller's context lives on,
// Do starts another flight rather than return someone else's cancellation.
func Do[T any](ctx context.Context, g *singleflight.Group, key string, fn func() (T, error)) (T, error) {
	for {
		ch := g.DoChan(key, func() (any, error) { return fn() })
		select {
		case r := <-ch:
			if r.Err != nil {
				if ctx.Err() == nil && IsContextError(r.Err) {
					continue
				}
				var zero T
				return zero, r.Err
			}
			return r.Val.(T), nil
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
}

// IsContextError reports whether err is, or wraps, context.Canceled or
// context.DeadlineExceeded.
func IsContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
