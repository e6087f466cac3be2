package keyvault

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"time"

	"golang.org/x/time/rate"
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

// RetryOptions configure the retry layer (RetryStore), the one layer of the
// request path that retries: azurevault turns azcore's own retries off, so a
// request the vault sees is either a first attempt or a retry reported to
// OnRetry. A nil *RetryOptions in Options means the defaults.
//
// What is retried:
//
//   - ErrThrottled (HTTP 429), for every operation: the vault did not act.
//   - ErrUnavailable (HTTP 5xx, a dropped connection, a truncated answer),
//     for reads and listings only (a write the vault may have acted on is
//     not repeated), unless the error says retrying cannot help
//     (IsRetryable is false: a refused connection to a loopback emulator, a
//     certificate the client does not trust).
//   - Nothing else: 400, 401/403, 404, 409, an authentication challenge for
//     another resource and an answer that is not a secret (ErrBadResponse)
//     are final, so they cost exactly one request.
//
// A throttled request is retried after the vault's Retry-After (plus up to
// 5% jitter, so that nodes told the same wait do not return in lockstep), up
// to MaxDelay per wait; every call of the store waits for that same window,
// one request then probes before the others follow, and a store throttled
// in three windows in a row spreads its next windows over several
// Retry-Afters (shared throttling, see RetryStore; IndependentThrottling
// turns it off). Otherwise the wait is exponential with full jitter: a
// random time in [0, BaseDelay×2^n), n counting earlier retries, capped at
// MaxBackoff. A call gives up, returning the last error (which still wraps
// ErrThrottled or ErrUnavailable) rather than a context error, as soon as the
// next wait would outlast the context's deadline or the Budget, or after
// MaxAttempts; it returns the context's error if the context ends while it
// waits or while a request is in flight.
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
	// wait. It is called for every retry of every class, so the requests a
	// vault sees for one call are the retries reported here plus one. It is
	// for metrics and logs; the error never holds a value. A panic in it
	// reaches the goroutine that made the call.
	OnRetry func(name string, err error, wait time.Duration)
	// IndependentThrottling turns shared throttling off (see RetryStore):
	// each call of the store then waits out its own 429s, the Retry-After
	// plus its jitter, whatever the store's other calls were told. A herd
	// of 1,000 processes reading 5 secrets each against 200 requests a
	// second then costs the vault about 6.8 429s per successful read
	// instead of about 1.9 (kvbench row 3b), in about the same time.
	IndependentThrottling bool
	// RateLimiter, when set, is waited on before every attempt. Keyvault's
	// Options.RateLimiter fills it.
	RateLimiter *rate.Limiter
	// Clock is the time source of the waits; nil means the real clock.
	// Keyvault's Options.Clock fills it.
	Clock Clock
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
	if r.Clock == nil {
		r.Clock = realClock{}
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

// IsRetryable reports whether a later attempt of the request that failed
// with err could succeed: err wraps ErrThrottled or ErrUnavailable, and no
// *ServiceError in it says it is Permanent.
func IsRetryable(err error) bool {
	if err == nil || !errors.Is(err, ErrThrottled) && !errors.Is(err, ErrUnavailable) {
		return false
	}
	var se *ServiceError
	return !errors.As(err, &se) || !se.Permanent
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
	retryThrottled                  // only ErrThrottled: the vault did not act
	retryAll                        // ErrThrottled and ErrUnavailable
)

// noRetryKey marks a context whose call should make one attempt: the cache
// layer uses it when it has a stale value to serve instead of waiting.
type noRetryKey struct{}

func withoutRetries(ctx context.Context) context.Context {
	return context.WithValue(ctx, noRetryKey{}, true)
}

// RetryStore is the retry layer: a Store that retries throttled and failed
// requests of the Store beneath it (see RetryOptions) and waits on the
// optional rate limiter before each attempt. keyvault.New puts it under the
// cache; it can also be used alone.
//
// Its calls share what the vault's 429s teach (shared throttling, unless
// RetryOptions.IndependentThrottling), so that a process backs off as one
// client:
//
//   - After a 429 every attempt of the store (first attempts included)
//     waits for the same window, the Retry-After, instead of each
//     goroutine retrying on its own tick.
//   - Then one request goes (a probe); the others follow as soon as the
//     vault accepts it, so a process that is still throttled costs the vault
//     one 429 a window, not one per call.
//   - A store throttled in three windows in a row, none of its requests
//     accepted in between, is one of a herd: its next window is drawn
//     uniformly from 2-3 Retry-Afters, then 2-6, 2-4, 2-3, 1.5-2.5 and 1-2
//     (one range a window), then one Retry-After again, so that a herd
//     spreads over the windows to come and its last processes still return
//     promptly. An accepted request ends the streak, unless the store is
//     throttled again within a Retry-After of it (its probe got in, the
//     rest of its calls did not): then the streak goes on where it was.
//     Two throttled windows are not yet a herd, so a small one loses no
//     time. The spread costs a mid-sized herd time, as a process cannot
//     tell how many others there are: 300 processes reading 5 secrets
//     against 200 requests a second take about 1.7x the throttle's floor
//     instead of 1.2x (with half the 429s); IndependentThrottling suits
//     such a herd better when its time matters more than the vault's load.
//
// OnRetry still reports every retry with its wait; MaxDelay caps every
// window and a context deadline ends the waits as without it. It has every
// optional ability
// (VersionLister, Recoverer, ...); one the store beneath lacks returns an
// error wrapping errors.ErrUnsupported.
type RetryStore struct {
	next Store
	opts RetryOptions
	gate *throttleGate // nil with IndependentThrottling
}

var _ Store = (*RetryStore)(nil)

// NewRetryStore returns the retry layer over next. opts nil means defaults.
func NewRetryStore(next Store, opts *RetryOptions) *RetryStore {
	s := &RetryStore{next: next, opts: opts.withDefaults()}
	if !s.opts.IndependentThrottling {
		s.gate = newThrottleGate()
	}
	return s
}

// Unwrap returns the Store beneath.
func (s *RetryStore) Unwrap() Store { return s.next }

// String names the store beneath.
func (s *RetryStore) String() string { return storeString(s.next) }

// GetSecret gets a version of a secret, retrying ErrThrottled and
// ErrUnavailable.
func (s *RetryStore) GetSecret(ctx context.Context, name, version string) (Secret, error) {
	var out Secret
	err := s.do(ctx, name, retryAll, func(ctx context.Context) error {
		var err error
		out, err = s.next.GetSecret(ctx, name, version)
		return err
	})
	return out, err
}

// SetSecret sets a secret, retrying ErrThrottled only: after a 5xx or a
// dropped connection the vault may have acted, and a repeated write would
// be a second version.
func (s *RetryStore) SetSecret(ctx context.Context, name, value string, opts *SetSecretOptions) (Properties, error) {
	var out Properties
	err := s.do(ctx, name, retryThrottled, func(ctx context.Context) error {
		var err error
		out, err = s.next.SetSecret(ctx, name, value, opts)
		return err
	})
	return out, err
}

// DeleteSecret deletes a secret, retrying ErrThrottled only: after a 5xx
// the vault may have acted.
func (s *RetryStore) DeleteSecret(ctx context.Context, name string) error {
	return s.do(ctx, name, retryThrottled, func(ctx context.Context) error {
		return s.next.DeleteSecret(ctx, name)
	})
}

// ListSecrets lists the secrets; a listing that fails midway is started
// over (and the sequence yields nothing until it is whole).
func (s *RetryStore) ListSecrets(ctx context.Context) iter.Seq2[Properties, error] {
	return retryList(ctx, s, "", s.next.ListSecrets)
}

// ListSecretVersions lists a secret's versions, as ListSecrets does.
func (s *RetryStore) ListSecretVersions(ctx context.Context, name string) iter.Seq2[Properties, error] {
	vl, ok := s.next.(VersionLister)
	if !ok {
		return errSeq[Properties](unsupportedErr(s.next))
	}
	return retryList(ctx, s, name, func(ctx context.Context) iter.Seq2[Properties, error] {
		return vl.ListSecretVersions(ctx, name)
	})
}

// ListDeletedSecrets lists deleted secrets, as ListSecrets does.
func (s *RetryStore) ListDeletedSecrets(ctx context.Context) iter.Seq2[DeletedSecret, error] {
	dl, ok := s.next.(DeletedLister)
	if !ok {
		return errSeq[DeletedSecret](unsupportedErr(s.next))
	}
	return retryList(ctx, s, "", dl.ListDeletedSecrets)
}

// UpdateSecretProperties updates a version's metadata, retrying
// ErrThrottled only.
func (s *RetryStore) UpdateSecretProperties(ctx context.Context, name, version string, opts *UpdateSecretPropertiesOptions) (Properties, error) {
	pu, ok := s.next.(PropertiesUpdater)
	if !ok {
		return Properties{}, unsupportedErr(s.next)
	}
	var out Properties
	err := s.do(ctx, name, retryThrottled, func(ctx context.Context) error {
		var err error
		out, err = pu.UpdateSecretProperties(ctx, name, version, opts)
		return err
	})
	return out, err
}

// RecoverDeletedSecret recovers a deleted secret, retrying ErrThrottled only.
func (s *RetryStore) RecoverDeletedSecret(ctx context.Context, name string) (Properties, error) {
	r, ok := s.next.(Recoverer)
	if !ok {
		return Properties{}, unsupportedErr(s.next)
	}
	var out Properties
	err := s.do(ctx, name, retryThrottled, func(ctx context.Context) error {
		var err error
		out, err = r.RecoverDeletedSecret(ctx, name)
		return err
	})
	return out, err
}

// PurgeDeletedSecret purges a deleted secret, retrying ErrThrottled only.
func (s *RetryStore) PurgeDeletedSecret(ctx context.Context, name string) error {
	p, ok := s.next.(Purger)
	if !ok {
		return unsupportedErr(s.next)
	}
	return s.do(ctx, name, retryThrottled, func(ctx context.Context) error {
		return p.PurgeDeletedSecret(ctx, name)
	})
}

// retryList collects a whole listing with retries, then yields it.
func retryList[T any](ctx context.Context, s *RetryStore, name string, list func(context.Context) iter.Seq2[T, error]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var out []T
		err := s.do(ctx, name, retryAll, func(ctx context.Context) error {
			out = out[:0]
			for p, err := range list(ctx) {
				if err != nil {
					return err
				}
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			var zero T
			yield(zero, err)
			return
		}
		for _, p := range out {
			if !yield(p, nil) {
				return
			}
		}
	}
}

func errSeq[T any](err error) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		yield(zero, err)
	}
}

