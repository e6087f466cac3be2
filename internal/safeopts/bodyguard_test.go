package safeopts_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azlog "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/internal/safeopts"
)

type fixedTransport struct {
	status int
	body   string
}

func (f fixedTransport) Do(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: f.status, Status: http.StatusText(f.status), Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(f.body)), Request: r}, nil
}

func TestBodyGuard(t *testing.T) {
	var mu sync.Mutex
	var logged strings.Builder
	azlog.SetEvents()
	azlog.SetListener(func(ev azlog.Event, msg string) {
		mu.Lock()
		logged.WriteString(string(ev) + ": " + msg + "\n")
		mu.Unlock()
	})
	t.Cleanup(func() { azlog.SetListener(nil) })
	const body = `{"value":"CANARY-guard","error":{"code":"Conflict","message":"CANARY-guard","innererror":{"code":"ObjectIsDeletedButRecoverable"}}}`
	for _, tc := range []struct {
		method, path string
		status       int
		withheld     bool
	}{
		{http.MethodPost, "/subscriptions/s/connections/c/listsecrets", 201, true},
		{http.MethodPost, "/subscriptions/s/connections/c/listsecrets", 200, false},
		{http.MethodGet, "/secrets/x/", 202, true},
		{http.MethodGet, "/secrets/x/", 409, true},
		{http.MethodDelete, "/deletedsecrets/x", 200, true},
		{http.MethodDelete, "/deletedsecrets/x", 204, false},
		{http.MethodGet, "/subscriptions/s/workspaces/w", 201, false}, // no secrets there
	} {
		co := safeopts.Client(azcore.ClientOptions{Transport: fixedTransport{tc.status, body}, Retry: policy.RetryOptions{MaxRetries: -1}})
		co = safeopts.Client(co) // idempotent
		pl := runtime.NewPipeline("m", "v", runtime.PipelineOptions{}, &co)
		req, err := runtime.NewRequest(t.Context(), tc.method, "https://h.example"+tc.path)
		require.NoError(t, err)
		resp, err := pl.Do(req)
		require.NoError(t, err)
		got, err := runtime.Payload(resp)
		require.NoError(t, err)
		if !tc.withheld {
			assert.Equal(t, body, string(got), "%s %s %d", tc.method, tc.path, tc.status)
			continue
		}
		assert.NotContains(t, string(got), "CANARY")
		assert.Contains(t, string(got), safeopts.Withheld)
		assert.Contains(t, string(got), `"ObjectIsDeletedButRecoverable"`, "codes are kept")
		rerr := runtime.NewResponseError(resp) // what azcore logs as EventResponseError
		assert.NotContains(t, rerr.Error(), "CANARY")
	}
	mu.Lock()
	defer mu.Unlock()
	require.Contains(t, logged.String(), "ResponseError", "the listener saw the errors")
	assert.NotContains(t, logged.String(), "CANARY")
}
