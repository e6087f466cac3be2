package keyvault

import (
	"fmt"
	"log/slog"
)

// Redacted is what a Value shows in place of its plaintext wherever it is
// printed, marshalled or logged.
const Redacted = "[REDACTED]"

// Value holds a secret's plaintext. It never shows the plaintext through fmt
// (every verb, including %v, %+v, %#v, %s, %q and %x), encoding/json,
// encoding (text marshalling), encoding/gob or log/slog: all of them show
// [Redacted]. Reveal is the one explicit way to read the plaintext.
//
// The plaintext is held by a function, not in a field: reflection, which
// can read unexported fields and follow pointers, cannot look inside a
// function. So a reflection-based printer that skips the methods above
// (go-spew with DisableMethods, as testify's failure diffs use it; %v of a
// struct that holds a Value in an unexported field) shows a function, never
// the text. One consequence: reflect.DeepEqual (and so testify's
// assert.Equal) treats two Values as equal only when one is a copy of the
// other; compare plaintexts with Equal, which go-cmp uses by itself. The
// zero Value is empty.
type Value struct {
	p func() string
}

// NewValue wraps plaintext in a Value.
func NewValue(plaintext string) Value {
	return Value{p: func() string { return plaintext }}
}

// Reveal returns the plaintext. It is the only way to read it: call it at the
// last moment, where the value is used, and do not print what it returns.
func (v Value) Reveal() string {
	if v.p == nil {
		return ""
	}
	return v.p()
}

// Len returns the length of the plaintext in bytes.
func (v Value) Len() int { return len(v.Reveal()) }

// IsZero reports whether the Value holds nothing (the zero Value or "").
func (v Value) IsZero() bool { return v.Len() == 0 }

// String returns [Redacted].
func (Value) String() string { return Redacted }

// GoString returns [Redacted] for %#v.
func (Value) GoString() string { return Redacted }

// Format writes [Redacted] for every fmt verb.
func (Value) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// MarshalJSON encodes the Value as the JSON string "[REDACTED]".
func (Value) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText returns [Redacted].
func (Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// GobEncode encodes the Value as [Redacted]: gob never carries the
// plaintext.
func (Value) GobEncode() ([]byte, error) { return []byte(Redacted), nil }

// LogValue makes log/slog show [Redacted].
func (Value) LogValue() slog.Value { return slog.StringValue(Redacted) }

// Equal reports whether two Values hold the same plaintext.
func (v Value) Equal(o Value) bool { return v.Reveal() == o.Reveal() }
