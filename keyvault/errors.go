package keyvault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-azureml/secrets/internal/safetext"
)

// Sentinel errors. Every error returned by this module's stores and by
// Keyvault wraps at most a few of these; match them with errors.Is.
var (
	// ErrNotFound: no such secret (or version), or it is deleted.
	ErrNotFound = errors.New("not found")
	// ErrInvalidName: the name breaks Key Vault's rules (see ValidateName).
	ErrInvalidName = errors.New("invalid secret name")
	// ErrInvalidValue: the value cannot be stored (for example, over
	// MaxValueBytes).
	ErrInvalidValue = errors.New("invalid secret value")
	// ErrPermission: the caller is not allowed (HTTP 401 or 403).
	ErrPermission = errors.New("permission denied")
	// ErrDisabled: the version is disabled and cannot be read. Errors that
	// wrap it also wrap ErrPermission, since Key Vault answers 403.
	ErrDisabled = errors.New("secret version is disabled")
	// ErrThrottled: the vault refused the request for now (HTTP 429).
	ErrThrottled = errors.New("throttled")
	// ErrConflict: the request conflicts with the vault's state (HTTP 409),
	// for example setting a name that is deleted but not yet purged.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: the vault failed or could not be reached (HTTP 5xx or
	// a transport error). Worth retrying later.
	ErrUnavailable = errors.New("vault unavailable")
	// ErrBadResponse: the vault answered, but not with anything this client
	// can use: an authentication challenge for another resource than the
	// vault's, or a success whose body is not what the operation returns.
	// It is never retried; check the vault URL (and, for a proxy or
	// emulator, what answers there).
	ErrBadResponse = errors.New("unusable answer from the vault")
)

// Error is the error Keyvault methods return for one secret: the operation,
// the secret's name and the cause. Its message is short ("get secret
// db-password: not found") and never contains a value. Unwrap reaches the
// cause, so errors.Is finds the sentinels and errors.As finds, for example, an
// *azcore.ResponseError.
type Error struct {
	// Op is the operation, such as "get secret".
	Op string
	// Name is the secret's name; it may be empty for whole-vault operations.
	Name string
	// Err is the cause.
	Err error
}

// Error returns "op name: cause".
func (e *Error) Error() string {
	if e.Name == "" {
		return e.Op + ": " + e.Err.Error()
	}
	return e.Op + " " + e.Name + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// MarshalJSON encodes the operation, the name and the message; the cause's
// fields (a response body among them) are left out.
func (e *Error) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Op    string `json:"op"`
		Name  string `json:"name,omitempty"`
		Error string `json:"error"`
	}{e.Op, e.Name, e.Error()})
}

// ServiceError is how a Store reports a classified failure from a vault
// service: which sentinels apply, the HTTP status and the service's error code
// when there was one, and the underlying error. Its message names the kind and
// the code ("not found (404 SecretNotFound)") and never the response body.
type ServiceError struct {
	// Kinds are the sentinels that apply, most specific first (may be empty).
	Kinds []error
	// StatusCode is the HTTP status, or 0 when no response arrived.
	StatusCode int
	// Code is the service's error code, such as "SecretNotFound".
	Code string
	// Err is the underlying error (for azurevault, an *azcore.ResponseError
	// or a transport error). It may be nil.
	Err error
	// RetryAfter is how long the service asked the caller to wait (its
	// Retry-After header), or 0 when it did not say.
	RetryAfter time.Duration
	// Permanent says that retrying cannot help although the kind may be
	// ErrUnavailable: a refused connection to a loopback emulator, a
	// certificate the client does not trust. See IsRetryable.
	Permanent bool
	// Hint, when set, says what to do; it is appended to the message.
	Hint string
}

