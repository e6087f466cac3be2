package errmap_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/internal/errmap"
	"github.com/go-azureml/secrets/keyvault"
)

func responseError(t *testing.T, status int, body string, header http.Header) error {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "https://v.vault.azure.net/secrets/x/?api-version=1", nil)
	require.NoError(t, err)
	if header == nil {
		header = http.Header{}
	}
	resp := &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(strings.NewReader(body)), Request: req}
	return runtime.NewResponseError(resp)
}

func TestFromAzure(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		want  []error
		msg   string
		retry time.Duration
	}{
		{"not found", responseError(t, 404, `{"error":{"code":"SecretNotFound","message":"m"}}`, nil), []error{keyvault.ErrNotFound}, "not found (404 SecretNotFound)", 0},
		{"disabled via innererror", responseError(t, 403, `{"error":{"code":"Forbidden","message":"m","innererror":{"code":"SecretDisabled"}}}`, nil), []error{keyvault.ErrDisabled, keyvault.ErrPermission}, "secret version is disabled (403 SecretDisabled)", 0},
		{"throttled with Retry-After", responseError(t, 429, `{"error":{"code":"Throttled","message":"m"}}`, http.Header{"Retry-After": {"7"}}), []error{keyvault.ErrThrottled}, "throttled (429 Throttled)", 7 * time.Second},
		{"conflict", responseError(t, 409, `{"error":{"code":"Conflict","message":"m","innererror":{"code":"ObjectIsDeletedButRecoverable"}}}`, nil), []error{keyvault.ErrConflict}, "conflict (409 ObjectIsDeletedButRecoverable)", 0},
		{"5xx without a body", responseError(t, 503, ``, nil), []error{keyvault.ErrUnavailable}, "vault unavailable (HTTP 503)", 0},
		{"transport", fmt.Errorf("dial tcp 127.0.0.1:1: connection refused"), []error{keyvault.ErrUnavailable}, "vault unavailable: dial tcp 127.0.0.1:1: connection refused", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := errmap.FromAzure(tc.err)
			for _, w := range tc.want {
				assert.ErrorIs(t, err, w)
			}
			assert.Equal(t, tc.msg, err.Error())
			var se *keyvault.ServiceError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.retry, se.RetryAfter)
			var re *azcore.ResponseError
			assert.Equal(t, errors.As(tc.err, &re), errors.As(err, &re), "the ResponseError stays reachable")
		})
	}
	assert.Nil(t, errmap.FromAzure(nil))
	assert.Same(t, context.Canceled, errmap.FromAzure(context.Canceled))
	wrapped := fmt.Errorf("send: %w", context.DeadlineExceeded)
	assert.Same(t, wrapped, errmap.FromAzure(wrapped))
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		h    http.Header
		want time.Duration
	}{
		{http.Header{}, 0},
		{http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		{http.Header{"Retry-After": {"0"}}, 0},
		{http.Header{"Retry-After": {"junk"}}, 0},
		{http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second},
		{http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0},
		{http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"9"}}, 250 * time.Millisecond},
		{http.Header{"X-Ms-Retry-After-Ms": {"1500"}}, 1500 * time.Millisecond},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, errmap.RetryAfter(tc.h, now), "%v", tc.h)
	}
}
