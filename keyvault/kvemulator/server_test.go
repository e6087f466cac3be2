package kvemulator_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/go-azureml/secrets/keyvault/kvemulator"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var versionRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// newClient returns an azsecrets client of srv with challenge-resource
// verification on. retries < 0 disables retries.
func newClient(t *testing.T, srv *kvemulator.Server, retries int) *azsecrets.Client {
	t.Helper()
	co := srv.ClientOptions()
	co.Retry.MaxRetries = int32(retries)
	c, err := azsecrets.NewClient(srv.VaultURL(), srv.Credential(), &azsecrets.ClientOptions{ClientOptions: co})
	require.NoError(t, err)
	return c
}

func newServer(t *testing.T, opts *kvemulator.Options) *kvemulator.Server {
	t.Helper()
	srv := mustStart(opts)
	t.Cleanup(srv.Close)
	return srv
}

// mustStart starts a server or panics, as keyvaulttest.NewServer does.
func mustStart(opts *kvemulator.Options) *kvemulator.Server {
	srv, err := kvemulator.Start(opts)
	if err != nil {
		panic(err)
	}
	return srv
}

func respErr(t *testing.T, err error) *azcore.ResponseError {
	t.Helper()
	var re *azcore.ResponseError
	require.ErrorAs(t, err, &re)
	return re
}

// clock is an injectable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_700_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestServerURLsAndCertificate(t *testing.T) {
	srv := newServer(t, &kvemulator.Options{VaultName: "MyVault"})
	assert.Equal(t, "https://myvault.vault.azure.net/", srv.VaultURL())
	assert.Equal(t, "myvault", srv.VaultName())
	assert.Regexp(t, `^https://127\.0\.0\.1:\d+/$`, srv.ListenURL())
	assert.Contains(t, string(srv.CACertPEM()), "BEGIN CERTIFICATE")
	assert.True(t, srv.Certificate().IsCA)
	_, err := kvemulator.Start(&kvemulator.Options{VaultName: "bad_name"})
	assert.Error(t, err)
}

// TestKeyExchange: the emulator's own client transport (ClientOptions,
// HTTPClient) uses X25519 and resumes TLS sessions, so a new connection
// costs neither a post-quantum key exchange nor a certificate check; the
// server leaves the choice to the client, as Go's does (a client with Go's
// defaults gets X25519MLKEM768), and never asks for another key share.
func TestKeyExchange(t *testing.T) {
	srv := newServer(t, nil)
	hc := srv.HTTPClient()
	get := func() *tls.ConnectionState {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.VaultURL()+"secrets?api-version=7.4", nil)
		require.NoError(t, err)
		req.Close = true // a new connection for each request
		resp, err := hc.Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.NotNil(t, resp.TLS)
		return resp.TLS
	}
	first, second := get(), get()
	assert.Equal(t, tls.X25519, first.CurveID)
	assert.False(t, first.DidResume)
	assert.True(t, second.DidResume, "the second connection resumes the first's session")
	assert.False(t, first.HelloRetryRequest || second.HelloRetryRequest)

	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	for _, tt := range []struct {
		name   string
		offer  []tls.CurveID
		expect tls.CurveID
	}{
		{"go defaults", nil, tls.X25519MLKEM768},
		{"P-256 only", []tls.CurveID{tls.CurveP256}, tls.CurveP256},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", srv.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", CurvePreferences: tt.offer})
			require.NoError(t, err)
			defer conn.Close()
			st := conn.ConnectionState()
			assert.Equal(t, tt.expect, st.CurveID)
			assert.False(t, st.HelloRetryRequest, "the server asked for another key share")
		})
	}
}