// Error names the kind and the service's code, e.g. "not found (404
// SecretNotFound)"; for a transport error, the transport's message.
func (e *ServiceError) Error() string {
	var b strings.Builder
	if len(e.Kinds) > 0 {
		b.WriteString(e.Kinds[0].Error())
	} else {
		b.WriteString("request failed")
	}
	// The code and a transport's text can come from the server: bounded,
	// with control and bidi characters escaped.
	code := safetext.Clean(e.Code, maxCodeBytes)
	switch {
	case e.StatusCode != 0 && code != "":
		fmt.Fprintf(&b, " (%d %s)", e.StatusCode, code)
	case e.StatusCode != 0:
		fmt.Fprintf(&b, " (HTTP %d)", e.StatusCode)
	case code != "":
		fmt.Fprintf(&b, " (%s)", code)
	}
	if e.StatusCode == 0 && e.Err != nil && !slices.Contains(e.Kinds, ErrBadResponse) {
		// A transport error: its text names the host, never a value. (The
		// text of an unusable answer can be the server's: not shown.)
		b.WriteString(": ")
		b.WriteString(safetext.Clean(e.Err.Error(), safetext.MaxBytes))
	}
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// maxCodeBytes bounds the service's error code in a message.
const maxCodeBytes = 100

// MarshalJSON encodes the error as its message, status, code and kinds; the
// underlying error (an *azcore.ResponseError would carry the response body)
// is left out.
func (e *ServiceError) MarshalJSON() ([]byte, error) {
	kinds := make([]string, 0, len(e.Kinds))
	for _, k := range e.Kinds {
		kinds = append(kinds, k.Error())
	}
	return json.Marshal(struct {
		Error      string   `json:"error"`
		StatusCode int      `json:"status,omitempty"`
		Code       string   `json:"code,omitempty"`
		Kinds      []string `json:"kinds,omitempty"`
	}{e.Error(), e.StatusCode, safetext.Clean(e.Code, maxCodeBytes), kinds})
}

// Unwrap returns the sentinels and the underlying error.
func (e *ServiceError) Unwrap() []error {
	errs := slices.Clone(e.Kinds)
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// Classify maps an HTTP status and a Key Vault error code to a *ServiceError
// carrying the matching sentinels. It is the single place where this module
// decides what a vault's answer means:
//
//	400 -> ErrInvalidValue when the code is BadParameter for a value, else no sentinel
//	401, 403 -> ErrPermission (and ErrDisabled first for SecretDisabled)
//	404 -> ErrNotFound
//	409 -> ErrConflict
//	429 -> ErrThrottled
//	5xx, or status 0 (no response) -> ErrUnavailable
//
// cause is kept as the ServiceError's Err.
func Classify(status int, code string, cause error) *ServiceError {
	se := &ServiceError{StatusCode: status, Code: code, Err: cause}
	switch {
	case status == 401 || status == 403:
		if strings.EqualFold(code, "SecretDisabled") {
			se.Kinds = []error{ErrDisabled, ErrPermission}
		} else {
			se.Kinds = []error{ErrPermission}
		}
	case status == 404:
		se.Kinds = []error{ErrNotFound}
	case status == 409:
		se.Kinds = []error{ErrConflict}
	case status == 429:
		se.Kinds = []error{ErrThrottled}
	case status == 0 || status >= 500:
		se.Kinds = []error{ErrUnavailable}
	}
	return se
}

// BatchError reports the names that failed in a batch call (SetSecrets,
// GetSecrets, DeleteSecrets). What succeeded stays done. Its message lists
// each failed name and why, sorted by name; errors.Is(err, ErrNotFound) and
// the like hold when any failure wraps that sentinel.
type BatchError struct {
	// Op is the batch operation, such as "get secrets".
	Op string
	// Failed maps each failed name to its error.
	Failed map[string]error
	// Total is how many names the batch had.
	Total int
}

// Names returns the failed names, sorted.
func (e *BatchError) Names() []string {
	names := make([]string, 0, len(e.Failed))
	for n := range e.Failed {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Error returns "op: N of M failed: " and the failed name with its cause,
// or, when more than one failed, a list of them, one a line.
func (e *BatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d of %d failed:", e.Op, len(e.Failed), e.Total)
	sep := " "
	if len(e.Failed) > 1 {
		sep = "\n  "
	}
	for _, n := range e.Names() {
		b.WriteString(sep)
		b.WriteString(n)
		b.WriteString(": ")
		b.WriteString(causeText(e.Failed[n]))
	}
	return b.String()
}

// causeText drops the "op name: " prefix of an *Error so that batch messages
// don't repeat it.
func causeText(err error) string {
	var ke *Error
	if errors.As(err, &ke) && ke.Err != nil {
		return ke.Err.Error()
	}
	return err.Error()
}

// MarshalJSON encodes the operation, the message and each failed name with
// its message; no cause's fields (a response body among them).
func (e *BatchError) MarshalJSON() ([]byte, error) {
	failed := make(map[string]string, len(e.Failed))
	for n, err := range e.Failed {
		failed[n] = causeText(err)
	}
	return json.Marshal(struct {
		Op     string            `json:"op"`
		Error  string            `json:"error"`
		Failed map[string]string `json:"failed"`
		Total  int               `json:"total"`
	}{e.Op, e.Error(), failed, e.Total})
}

// Unwrap returns each failure, in name order.
func (e *BatchError) Unwrap() []error {
	errs := make([]error, 0, len(e.Failed))
	for _, n := range e.Names() {
		errs = append(errs, e.Failed[n])
	}
	return errs
}

// wrap turns a store's error into the error a Keyvault method returns:
// context errors pass through unchanged, everything else becomes an *Error.
func wrap(ctx context.Context, op, name string, err error) error {
	if err == nil {
		return nil
	}
	if ce := ctx.Err(); ce != nil && errors.Is(err, ce) {
		return ce
	}
	if isContextError(err) {
		if _, ok := err.(*ServiceError); !ok {
			return err
		}
	}
	var ke *Error
	if errors.As(err, &ke) && ke.Op == op && ke.Name == name {
		return err
	}
	return &Error{Op: op, Name: name, Err: err}
}
