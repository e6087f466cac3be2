// Package errmap turns errors from the Azure SDK into this module's
// classified errors (keyvault.ServiceError wrapping the keyvault sentinels),
// keeping the *azcore.ResponseError reachable with errors.As. It is the one
// place where an Azure error is classified; the mapping itself is
// keyvault.Classify.
package errmap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/go-azureml/secrets/internal/safetext"
	"github.com/go-azureml/secrets/keyvault"
)

// maxCodeBytes bounds a service error code kept in an error.
const maxCodeBytes = 100

// FromAzure classifies err. Context errors come back unchanged; an
// *azcore.ResponseError becomes a *keyvault.ServiceError with the status,
// the service's error code and any Retry-After; any other error (transport,
// truncated body) becomes a ServiceError wrapping keyvault.ErrUnavailable.
// The result's message never includes a response body.
func FromAzure(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var se *keyvault.ServiceError
	if errors.As(err, &se) {
		return err
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		code := re.ErrorCode
		if inner := innerCode(re.RawResponse); inner != "" {
			// Key Vault puts the precise reason in innererror, e.g.
			// Forbidden/SecretDisabled or Conflict/ObjectIsDeletedButRecoverable.
			code = inner
		}
		// The code is the server's text: bounded and escaped.
		out := keyvault.Classify(re.StatusCode, safetext.Clean(code, maxCodeBytes), err)
		if re.RawResponse != nil {
			out.RetryAfter = RetryAfter(re.RawResponse.Header, time.Now())
		}
		return out
	}
	if code, ok := badAnswer(err); ok {
		return &keyvault.ServiceError{Kinds: []error{keyvault.ErrBadResponse}, Code: code, Err: err}
	}
	out := keyvault.Classify(0, "", err)
	if untrusted(err) {
		// A certificate the client does not trust will not be trusted on
		// the next attempt either.
		out.Permanent = true
	}
	return out
}

// BadResponse returns the error for an answer that is not what the
// operation returns: it wraps keyvault.ErrBadResponse, is never retried,
// and says why in words of this module, not the server's.
func BadResponse(code, why string) error {
	return &keyvault.ServiceError{Kinds: []error{keyvault.ErrBadResponse}, Code: code, Hint: why}
}

// badAnswer recognizes the SDK's errors for an answer that arrived whole
// but cannot be used: a success body that is not the operation's JSON, and
// an authentication challenge that is malformed or names another resource
// than the vault's. azcore and azsecrets report these as plain errors, so
// their text is all there is to go by. Retrying them cannot help.
func badAnswer(err error) (code string, ok bool) {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unmarshalling type"):
		return "MalformedBody", true
	case strings.Contains(msg, "doesn't match the requested domain"):
		return "ChallengeForAnotherResource", true
	case strings.Contains(msg, "WWW-Authenticate"), strings.Contains(msg, "invalid challenge resource"):
		return "MalformedChallenge", true
	}
	return "", false
}

// untrusted reports whether err is a TLS certificate verification failure.
func untrusted(err error) bool {
	var (
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
		cve *tls.CertificateVerificationError
	)
	return errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) || errors.As(err, &cve)
}

// RetryAfter reads a Retry-After header (seconds, or an HTTP date measured
// from now; also x-ms-retry-after-ms and retry-after-ms). It returns 0 when
// the header is absent or unreadable.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	for _, k := range []string{"Retry-After-Ms", "X-Ms-Retry-After-Ms"} {
		if v := h.Get(k); v != "" {
			if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
				return time.Duration(ms * float64(time.Millisecond))
			}
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// innerCode reads error.innererror.code from a Key Vault error body, which
// azcore has already buffered. It returns "" when there is none. Only the
// code is kept; the body is never put into an error message.
func innerCode(resp *http.Response) string {
	if resp == nil || resp.Body == nil {
		return ""
	}
	body, err := runtime.Payload(resp)
	if err != nil || len(body) == 0 || len(body) > 64<<10 {
		return ""
	}
	var e struct {
		Error struct {
			InnerError struct {
				Code string `json:"code"`
			} `json:"innererror"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Error.InnerError.Code
}