// TestEveryRouteThroughSDK drives each REST route through azsecrets v1.5.1 with
// challenge-resource verification on.
func TestEveryRouteThroughSDK(t *testing.T) {
	clk := newClock()
	srv := newServer(t, &kvemulator.Options{Now: clk.Now, PropagationDelay: -1})
	c := newClient(t, srv, 0)
	ctx := context.Background()
	created := clk.Now().Unix()

	// SetSecret
	set, err := c.SetSecret(ctx, "Db-Password", azsecrets.SetSecretParameters{
		Value:       to.Ptr("v1"),
		ContentType: to.Ptr("text/plain"),
		Tags:        map[string]*string{"env": to.Ptr("dev")},
	}, nil)
	require.NoError(t, err)
	assert.Equal(t, "v1", *set.Value)
	assert.Equal(t, "Db-Password", set.ID.Name())
	assert.Regexp(t, versionRE, set.ID.Version())
	assert.Equal(t, "https://keyvaulttest.vault.azure.net/secrets/Db-Password/"+set.ID.Version(), string(*set.ID))
	assert.Equal(t, "text/plain", *set.ContentType)
	assert.Equal(t, "dev", *set.Tags["env"])
	require.NotNil(t, set.Attributes)
	assert.True(t, *set.Attributes.Enabled)
	assert.Equal(t, created, set.Attributes.Created.Unix())
	assert.Equal(t, created, set.Attributes.Updated.Unix())
	assert.Equal(t, "Recoverable+Purgeable", *set.Attributes.RecoveryLevel)
	assert.Equal(t, int32(90), *set.Attributes.RecoverableDays)
	v1 := set.ID.Version()

	clk.Advance(time.Minute)
	set2, err := c.SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{Value: to.Ptr("v2")}, nil)
	require.NoError(t, err)
	assert.Equal(t, "Db-Password", set2.ID.Name(), "the case of first creation is kept")
	v2 := set2.ID.Version()
	assert.NotEqual(t, v1, v2)

	// GetSecret: latest and by version, names case-insensitive
	got, err := c.GetSecret(ctx, "DB-PASSWORD", "", nil)
	require.NoError(t, err)
	assert.Equal(t, "v2", *got.Value)
	assert.Equal(t, v2, got.ID.Version())
	got, err = c.GetSecret(ctx, "db-password", v1, nil)
	require.NoError(t, err)
	assert.Equal(t, "v1", *got.Value)

	// UpdateSecret (PATCH /secrets/NAME/VERSION)
	clk.Advance(time.Minute)
	exp := time.Unix(clk.Now().Unix()+3600, 0)
	up, err := c.UpdateSecretProperties(ctx, "db-password", v1, azsecrets.UpdateSecretPropertiesParameters{
		ContentType:      to.Ptr("application/json"),
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(false), Expires: &exp},
		Tags:             map[string]*string{"owner": to.Ptr("me")},
	}, nil)
	require.NoError(t, err)
	assert.Nil(t, up.Value, "update answers no value")
	assert.Equal(t, "application/json", *up.ContentType)
	assert.False(t, *up.Attributes.Enabled)
	assert.Equal(t, exp.Unix(), up.Attributes.Expires.Unix())
	assert.Equal(t, clk.Now().Unix(), up.Attributes.Updated.Unix())
	assert.Equal(t, created, up.Attributes.Created.Unix())
	assert.Equal(t, map[string]*string{"owner": to.Ptr("me")}, up.Tags)

	// A disabled version is forbidden
	_, err = c.GetSecret(ctx, "db-password", v1, nil)
	re := respErr(t, err)
	assert.Equal(t, http.StatusForbidden, re.StatusCode)
	assert.Equal(t, "Forbidden", re.ErrorCode)

	// GetSecretVersions
	var versions []string
	for pager := c.NewListSecretPropertiesVersionsPager("DB-password", nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		require.NoError(t, err)
		for _, p := range page.Value {
			versions = append(versions, p.ID.Version())
		}
	}
	assert.Equal(t, []string{v1, v2}, versions)

	// GetSecrets, paged: 30 secrets need two pages of 25
	for i := range 29 {
		_, err := c.SetSecret(ctx, fmt.Sprintf("s%02d", i), azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil)
		require.NoError(t, err)
	}
	var names []string
	pages := 0
	for pager := c.NewListSecretPropertiesPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		require.NoError(t, err)
		pages++
		for _, p := range page.Value {
			assert.Empty(t, p.ID.Version(), "list items carry the base id")
			names = append(names, p.ID.Name())
		}
	}
	assert.Equal(t, 2, pages)
	require.Len(t, names, 30)
	assert.Equal(t, "Db-Password", names[0])
	assert.Equal(t, "s28", names[29])

	// DeleteSecret
	del, err := c.DeleteSecret(ctx, "db-password", nil)
	require.NoError(t, err)
	assert.Equal(t, "https://keyvaulttest.vault.azure.net/deletedsecrets/Db-Password", *del.RecoveryID)
	assert.Equal(t, clk.Now().Unix(), del.DeletedDate.Unix())
	assert.Equal(t, clk.Now().Add(90*24*time.Hour).Unix(), del.ScheduledPurgeDate.Unix())
	assert.Nil(t, del.Value)
	_, err = c.GetSecret(ctx, "db-password", "", nil)
	assert.Equal(t, "SecretNotFound", respErr(t, err).ErrorCode)

	// Setting a soft-deleted name conflicts
	_, err = c.SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{Value: to.Ptr("v3")}, nil)
	re = respErr(t, err)
	assert.Equal(t, http.StatusConflict, re.StatusCode)
	assert.Equal(t, "Conflict", re.ErrorCode)

	// GetDeletedSecret, GetDeletedSecrets
	gd, err := c.GetDeletedSecret(ctx, "DB-PASSWORD", nil)
	require.NoError(t, err)
	assert.Equal(t, "Db-Password", gd.ID.Name())
	var deleted []string
	for pager := c.NewListDeletedSecretPropertiesPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		require.NoError(t, err)
		for _, p := range page.Value {
			deleted = append(deleted, p.ID.Name())
			assert.NotNil(t, p.RecoveryID)
			assert.NotNil(t, p.DeletedDate)
		}
	}
	assert.Equal(t, []string{"Db-Password"}, deleted)

	// RecoverDeletedSecret
	rec, err := c.RecoverDeletedSecret(ctx, "db-password", nil)
	require.NoError(t, err)
	assert.Equal(t, v2, rec.ID.Version())
	got, err = c.GetSecret(ctx, "db-password", "", nil)
	require.NoError(t, err)
	assert.Equal(t, "v2", *got.Value)

	// BackupSecret, then delete + PurgeDeletedSecret, then RestoreSecret
	bk, err := c.BackupSecret(ctx, "db-password", nil)
	require.NoError(t, err)
	assert.NotEmpty(t, bk.Value)
	_, err = c.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: bk.Value}, nil)
	assert.Equal(t, http.StatusConflict, respErr(t, err).StatusCode, "restore over an existing name")
	_, err = c.DeleteSecret(ctx, "db-password", nil)
	require.NoError(t, err)
	_, err = c.PurgeDeletedSecret(ctx, "db-password", nil)
	require.NoError(t, err)
	_, err = c.GetDeletedSecret(ctx, "db-password", nil)
	assert.Equal(t, http.StatusNotFound, respErr(t, err).StatusCode)
	rs, err := c.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: bk.Value}, nil)
	require.NoError(t, err)
	assert.Equal(t, v2, rs.ID.Version())
	got, err = c.GetSecret(ctx, "db-password", v2, nil)
	require.NoError(t, err)
	assert.Equal(t, "v2", *got.Value)

	st := srv.Stats()
	for _, r := range []string{
		kvemulator.RouteSetSecret, kvemulator.RouteGetSecret, kvemulator.RouteUpdateSecret,
		kvemulator.RouteDeleteSecret, kvemulator.RouteGetSecrets, kvemulator.RouteGetSecretVersions,
		kvemulator.RouteGetDeletedSecrets, kvemulator.RouteGetDeletedSecret, kvemulator.RouteRecoverDeletedSecret,
		kvemulator.RouteBackupSecret, kvemulator.RouteRestoreSecret,
	} {
		assert.Positive(t, st.Count(r, http.StatusOK), r)
	}
	assert.Equal(t, 1, st.Count(kvemulator.RoutePurgeDeletedSecret, http.StatusNoContent))
	assert.Equal(t, 1, st.Challenges, "one challenge per client")
	assert.Equal(t, 1, st.Count(kvemulator.RouteSetSecret, http.StatusUnauthorized))
	assert.Zero(t, st.Count(kvemulator.RouteUnknown, 0))
	assert.EqualValues(t, 1, srv.TokenRequests(), "the bearer policy caches the token")
}

