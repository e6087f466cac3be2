package azurevault_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/azurevault"
	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newEmulated returns a Store over a fresh emulator, through the real
// azsecrets client with challenge-resource verification on.
func newEmulated(t *testing.T) (*azurevault.Store, *keyvaulttest.Server) {
	t.Helper()
	srv := keyvaulttest.NewServer(nil)
	t.Cleanup(srv.Close)
	s, err := azurevault.New(srv.VaultURL(), srv.Credential(), &azurevault.Options{ClientOptions: srv.ClientOptions()})
	require.NoError(t, err)
	return s, srv
}

func TestConformanceAgainstEmulator(t *testing.T) {
	keyvaulttest.RunConformance(t, func(t *testing.T) keyvault.Store {
		s, _ := newEmulated(t)
		return s
	})
}

func TestNewRefusesBadURLs(t *testing.T) {
	tests := []struct {
		url, want string
	}{
		{"http://myvault.vault.azure.net/", "must use https"},
		{"http://127.0.0.1:8443/", "must use https"},
		{"myvault", "is not a URL"},
		{"", "is not a URL"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			_, err := azurevault.New(tc.url, azurevault.LocalCredential(), nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestNewNeedsCredentialForRealVault(t *testing.T) {
	_, err := azurevault.New("https://myvault.vault.azure.net/", nil, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no credential")
	_, err = azurevault.New("https://127.0.0.1:1/", nil, nil)
	require.NoError(t, err, "a loopback vault gets the local credential")
}

func TestNewFromEnv(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	_, err := azurevault.NewFromEnv(nil, &azurevault.Options{Getenv: getenv})
	require.ErrorIs(t, err, azurevault.ErrNoVaultURL)

	// The emulator on its loopback address, trusted through the CA file, with
	// the local credential and relaxed challenge verification.
	srv := keyvaulttest.NewServer(&keyvaulttest.ServerOptions{AcceptAnyToken: true})
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, srv.CACertPEM(), 0o600))
	env[azurevault.EnvKeyvaultURL] = srv.ListenURL()
	env[azurevault.EnvCAFile] = ca
	s, err := azurevault.NewFromEnv(nil, &azurevault.Options{Getenv: getenv})
	require.NoError(t, err)
	kv := keyvault.New(s, nil)
	_, err = kv.SetSecret(t.Context(), "from-env", "ok", nil)
	require.NoError(t, err)
	v, err := kv.GetSecret(t.Context(), "from-env")
	require.NoError(t, err)
	assert.Equal(t, "ok", v)

	// Without the CA the TLS handshake fails: the CA is what makes it work.
	delete(env, azurevault.EnvCAFile)
	noRetry := azcore.ClientOptions{}
	noRetry.Retry.MaxRetries = -1
	s, err = azurevault.NewFromEnv(nil, &azurevault.Options{Getenv: getenv, ClientOptions: noRetry})
	require.NoError(t, err)
	_, err = s.GetSecret(t.Context(), "from-env", "")
	require.Error(t, err)
	assert.ErrorIs(t, err, keyvault.ErrUnavailable)

	env[azurevault.EnvCAFile] = filepath.Join(t.TempDir(), "missing.pem")
	_, err = azurevault.NewFromEnv(nil, &azurevault.Options{Getenv: getenv})
	require.Error(t, err)
	assert.Contains(t, err.Error(), azurevault.EnvCAFile)
}

func TestErrorsKeepResponseError(t *testing.T) {
	s, _ := newEmulated(t)
	_, err := s.GetSecret(t.Context(), "missing", "")
	require.ErrorIs(t, err, keyvault.ErrNotFound)
	var re *azcore.ResponseError
	require.True(t, errors.As(err, &re), "errors.As must reach *azcore.ResponseError")
	assert.Equal(t, 404, re.StatusCode)
	assert.Equal(t, "SecretNotFound", re.ErrorCode)
	assert.Equal(t, "not found (404 SecretNotFound)", err.Error())

	kv := keyvault.New(s, nil)
	_, err = kv.GetSecret(t.Context(), "missing")
	assert.Equal(t, "get secret missing: not found (404 SecretNotFound)", err.Error())
	require.True(t, errors.As(err, &re))
}

func TestContextErrorsPassThrough(t *testing.T) {
	s, _ := newEmulated(t)
	kv := keyvault.New(s, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := kv.GetSecret(ctx, "any")
	assert.Same(t, context.Canceled, err)
}

func TestStoreLeavesEveryRetryToKeyvault(t *testing.T) {
	s, srv := newEmulated(t)
	_, err := s.SetSecret(t.Context(), "hot", "v", nil)
	require.NoError(t, err)

	// The Store itself retries nothing, 429 and 503 alike, even when
	// ClientOptions.Retry asks azcore to: the retry layer above owns them.
	co := srv.ClientOptions()
	co.Retry.MaxRetries = 5
	co.Retry.StatusCodes = []int{429, 503}
	co.Retry.RetryDelay = time.Millisecond
	s2, err := azurevault.New(srv.VaultURL(), srv.Credential(), &azurevault.Options{ClientOptions: co})
	require.NoError(t, err)
	for _, status := range []int{429, 503} {
		srv.ResetStats()
		srv.FailNext(1, status)
		_, err = s2.GetSecret(t.Context(), "hot", "")
		require.Error(t, err)
		assert.Equal(t, 1, srv.Stats().Count(keyvaulttest.RouteGetSecret, status), "one attempt")
		assert.Zero(t, srv.Stats().Count(keyvaulttest.RouteGetSecret, 200), "azcore did not retry")
	}

	// keyvault.Keyvault does, and succeeds.
	srv.FailNext(1, 429)
	kv := keyvault.New(s, &keyvault.Options{Retry: &keyvault.RetryOptions{BaseDelay: time.Millisecond}})
	v, err := kv.GetSecret(t.Context(), "hot")
	require.NoError(t, err)
	assert.Equal(t, "v", v)
}
