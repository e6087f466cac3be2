package azurevault_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/keyvault/azurevault"
	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
)

// recordingCred hands out a token for any scope and records the scopes it
// was asked for: a real credential would do the same.
type recordingCred struct {
	mu     sync.Mutex
	scopes [][]string
}

func (c *recordingCred) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scopes = append(c.scopes, o.Scopes)
	return azcore.AccessToken{Token: "real-token-for-" + o.Scopes[0], ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// Attack: a listener on a loopback port asks, in its challenge, for a token
// for ARM (or Graph, Storage). With challenge verification relaxed for
// loopback, the SDK would have requested that token and sent it.
func TestLoopbackChallengeForOtherAudienceGetsNoToken(t *testing.T) {
	for _, resource := range []string{
		"https://management.azure.com", "https://graph.microsoft.com", "https://storage.azure.com",
		"https://vault.azure.net.evil.example",
	} {
		t.Run(resource, func(t *testing.T) {
			var gotAuth []string
			var mu sync.Mutex
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				gotAuth = append(gotAuth, r.Header.Get("Authorization"))
				mu.Unlock()
				w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/attacker-tenant", resource="`+resource+`"`)
				w.WriteHeader(http.StatusUnauthorized)
			}))
			t.Cleanup(srv.Close)
			cred := &recordingCred{}
			co := azcore.ClientOptions{Transport: srv.Client()}
			co.Retry.MaxRetries = -1
			s, err := azurevault.New(srv.URL+"/", cred, &azurevault.Options{ClientOptions: co})
			require.NoError(t, err)
			_, err = s.SetSecret(t.Context(), "db-password", "CANARY-audience-1", nil)
			require.ErrorIs(t, err, azurevault.ErrForeignAudience)
			assert.Contains(t, err.Error(), "no token sent")
			assert.NotContains(t, err.Error(), "CANARY")
			assert.Empty(t, cred.scopes, "no token may be requested for %s", resource)
			mu.Lock()
			defer mu.Unlock()
			for _, a := range gotAuth {
				assert.Empty(t, a, "no Authorization header may reach the listener")
			}
		})
	}
}

// The emulator asks for the Key Vault audience: an explicit credential is
// asked for that token and the request goes through.
func TestLoopbackChallengeForVaultAudienceGetsToken(t *testing.T) {
	srv := keyvaulttest.NewServer(&keyvaulttest.ServerOptions{AcceptAnyToken: true})
	t.Cleanup(srv.Close)
	cred := &recordingCred{}
	s, err := azurevault.New(srv.ListenURL(), cred, &azurevault.Options{CAFile: writeCA(t, srv.CACertPEM(), 0o600)})
	require.NoError(t, err)
	_, err = s.SetSecret(t.Context(), "ok", "v", nil)
	require.NoError(t, err)
	require.NotEmpty(t, cred.scopes)
	assert.Equal(t, []string{"https://vault.azure.net/.default"}, cred.scopes[0])
}

func writeCA(t *testing.T, pem []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(p, pem, 0o600))
	require.NoError(t, os.Chmod(p, mode))
	return p
}

// Attack: another local user plants a CA at the path AMLSECRETS_CA_FILE still
// names after serve exited, and binds the freed port. The planted file is
// refused before any request, so no value is sent to the attacker.
func TestPlantedCAFileRefused(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file ownership and mode bits are Unix rules")
	}
	attacker := keyvaulttest.NewServer(&keyvaulttest.ServerOptions{AcceptAnyToken: true})
	t.Cleanup(attacker.Close)
	cases := map[string]func(t *testing.T) string{
		"mode 0666": func(t *testing.T) string { return writeCA(t, attacker.CACertPEM(), 0o666) },
		"mode 0620": func(t *testing.T) string { return writeCA(t, attacker.CACertPEM(), 0o620) },
		"another owner": func(t *testing.T) string {
			if os.Getuid() != 0 {
				t.Skip("giving a file to another user needs root; CI runs as root and covers this case")
			}
			p := writeCA(t, attacker.CACertPEM(), 0o644)
			require.NoError(t, os.Chown(p, 4242, 4242))
			return p
		},
	}
	for name, plant := range cases {
		t.Run(name, func(t *testing.T) {
			ca := plant(t)
			env := map[string]string{azurevault.EnvKeyvaultURL: attacker.ListenURL(), azurevault.EnvCAFile: ca}
			_, err := azurevault.NewFromEnv(nil, &azurevault.Options{Getenv: func(k string) string { return env[k] }})
			require.Error(t, err)
			assert.Contains(t, err.Error(), ca, "the error names the file")
			assert.Contains(t, err.Error(), "restart 'amlsecrets serve")
			assert.Contains(t, err.Error(), "amlsecrets.env")
			_, err = azurevault.New(attacker.ListenURL(), nil, &azurevault.Options{CAFile: ca})
			require.Error(t, err)
			assert.Empty(t, attacker.Stats().ByRoute["SetSecret"], "nothing reached the attacker's vault")
		})
	}
}

// TestLoopbackTLSConfig: the transport of a loopback vault trusts the CA it
// is given, gets X25519 from the emulator (Go's default server, which lets
// the client choose) and resumes the session on its next connection.
func TestLoopbackTLSConfig(t *testing.T) {
	srv := keyvaulttest.NewServer(nil)
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	cfg := azurevault.LoopbackTLSConfig(roots)
	cfg.ServerName = "127.0.0.1"
	dial := func() tls.ConnectionState {
		t.Helper()
		conn, err := tls.Dial("tcp", srv.Addr().String(), cfg)
		require.NoError(t, err)
		defer conn.Close()
		// TLS 1.3 sends the session ticket after the handshake: read
		// until the server has written it (a request, its answer).
		_, err = conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"))
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, conn)
		return conn.ConnectionState()
	}
	first, second := dial(), dial()
	assert.Equal(t, tls.X25519, first.CurveID)
	assert.False(t, first.DidResume)
	assert.True(t, second.DidResume)

	// Only the given roots: a server whose CA is not among them is refused.
	other := keyvaulttest.NewServer(nil)
	t.Cleanup(other.Close)
	_, err := tls.Dial("tcp", other.Addr().String(), cfg)
	require.Error(t, err)
}