// raw sends a request with a plain http client to the vault URL.
func raw(t *testing.T, srv *kvemulator.Server, method, path, body string, auth bool) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(srv.VaultURL(), "/")+path, rd)
	require.NoError(t, err)
	if auth {
		req.Header.Set("Authorization", "Bearer "+srv.Token())
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := srv.HTTPClient().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]any
	if len(b) > 0 {
		require.NoError(t, json.Unmarshal(b, &m), string(b))
	}
	return resp.StatusCode, resp.Header, m
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestRawBodyShapes checks raw JSON against the shapes of the REST spec examples.
func TestRawBodyShapes(t *testing.T) {
	srv := newServer(t, &kvemulator.Options{Now: newClock().Now, PropagationDelay: -1})
	const q = "?api-version=2026-04-01"

	status, _, set := raw(t, srv, "PUT", "/secrets/crpsecret"+q, `{"value":"mysecretvalue"}`, true)
	require.Equal(t, http.StatusOK, status)
	assert.ElementsMatch(t, []string{"value", "id", "attributes"}, keys(set))
	assert.Regexp(t, `^https://keyvaulttest\.vault\.azure\.net/secrets/crpsecret/[0-9a-f]{32}$`, set["id"])
	attrs := set["attributes"].(map[string]any)
	assert.ElementsMatch(t, []string{"enabled", "created", "updated", "recoveryLevel", "recoverableDays"}, keys(attrs))
	assert.Equal(t, float64(1_700_000_000), attrs["created"], "integer Unix seconds")
	assert.Equal(t, "Recoverable+Purgeable", attrs["recoveryLevel"])
	assert.Equal(t, float64(90), attrs["recoverableDays"])

	status, _, got := raw(t, srv, "GET", "/secrets/crpsecret/"+q, "", true)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, set, got)

	status, _, list := raw(t, srv, "GET", "/secrets"+q+"&maxresults=1", "", true)
	require.Equal(t, http.StatusOK, status)
	assert.ElementsMatch(t, []string{"value", "nextLink"}, keys(list))
	assert.Nil(t, list["nextLink"])
	items := list["value"].([]any)
	require.Len(t, items, 1)
	item := items[0].(map[string]any)
	assert.ElementsMatch(t, []string{"id", "attributes"}, keys(item))
	assert.Equal(t, "https://keyvaulttest.vault.azure.net/secrets/crpsecret", item["id"])

	_, _, _ = raw(t, srv, "PUT", "/secrets/other"+q, `{"value":"x"}`, true)
	_, _, list = raw(t, srv, "GET", "/secrets"+q+"&maxresults=1", "", true)
	next, ok := list["nextLink"].(string)
	require.True(t, ok)
	assert.Regexp(t, `^https://keyvaulttest\.vault\.azure\.net/secrets\?api-version=2026-04-01&\$skiptoken=[\w-]+&maxresults=1$`, next)
	status, _, list = raw(t, srv, "GET", strings.TrimPrefix(next, "https://keyvaulttest.vault.azure.net"), "", true)
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, list["value"], 1)
	assert.Nil(t, list["nextLink"])

	status, _, del := raw(t, srv, "DELETE", "/secrets/crpsecret"+q, "", true)
	require.Equal(t, http.StatusOK, status)
	assert.ElementsMatch(t, []string{"recoveryId", "deletedDate", "scheduledPurgeDate", "id", "attributes"}, keys(del))
	assert.Equal(t, "https://keyvaulttest.vault.azure.net/deletedsecrets/crpsecret", del["recoveryId"])

	status, _, bk := raw(t, srv, "POST", "/secrets/other/backup"+q, "", true)
	require.Equal(t, http.StatusOK, status)
	assert.ElementsMatch(t, []string{"value"}, keys(bk))
	assert.Regexp(t, `^[A-Za-z0-9_-]+$`, bk["value"], "base64url")

	status, _, _ = raw(t, srv, "DELETE", "/deletedsecrets/crpsecret"+q, "", true)
	assert.Equal(t, http.StatusNoContent, status)
}

