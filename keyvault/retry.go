package keyvault

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Retry defaults.
const (
	// DefaultRetryBaseDelay is the first backoff after a throttled or failed
	// request that carried no Retry-After, when RetryOptions.BaseDelay is 0.
	// Each later backoff doubles, with full jitter.
	DefaultRetryBaseDelay = 250 * time.Millisecond
	// DefaultRetryMaxBackoff caps a computed backoff (1, 2, 4, 8, 16 s is Key
	// Vault's guidance) when RetryOptions.MaxBackoff is 0.
	DefaultRetryMaxBackoff = 16 * time.Second
	// DefaultRetryMaxDelay is the ceiling on one wait asked for by a vault's
	// Retry-After, when RetryOptions.MaxDelay is 0. A longer Retry-After is
	// waited up to this ceiling, then the request is tried again.
	DefaultRetryMaxDelay = 60 * time.Second
	// DefaultRetryBudget is how long, from the first attempt, a call keeps
	// retrying when RetryOptions.Budget is 0.
	DefaultRetryBudget = 2 * time.Minute
)

// RetryOptions configure how a Keyvault retries a request the vault
// throttled (ErrThrottled, HTTP 429) or, for reads only, could not serve
// (ErrUnavailable: 5xx or a transport error). A nil *RetryOptions in Options
// means the defaults.
//
// A throttled request is retried after the vault's Retry-After (plus up to
// 5% jitter, so that nodes told the same wait do not return in lockstep), even when that is longer than azcore's own MaxRetryDelay, up to
// MaxDelay per wait. Without a Retry-After the wait is exponential with full
// jitter: a random time in [0, BaseDelay×2^n), n counting earlier retries,
// capped at MaxBackoff. A call gives up, returning the last error (which
// still wraps ErrThrottled or ErrUnavailable), when its context ends, when
// the next wait would outlast the context's deadline or the Budget, or after
// MaxAttempts. Writes (SetSecret, DeleteSecret, ...) are retried only when
// throttled, since the vault did not act on them.
type RetryOptions struct {
	// Disabled turns retries off: every call makes one attempt.
	Disabled bool
	// MaxAttempts bounds the attempts of one call, the first included; 0
	// means no bound but the Budget and the context.
	MaxAttempts int
	// Budget bounds how long one call keeps retrying, measured from its
	// first failure; 0 means DefaultRetryBudget, a negative value no bound
	// but MaxAttempts and the context.
	Budget time.Duration
	// BaseDelay is the first backoff without Retry-After; 0 means
	// DefaultRetryBaseDelay.
	BaseDelay time.Duration
	// MaxBackoff caps a backoff without Retry-After; 0 means
	// DefaultRetryMaxBackoff.
	MaxBackoff time.Duration
	// MaxDelay caps one wait asked for by Retry-After; 0 means
	// DefaultRetryMaxDelay.
	MaxDelay time.Duration
	// OnRetry, when set, is called before each wait with the secret's name
	// ("" for whole-vault calls), the error that caused the retry and the
	// wait. It is for metrics and logs; the error never holds a value.
	OnRetry func(name string, err error, wait time.Duration)
}

func (o *RetryOptions) withDefaults() RetryOptions {
	var r RetryOptions
	if o != nil {
		r = *o
	}
	if r.Budget == 0 {
		r.Budget = DefaultRetryBudget
	}
	if r.BaseDelay <= 0 {
		r.BaseDelay = DefaultRetryBaseDelay
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = DefaultRetryMaxBackoff
	}
	if r.MaxDelay <= 0 {
		r.MaxDelay = DefaultRetryMaxDelay
	}
	return r
}

// delay returns the wait before retry number n (0 for the first retry).
func (r *RetryOptions) delay(n int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		d := min(retryAfter, r.MaxDelay)
		return d + time.Duration(rand.Int64N(int64(d)/20+1))
	}
	ceil := r.MaxBackoff
	if n < 30 {
		ceil = min(ceil, r.BaseDelay<<n)
	}
	return time.Duration(rand.Int64N(int64(ceil) + 1))
}

// retryAfterOf returns the Retry-After a *ServiceError in err carries.
func retryAfterOf(err error) time.Duration {
	var se *ServiceError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}

// attemptsError reports how many attempts a call made before it gave up; it
// wraps the last error so errors.Is and errors.As see through it.
type attemptsError struct {
	err      error
	attempts int
}

func (e *attemptsError) Error() string {
	return fmt.Sprintf("%v (gave up after %d attempts)", e.err, e.attempts)
}

func (e *attemptsError) Unwrap() error { return e.err }

// retryMode says which failures of a call may be retried.
type retryMode int

const (
	retryNone      retryMode = iota // one attempt
	retryThrottled                  // writes: only ErrThrottled, which the vault did not act on
	retryReads                      // reads: ErrThrottled and ErrUnavailable
)

// do runs call with the Keyvault's rate limiter and retries. name is the
// secret's (for OnRetry).
func (kv *Keyvault) do(ctx context.Context, name string, mode retryMode, call func(context.Context) error) error {
	var start time.Time
	for attempt := 1; ; attempt++ {
		if kv.limiter != nil {
			if err := kv.limiter.Wait(ctx); err != nil {
				if ce := ctx.Err(); ce != nil {
					return ce
				}
				return err
			}
		}
		err := kv.first(ctx, call)
		if err == nil {
			return nil
		}
		retryable := mode != retryNone && errors.Is(err, ErrThrottled) ||
			mode == retryReads && errors.Is(err, ErrUnavailable)
		if !retryable || kv.retry.Disabled || ctx.Err() != nil {
			return err
		}
		giveUp := func() error {
			if attempt == 1 {
				return err
			}
			return &attemptsError{err: err, attempts: attempt}
		}
		if kv.retry.MaxAttempts > 0 && attempt >= kv.retry.MaxAttempts {
			return giveUp()
		}
		now := kv.clock.Now()
		if attempt == 1 {
			start = now
		}
		d := kv.retry.delay(attempt-1, retryAfterOf(err))
		if kv.retry.Budget > 0 && now.Add(d).Sub(start) > kv.retry.Budget {
			return giveUp()
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
			// Waiting would outlast the caller's deadline: say why now
			// rather than when the deadline comes.
			return giveUp()
		}
		if kv.retry.OnRetry != nil {
			kv.retry.OnRetry(name, err, d)
		}
		if serr := kv.clock.Sleep(ctx, d); serr != nil {
			return serr
		}
	}
}

// first runs call, but while the Keyvault has had no answer from its store
// yet, one call at a time: the first request to a vault is answered with an
// authentication challenge, and azcore fetches a token for every request
// that meets one, so a cold batch of 64 would fetch 64 tokens. Holding the
// others back until the first answer costs one round trip once per Keyvault
// and keeps it to one token request per process.
func (kv *Keyvault) first(ctx context.Context, call func(context.Context) error) error {
	if kv.warm.Load() {
		return call(ctx)
	}
	select {
	case kv.warming <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if kv.warm.Load() { // someone else's call warmed it while we waited
		<-kv.warming
		return call(ctx)
	}
	defer func() { <-kv.warming }()
	err := call(ctx)
	if err == nil || !isContextError(err) {
		kv.warm.Store(true)
	}
	return err
}