// do runs call with the rate limiter and retries. name is the secret's (for
// OnRetry).
func (s *RetryStore) do(ctx context.Context, name string, mode retryMode, call func(context.Context) error) error {
	r := &s.opts
	if r.Disabled || ctx.Value(noRetryKey{}) != nil {
		mode = retryNone
	}
	var start time.Time
	for attempt := 1; ; attempt++ {
		if r.RateLimiter != nil {
			if err := r.RateLimiter.Wait(ctx); err != nil {
				if ce := ctx.Err(); ce != nil {
					return ce
				}
				return err
			}
		}
		var sent time.Time
		if s.gate != nil {
			if err := s.gate.enter(ctx, r.Clock); err != nil {
				return err
			}
			sent = r.Clock.Now()
		}
		err := call(ctx)
		throttled := err != nil && errors.Is(err, ErrThrottled)
		var d, ra time.Duration
		if throttled {
			ra = retryAfterOf(err)
			d = r.delay(attempt-1, ra)
		}
		if s.gate != nil {
			accepted := err == nil || !throttled && !errors.Is(err, ErrUnavailable)
			w := s.gate.leave(r.Clock.Now(), sent, accepted, throttled, ra > 0, d, r.MaxDelay)
			if throttled && ra > 0 {
				// The process's window. A 429 that joined it waits at
				// least its own Retry-After, but not its own jitter: the
				// calls of one window wake together, one probes and the
				// others follow its answer.
				d = max(min(ra, r.MaxDelay), w)
			} else {
				d = max(d, w)
			}
		}
		if err == nil {
			return nil
		}
		retryable := IsRetryable(err) &&
			(mode == retryAll || mode == retryThrottled && errors.Is(err, ErrThrottled))
		if !retryable || ctx.Err() != nil {
			return err
		}
		giveUp := func() error {
			if attempt == 1 {
				return err
			}
			return &attemptsError{err: err, attempts: attempt}
		}
		if r.MaxAttempts > 0 && attempt >= r.MaxAttempts {
			return giveUp()
		}
		now := r.Clock.Now()
		if attempt == 1 {
			start = now
		}
		if !throttled {
			d = r.delay(attempt-1, retryAfterOf(err))
		}
		if r.Budget > 0 && now.Add(d).Sub(start) > r.Budget {
			return giveUp()
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
			// Waiting would outlast the caller's deadline: say why now
			// rather than when the deadline comes.
			return giveUp()
		}
		if r.OnRetry != nil {
			r.OnRetry(name, err, d)
		}
		if serr := r.Clock.Sleep(ctx, d); serr != nil {
			return serr
		}
	}
}