// TestMalformedRequests sends one malformed request of each kind; each gets
// Key Vault's error shape and the server keeps serving.
func TestMalformedRequests(t *testing.T) {
	srv := newServer(t, &kvemulator.Options{PropagationDelay: -1})
	const q = "?api-version=2026-04-01"
	_, _, _ = raw(t, srv, "PUT", "/secrets/disabled"+q, `{"value":"x","attributes":{"enabled":false}}`, true)
	_, _, _ = raw(t, srv, "PUT", "/secrets/gone"+q, `{"value":"x"}`, true)
	_, _, _ = raw(t, srv, "DELETE", "/secrets/gone"+q, "", true)

	huge := `{"value":"` + strings.Repeat("a", kvemulator.MaxValueBytes+1) + `"}`
	atLimit := `{"value":"` + strings.Repeat("a", kvemulator.MaxValueBytes) + `"}`
	tests := []struct {
		name, method, path, body string
		noAuth                   bool
		token                    string
		status                   int
		code, inner              string
	}{
		{name: "bad JSON", method: "PUT", path: "/secrets/a" + q, body: `{"value":`, status: 400, code: "BadParameter"},
		{name: "wrong JSON type", method: "PUT", path: "/secrets/a" + q, body: `{"value":42}`, status: 400, code: "BadParameter"},
		{name: "no body", method: "PUT", path: "/secrets/a" + q, status: 400, code: "BadParameter"},
		{name: "missing value", method: "PUT", path: "/secrets/a" + q, body: `{"contentType":"x"}`, status: 400, code: "BadParameter"},
		{name: "bad name", method: "PUT", path: "/secrets/bad_name" + q, body: `{"value":"x"}`, status: 400, code: "BadParameter"},
		{name: "name too long", method: "GET", path: "/secrets/" + strings.Repeat("n", 128) + "/" + q, status: 400, code: "BadParameter"},
		{name: "huge value", method: "PUT", path: "/secrets/a" + q, body: huge, status: 400, code: "BadParameter"},
		{name: "value at limit", method: "PUT", path: "/secrets/a" + q, body: atLimit, status: 200},
		{name: "missing api-version", method: "GET", path: "/secrets/a/", status: 400, code: "BadParameter"},
		{name: "unknown route", method: "GET", path: "/keys" + q, status: 404, code: "NotFound"},
		{name: "wrong method", method: "POST", path: "/secrets/a" + q, status: 405, code: "MethodNotAllowed"},
		{name: "maxresults too big", method: "GET", path: "/secrets" + q + "&maxresults=26", status: 400, code: "BadParameter"},
		{name: "maxresults zero", method: "GET", path: "/secrets" + q + "&maxresults=0", status: 400, code: "BadParameter"},
		{name: "no token", method: "GET", path: "/secrets/a/" + q, noAuth: true, status: 401, code: "Unauthorized"},
		{name: "invalid token", method: "GET", path: "/secrets/a/" + q, token: "Bearer nope", status: 401, code: "Unauthorized"},
		{name: "not bearer", method: "GET", path: "/secrets/a/" + q, token: "Basic abc", status: 401, code: "Unauthorized"},
		{name: "missing secret", method: "GET", path: "/secrets/missing/" + q, status: 404, code: "SecretNotFound"},
		{name: "missing version", method: "GET", path: "/secrets/a/0123456789abcdef0123456789abcdef" + q, status: 404, code: "SecretNotFound"},
		{name: "disabled", method: "GET", path: "/secrets/disabled/" + q, status: 403, code: "Forbidden", inner: "SecretDisabled"},
		{name: "set deleted", method: "PUT", path: "/secrets/gone" + q, body: `{"value":"x"}`, status: 409, code: "Conflict", inner: "ObjectIsDeletedButRecoverable"},
		{name: "purge active", method: "DELETE", path: "/deletedsecrets/a" + q, status: 404, code: "SecretNotFound"},
		{name: "recover missing", method: "POST", path: "/deletedsecrets/missing/recover" + q, status: 404, code: "SecretNotFound"},
		{name: "restore garbage", method: "POST", path: "/secrets/restore" + q, body: `{"value":"AAAA"}`, status: 400, code: "Malformed backup blob"},
		{name: "restore one byte", method: "POST", path: "/secrets/restore" + q, body: `{"value":"AQ"}`, status: 400, code: "Malformed backup blob"},
		{name: "restore not base64", method: "POST", path: "/secrets/restore" + q, body: `{"value":"!!"}`, status: 400, code: "Malformed backup blob"},
		{name: "unknown api-version", method: "GET", path: "/secrets/a/?api-version=1999-01-01", status: 400, code: "BadParameter"},
		{name: "nonsense api-version", method: "GET", path: "/secrets/a/?api-version=banana", status: 400, code: "BadParameter"},
		{name: "16 tags", method: "PUT", path: "/secrets/a" + q, body: tagsBody(16, 1, 1), status: 400, code: "BadParameter"},
		{name: "15 tags", method: "PUT", path: "/secrets/a" + q, body: tagsBody(15, 512, 512), status: 200},
		{name: "tag name too long", method: "PUT", path: "/secrets/a" + q, body: tagsBody(1, 513, 1), status: 400, code: "BadParameter"},
		{name: "tag value too long", method: "PUT", path: "/secrets/a" + q, body: tagsBody(1, 1, 513), status: 400, code: "BadParameter"},
		{name: "update 16 tags", method: "PATCH", path: "/secrets/a/" + q, body: tagsBody(16, 1, 1), status: 400, code: "BadParameter"},
		{name: "contentType too long", method: "PUT", path: "/secrets/a" + q, body: `{"value":"x","contentType":"` + strings.Repeat("c", 256) + `"}`, status: 400, code: "BadParameter"},
		{name: "contentType at limit", method: "PUT", path: "/secrets/a" + q, body: `{"value":"x","contentType":"` + strings.Repeat("c", 255) + `"}`, status: 200},
		{name: "update contentType too long", method: "PATCH", path: "/secrets/a/" + q, body: `{"contentType":"` + strings.Repeat("c", 256) + `"}`, status: 400, code: "BadParameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, strings.TrimSuffix(srv.VaultURL(), "/")+tt.path, strings.NewReader(tt.body))
			require.NoError(t, err)
			switch {
			case tt.token != "":
				req.Header.Set("Authorization", tt.token)
			case !tt.noAuth:
				req.Header.Set("Authorization", "Bearer "+srv.Token())
			}
			resp, err := srv.HTTPClient().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, tt.status, resp.StatusCode, string(b))
			if tt.status == 200 {
				return
			}
			assert.NotContains(t, string(b), "aaaa", "errors never echo a value")
			var e struct {
				Error struct {
					Code       string `json:"code"`
					Message    string `json:"message"`
					InnerError *struct {
						Code string `json:"code"`
					} `json:"innererror"`
				} `json:"error"`
			}
			require.NoError(t, json.Unmarshal(b, &e), string(b))
			assert.Equal(t, tt.code, e.Error.Code)
			assert.NotEmpty(t, e.Error.Message)
			if tt.inner != "" {
				require.NotNil(t, e.Error.InnerError)
				assert.Equal(t, tt.inner, e.Error.InnerError.Code)
			}
			if tt.status == 401 {
				assert.Equal(t, `Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000", resource="https://vault.azure.net"`,
					resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	// still serving
	status, _, _ := raw(t, srv, "PUT", "/secrets/after"+q, `{"value":"x"}`, true)
	assert.Equal(t, http.StatusOK, status)
}

// tagsBody is a set body with n tags whose names and values have the given lengths.
func tagsBody(n, nameLen, valueLen int) string {
	tags := map[string]string{}
	for i := range n {
		k := fmt.Sprintf("%02d", i)
		tags[k+strings.Repeat("k", max(nameLen-2, 0))] = strings.Repeat("v", valueLen)
	}
	b, _ := json.Marshal(map[string]any{"value": "x", "tags": tags})
	return string(b)
}

// TestAPIVersions accepts every version the SDKs send and refuses others with
// Key Vault's message.
func TestAPIVersions(t *testing.T) {
	srv := newServer(t, nil)
	for _, v := range []string{"2026-04-01", "2025-07-01", "7.6", "7.5", "7.4", "7.3", "7.2", "7.1", "7.0", "2016-10-01", "7.6-preview.2"} {
		status, _, body := raw(t, srv, "GET", "/secrets/missing/?api-version="+v, "", true)
		assert.Equal(t, http.StatusNotFound, status, "api-version %s: %v", v, body)
	}
	status, _, body := raw(t, srv, "GET", "/secrets?api-version=1999-01-01", "", true)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "The specified version (1999-01-01) is not recognized. Consider using the latest supported version (2026-04-01).",
		body["error"].(map[string]any)["message"])
	status, _, body = raw(t, srv, "GET", "/secrets?api-version="+strings.Repeat("9", 5000), "", true)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Less(t, len(body["error"].(map[string]any)["message"].(string)), 200, "the echoed version is bounded")
}

// TestMalformedBackupMessage is what the JS SDK's "Malformed Backup Bytes" test asserts.
func TestMalformedBackupMessage(t *testing.T) {
	srv := newServer(t, nil)
	status, _, body := raw(t, srv, "POST", "/secrets/restore?api-version=7.6", `{"value":"AQ"}`, true)
	assert.Equal(t, http.StatusBadRequest, status)
	e := body["error"].(map[string]any)
	assert.Equal(t, "Malformed backup blob", e["code"])
	assert.Equal(t, "Backup blob contains invalid or corrupt version.", e["message"])
}

// TestMethodOverride serves a POST with X-HTTP-REQUEST as the method it names.
func TestMethodOverride(t *testing.T) {
	srv := newServer(t, &kvemulator.Options{PropagationDelay: -1})
	const q = "?api-version=2026-04-01"
	do := func(override, path, body string) int {
		req, err := http.NewRequest("POST", strings.TrimSuffix(srv.VaultURL(), "/")+path+q, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+srv.Token())
		req.Header.Set("X-HTTP-REQUEST", override)
		resp, err := srv.HTTPClient().Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusOK, do("PUT", "/secrets/ov", `{"value":"v"}`))
	assert.Equal(t, http.StatusOK, do("patch", "/secrets/ov/", `{"contentType":"text/plain"}`))
	status, _, body := raw(t, srv, "GET", "/secrets/ov/"+q, "", true)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "text/plain", body["contentType"])
	assert.Equal(t, http.StatusOK, do("DELETE", "/secrets/ov", ""))
	assert.Equal(t, http.StatusNoContent, do("DELETE", "/deletedsecrets/ov", ""))
	assert.Equal(t, http.StatusMethodNotAllowed, do("GET", "/secrets/ov", ""), "only DELETE, PATCH and PUT override")
}

func TestAcceptAnyToken(t *testing.T) {
	srv := newServer(t, &kvemulator.Options{AcceptAnyToken: true})
	for _, tc := range []struct {
		auth   string
		status int
	}{{"Bearer anything", 404}, {"bearer eyJ0eXAi.abc.def", 404}, {"Bearer ", 401}, {"", 401}} {
		req, err := http.NewRequest("GET", srv.VaultURL()+"secrets/x/?api-version=7.5", nil)
		require.NoError(t, err)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := srv.HTTPClient().Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, tc.status, resp.StatusCode, tc.auth)
	}
}

