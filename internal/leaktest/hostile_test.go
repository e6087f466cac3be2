package leaktest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/credential"
	"github.com/go-azureml/secrets/internal/armfake"
	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/azurevault"
	"github.com/go-azureml/secrets/workspace"
)

const (
	hostSub = "00000000-1111-2222-3333-444444444444"
	hostRG  = "rg-ml"
	hostWS  = "ws-ml"
)

// Attack: ARM (or whatever answers for it) returns a connection's
// credentials under a status the operation does not expect (201, 202, an
// error status). azcore logs the whole body of such an answer as
// EventResponseError, whatever Logging.IncludeBody says; the body guard
// must keep it out of the log under every status, and out of the error.
func TestListSecretsBodyNeverLogged(t *testing.T) {
	doc := `{"id":"x","name":"openai","properties":{"authType":"ApiKey","category":"AzureOpenAI","target":"https://oai.example.test/","credentials":{"key":"CANARY-conn-key-44d1"}},` +
		`"error":{"code":"Weird","message":"CANARY-conn-key-44d1 CANARY-token-5a5a","innererror":{"code":"Odd"}}}`
	for _, status := range []int{200, 201, 202, 203, 206, 301, 400, 401, 403, 404, 409, 429, 500, 503} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			c := startCapture(t)
			s := armfake.NewServer()
			t.Cleanup(s.Close)
			s.Set(http.MethodPost, armfake.WorkspacePath(hostSub, hostRG, hostWS)+"/connections/openai/listsecrets", armfake.Response{Status: status, Body: doc})
			w := workspace.New(hostSub, hostRG, hostWS, &workspace.Options{
				Credential:    credential.Static("t", time.Time{}),
				ClientOptions: azcore.ClientOptions{Cloud: s.Cloud(), Transport: s.Transport(), Retry: policy.RetryOptions{MaxRetries: -1}},
				Getenv:        func(string) string { return "" },
			})
			conn, err := w.ListConnectionSecrets(t.Context(), "openai")
			if status == 200 {
				require.NoError(t, err)
				require.Equal(t, "CANARY-conn-key-44d1", conn.Credentials["key"].Reveal())
				c.record("connection", conn)
			} else {
				require.Error(t, err)
				c.record("error", err)
				js, jerr := json.Marshal(err)
				require.NoError(t, jerr)
				c.add("json: %s", js)
			}
			require.Positive(t, s.Count(http.MethodPost, armfake.WorkspacePath(hostSub, hostRG, hostWS)+"/connections/openai/listsecrets"))
			assertNoCanary(t, c)
		})
	}
}

// hostileVault is a loopback HTTPS listener that speaks Key Vault's
// challenge and then answers every request with status and body.
func hostileVault(t *testing.T, status int, body string, header http.Header) *httptest.Server {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/tenant", resource="https://vault.azure.net"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// rawControl reports the first rune of s that a terminal would act on:
// C0/C1 controls, DEL, bidi overrides and isolates, invalid UTF-8.
func rawControl(s string) (rune, bool) {
	for _, r := range s {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			return r, true
		}
	}
	return 0, false
}

// Attack: a hostile vault puts 24 KB of newlines, ESC sequences and U+202E
// into innererror.code (and x-ms-error-code). The error stays short and
// printable, and neither the error, its JSON nor the log carries the body.
func TestHostileErrorCodeBounded(t *testing.T) {
	// The codes are hostile in size and bytes; the message and other
	// fields carry a canary, which must not show anywhere.
	hostile := strings.Repeat("\n\x1b[2J\u202eHOSTILE\r\u2066\x00", 24<<10/24)
	body, err := json.Marshal(map[string]any{"error": map[string]any{
		"code": "Forbidden" + hostile, "message": "CANARY-plain-7f3a9c" + hostile, "innererror": map[string]any{"code": hostile},
	}, "value": "CANARY-plain-7f3a9c"})
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
	}{
		{"403 innererror", 403, nil},
		{"404 innererror", 404, nil},
		{"500 innererror", 500, nil},
		{"400 x-ms-error-code", 400, http.Header{"X-Ms-Error-Code": {"Bad" + strings.Repeat("HOSTILE-\u202e", 2000)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCapture(t)
			srv := hostileVault(t, tc.status, string(body), tc.header)
			co := azcore.ClientOptions{Transport: srv.Client()}
			co.Retry.MaxRetries = -1
			s, err := azurevault.New(srv.URL+"/", credential.Static("tok", time.Time{}), &azurevault.Options{ClientOptions: co})
			require.NoError(t, err)
			kv := keyvault.New(s, &keyvault.Options{Retry: &keyvault.RetryOptions{Disabled: true}})
			_, err = kv.GetSecret(t.Context(), "db-password")
			require.Error(t, err)
			msg := err.Error()
			require.Greater(t, len(body), 24<<10)
			assert.Less(t, len(msg), 300, "error text is bounded: %q", msg)
			t.Logf("error: %s", msg)
			if r, bad := rawControl(msg); bad {
				t.Errorf("raw %U in the error: %q", r, msg)
			}
			js, err2 := json.Marshal(err)
			require.NoError(t, err2)
			assert.Less(t, len(js), 600, "JSON of the error is bounded and carries no body: %s", js)
			c.record("error", err)
			c.add("json: %s", js)
			assertNoCanary(t, c)
		})
	}
}

// Attack: a vault answers a set with 201 (not the 200 the SDK expects) and
// echoes the value: azcore would log that body as a ResponseError.
func TestUnexpectedStatusBodyNotLogged(t *testing.T) {
	for _, status := range []int{201, 202, 204, 206} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			c := startCapture(t)
			srv := hostileVault(t, status, `{"value":"CANARY-plain-7f3a9c","id":"https://x/secrets/db-password/0123456789abcdef0123456789abcdef"}`, nil)
			co := azcore.ClientOptions{Transport: srv.Client()}
			co.Retry.MaxRetries = -1
			s, err := azurevault.New(srv.URL+"/", credential.Static("tok", time.Time{}), &azurevault.Options{ClientOptions: co})
			require.NoError(t, err)
			kv := keyvault.New(s, &keyvault.Options{Retry: &keyvault.RetryOptions{Disabled: true}})
			_, err = kv.SetSecret(t.Context(), "db-password", canaryPlain, nil)
			c.record("set error", err)
			_, err = kv.GetSecret(t.Context(), "db-password")
			c.record("get error", err)
			js, _ := json.Marshal(err)
			c.add("json: %s", js)
			assertNoCanary(t, c)
		})
	}
}