func TestVerificationRejectsListenURL(t *testing.T) {
	// The listener's own host does not end in .vault.azure.net: with verification on
	// the SDK refuses the challenge; with it off the round trip works.
	srv := newServer(t, nil)
	ctx := context.Background()
	co := srv.ClientOptions()
	c, err := azsecrets.NewClient(srv.ListenURL(), srv.Credential(), &azsecrets.ClientOptions{ClientOptions: co})
	require.NoError(t, err)
	_, err = c.SetSecret(ctx, "a", azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil)
	require.ErrorContains(t, err, "doesn't match the requested domain")

	c, err = azsecrets.NewClient(srv.ListenURL(), srv.Credential(), &azsecrets.ClientOptions{ClientOptions: co, DisableChallengeResourceVerification: true})
	require.NoError(t, err)
	set, err := c.SetSecret(ctx, "a", azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(*set.ID), srv.ListenURL()+"secrets/a/"), "ids use the request's host")
}

func TestThrottle(t *testing.T) {
	tests := []struct {
		name       string
		opts       kvemulator.Options
		retryAfter string
	}{
		{"retry-after from window", kvemulator.Options{ThrottleLimit: 2, ThrottleWindow: 200 * time.Millisecond}, "1"},
		{"long window rounds up", kvemulator.Options{ThrottleLimit: 2, ThrottleWindow: 2500 * time.Millisecond}, "3"},
		{"fixed retry-after", kvemulator.Options{ThrottleLimit: 2, ThrottleWindow: 200 * time.Millisecond, RetryAfter: 7 * time.Second}, "7"},
		{"no retry-after", kvemulator.Options{ThrottleLimit: 2, ThrottleWindow: 200 * time.Millisecond, ThrottleNoRetryAfter: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			tt.opts.Now = clk.Now
			srv := newServer(t, &tt.opts)
			c := newClient(t, srv, -1)
			ctx := context.Background()
			for range 2 {
				_, err := c.SetSecret(ctx, "a", azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil)
				require.NoError(t, err)
			}
			_, err := c.GetSecret(ctx, "a", "", nil)
			re := respErr(t, err)
			assert.Equal(t, http.StatusTooManyRequests, re.StatusCode)
			assert.Equal(t, "Throttled", re.ErrorCode)
			assert.Equal(t, tt.retryAfter, re.RawResponse.Header.Get("Retry-After"))
			st := srv.Stats()
			assert.Equal(t, 1, st.Throttled)
			assert.Equal(t, 1, st.Challenges, "the challenge is not counted against the limit")

			clk.Advance(tt.opts.ThrottleWindow)
			_, err = c.GetSecret(ctx, "a", "", nil)
			require.NoError(t, err, "a new window accepts requests again")

			srv.SetThrottle(0, 0)
			for range 5 {
				_, err = c.GetSecret(ctx, "a", "", nil)
				require.NoError(t, err)
			}
		})
	}
}

func TestFailNext(t *testing.T) {
	for _, status := range []int{500, 503, 504, 403} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := newServer(t, nil)
			c := newClient(t, srv, -1)
			ctx := context.Background()
			_, err := c.SetSecret(ctx, "a", azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil)
			require.NoError(t, err)
			srv.FailNext(2, status)
			for range 2 {
				_, err = c.GetSecret(ctx, "a", "", nil)
				assert.Equal(t, status, respErr(t, err).StatusCode)
			}
			_, err = c.GetSecret(ctx, "a", "", nil)
			require.NoError(t, err)
			assert.Equal(t, 2, srv.Stats().Faults)
			assert.Equal(t, 2, srv.Stats().Count(kvemulator.RouteGetSecret, status))
		})
	}
}

func TestFailNextRetriedBySDK(t *testing.T) {
	srv := newServer(t, nil)
	co := srv.ClientOptions()
	co.Retry.RetryDelay = time.Millisecond
	co.Retry.MaxRetryDelay = 2 * time.Millisecond
	c, err := azsecrets.NewClient(srv.VaultURL(), srv.Credential(), &azsecrets.ClientOptions{ClientOptions: co})
	require.NoError(t, err)
	srv.FailNext(3, 0)
	_, err = c.SetSecret(context.Background(), "a", azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil)
	require.NoError(t, err, "three 503s and azcore's three retries")
	assert.Equal(t, 3, srv.Stats().Count(kvemulator.RouteSetSecret, 503))
}

func TestDropNext(t *testing.T) {
	srv := newServer(t, nil)
	c := newClient(t, srv, -1)
	ctx := context.Background()
	_, err := c.SetSecret(ctx, "a", azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil)
	require.NoError(t, err)
	srv.DropNext(1)
	_, err = c.SetSecret(ctx, "a", azsecrets.SetSecretParameters{Value: to.Ptr("y")}, nil)
	require.Error(t, err)
	var re *azcore.ResponseError
	assert.False(t, errors.As(err, &re), "a transport error, not a response")
	got, err := c.GetSecret(ctx, "a", "", nil)
	require.NoError(t, err)
	assert.Equal(t, "x", *got.Value, "the dropped write was not applied")
	assert.Equal(t, 1, srv.Stats().Dropped)
}

func TestTruncateNext(t *testing.T) {
	srv := newServer(t, nil)
	c := newClient(t, srv, -1)
	ctx := context.Background()
	_, err := c.SetSecret(ctx, "a", azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil)
	require.NoError(t, err)
	srv.TruncateNext(1)
	_, err = c.GetSecret(ctx, "a", "", nil)
	require.Error(t, err)
	_, err = c.GetSecret(ctx, "a", "", nil)
	require.NoError(t, err)
	assert.Equal(t, 1, srv.Stats().Truncated)
}

// faultSequence returns which of n requests failed, for a given seed and rates.
func faultSequence(t *testing.T, seed int64, errRate, dropRate float64, n int) (string, kvemulator.Stats) {
	srv := mustStart(&kvemulator.Options{Seed: seed, ErrorRate: errRate, ErrorStatus: 500, DropRate: dropRate})
	defer srv.Close()
	c := newClient(t, srv, -1)
	var b strings.Builder
	for i := range n {
		_, err := c.SetSecret(context.Background(), fmt.Sprintf("s%d", i), azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil)
		var re *azcore.ResponseError
		switch {
		case err == nil:
			b.WriteByte('.')
		case errors.As(err, &re) && re.StatusCode == 401:
			b.WriteByte('c') // the challenge exchange itself
		case errors.As(err, &re):
			b.WriteByte('E')
		default:
			b.WriteByte('D')
		}
	}
	return b.String(), srv.Stats()
}

func TestFaultRatesDeterministic(t *testing.T) {
	const n = 60
	a, st := faultSequence(t, 42, 0.2, 0.1, n)
	b, _ := faultSequence(t, 42, 0.2, 0.1, n)
	c, _ := faultSequence(t, 7, 0.2, 0.1, n)
	assert.Equal(t, a, b, "same seed, same faults")
	assert.NotEqual(t, a, c, "another seed, other faults")
	assert.Contains(t, a, "E")
	assert.Contains(t, a, "D")
	assert.Contains(t, a, ".")
	assert.Equal(t, strings.Count(a, "E"), st.Faults)
	assert.Equal(t, strings.Count(a, "D"), st.Dropped)

	none, _ := faultSequence(t, 42, 0, 0, 10)
	assert.Equal(t, strings.Repeat(".", 10), none)
}

func TestLatency(t *testing.T) {
	const d = 30 * time.Millisecond
	srv := newServer(t, &kvemulator.Options{Latency: d})
	c := newClient(t, srv, -1)
	ctx := context.Background()
	start := time.Now()
	_, err := c.SetSecret(ctx, "a", azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 2*d, "challenge and request are both delayed")

	// A client deadline shorter than the latency fails with the context's error.
	srv.SetLatency(time.Hour)
	ctx2, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = c.GetSecret(ctx2, "a", "", nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	srv.SetLatency(0)
	_, err = c.GetSecret(ctx, "a", "", nil)
	require.NoError(t, err)
}

func TestCloseWithRequestInFlight(t *testing.T) {
	srv := mustStart(&kvemulator.Options{Latency: time.Hour})
	c := newClient(t, srv, -1)
	waiting := make(chan struct{}, 1)
	kvemulator.OnLatencyWait(srv, func() { waiting <- struct{}{} })
	done := make(chan error, 1)
	go func() {
		_, err := c.GetSecret(context.Background(), "a", "", nil)
		done <- err
	}()
	<-waiting // the request has reached the server and waits there
	srv.Close()
	require.Error(t, <-done)
	srv.Close() // idempotent
}

func TestStatePersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	ctx := context.Background()
	srv := mustStart(&kvemulator.Options{StatePath: path, PropagationDelay: -1})
	c := newClient(t, srv, -1)
	set, err := c.SetSecret(ctx, "Keep", azsecrets.SetSecretParameters{Value: to.Ptr("v"), Tags: map[string]*string{"a": to.Ptr("b")}}, nil)
	require.NoError(t, err)
	_, err = c.SetSecret(ctx, "gone", azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil)
	require.NoError(t, err)
	_, err = c.DeleteSecret(ctx, "gone", nil)
	require.NoError(t, err)
	srv.Close()

	srv2 := newServer(t, &kvemulator.Options{StatePath: path})
	c2 := newClient(t, srv2, -1)
	got, err := c2.GetSecret(ctx, "keep", "", nil)
	require.NoError(t, err)
	assert.Equal(t, "v", *got.Value)
	assert.Equal(t, string(*set.ID), string(*got.ID))
	assert.Equal(t, "b", *got.Tags["a"])
	_, err = c2.GetDeletedSecret(ctx, "gone", nil)
	require.NoError(t, err)

	_, err = kvemulator.Start(&kvemulator.Options{StatePath: t.TempDir()})
	require.Error(t, err, "a directory is not a state file")
}

func TestConcurrentUse(t *testing.T) {
	srv := newServer(t, nil)
	c := newClient(t, srv, -1)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				name := fmt.Sprintf("g%d-%d", g, i%3)
				_, err := c.SetSecret(ctx, name, azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil)
				assert.NoError(t, err)
				_, err = c.GetSecret(ctx, name, "", nil)
				assert.NoError(t, err)
				_ = srv.Stats()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 160, srv.Stats().Count(kvemulator.RouteSetSecret, 200)+srv.Stats().Count(kvemulator.RouteGetSecret, 200))
}
