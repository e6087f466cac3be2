package workspace_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/go-azureml/secrets/credential"
	"github.com/go-azureml/secrets/internal/armfake"
	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/azurevault"
	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
	"github.com/go-azureml/secrets/workspace"
)

const (
	sub = "00000000-1111-2222-3333-444444444444"
	rg  = "rg-ml"
	ws  = "ws-ml"
)

// noEnv is a Getenv that sees nothing, so the developer's own variables
// never leak into a test.
func noEnv(string) string { return "" }

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// fixture is a fake ARM server and a Key Vault emulator behind one
// ClientOptions: the ARM host goes to the fake, everything else to the
// emulator (whose Transport dials every host to its listener).
type fixture struct {
	arm   *armfake.Server
	vault *keyvaulttest.Server
	co    azcore.ClientOptions
}

func newFixture(t *testing.T, vaultName string) *fixture {
	t.Helper()
	f := &fixture{arm: armfake.NewServer(), vault: keyvaulttest.NewServer(&keyvaulttest.ServerOptions{VaultName: vaultName})}
	t.Cleanup(f.vault.Close)
	t.Cleanup(f.arm.Close)
	router := &armfake.Router{
		Routes:  map[string]policy.Transporter{f.arm.Host(): f.arm.Transport()},
		Default: f.vault.ClientOptions().Transport,
	}
	f.co = azcore.ClientOptions{Cloud: f.arm.Cloud(), Transport: router, Retry: policy.RetryOptions{MaxRetries: -1}}
	return f
}

func (f *fixture) armGets() int {
	n := 0
	for _, r := range f.arm.Requests() {
		if r.Method == http.MethodGet {
			n++
		}
	}
	return n
}

func TestDefaultKeyvaultThroughARM(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // runs last, after the servers close
	f := newFixture(t, "kvfromarm")
	f.arm.AddWorkspace(sub, rg, ws, armfake.VaultID(sub, rg, "KVFromARM"))
	w := workspace.New(sub, rg, ws, &workspace.Options{
		Credential:    f.vault.Credential(),
		ClientOptions: f.co,
		Getenv:        noEnv,
	})

	// Many concurrent callers: one ARM request, one Keyvault.
	var wg sync.WaitGroup
	kvs := make([]*keyvault.Keyvault, 10)
	for i := range kvs {
		wg.Go(func() {
			kv, err := w.DefaultKeyvault(t.Context())
			assert.NoError(t, err)
			kvs[i] = kv
		})
	}
	wg.Wait()
	for _, kv := range kvs {
		require.Same(t, kvs[0], kv)
	}
	assert.Equal(t, 1, f.armGets())
	u, err := w.KeyvaultURL(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "https://kvfromarm.vault.azure.net/", u)

	// The Keyvault reads a secret from the emulator.
	seed, err := azurevault.New(f.vault.VaultURL(), f.vault.Credential(), &azurevault.Options{ClientOptions: f.vault.ClientOptions()})
	require.NoError(t, err)
	_, err = seed.SetSecret(t.Context(), "db-password", "hunter2", nil)
	require.NoError(t, err)
	got, err := kvs[0].GetSecret(t.Context(), "db-password")
	require.NoError(t, err)
	assert.Equal(t, "hunter2", got)
	assert.Equal(t, 1, f.armGets(), "the ARM answer is cached")
	for _, r := range f.arm.Requests() {
		assert.True(t, r.Authorized)
		assert.Equal(t, armfake.WorkspacePath(sub, rg, ws), r.Path)
	}
}

func TestDefaultKeyvaultARMErrors(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(*armfake.Server)
		is     error
		want   string
		remedy string
	}{
		{
			name:  "workspace not found",
			setup: func(*armfake.Server) {},
			is:    keyvault.ErrNotFound,
			want: "workspace ws-ml: read workspace: not found (404 ResourceNotFound): check subscription_id, resource_group and workspace_name in the Workspace (" +
				armfake.WorkspacePath(sub, rg, ws) + ")",
		},
		{
			name: "no permission",
			setup: func(s *armfake.Server) {
				s.Set(http.MethodGet, armfake.WorkspacePath(sub, rg, ws), armfake.Response{Status: 403, Body: armfake.ErrorBody("AuthorizationFailed", "The client does not have authorization")})
			},
			is: keyvault.ErrPermission,
			want: "workspace ws-ml: read workspace: permission denied (403 AuthorizationFailed): the identity (static credential) needs the Reader role on the workspace " +
				armfake.WorkspacePath(sub, rg, ws),
		},
		{
			name: "malformed vault id",
			setup: func(s *armfake.Server) {
				s.AddWorkspace(sub, rg, ws, "/subscriptions/x/vaults/nope")
			},
			want: `workspace ws-ml: properties.keyVault: "/subscriptions/x/vaults/nope" is not a Key Vault id like /subscriptions/S/resourceGroups/RG/providers/Microsoft.KeyVault/vaults/NAME`,
		},
		{
			name: "no vault",
			setup: func(s *armfake.Server) {
				s.AddWorkspace(sub, rg, ws, "")
			},
			want: "workspace ws-ml: ARM names no default key vault (properties.keyVault is empty); name one with key_vault in the config or AMLSECRETS_KEYVAULT_URL",
		},
		{
			name: "malformed answer",
			setup: func(s *armfake.Server) {
				s.Set(http.MethodGet, armfake.WorkspacePath(sub, rg, ws), armfake.Response{Status: 200, Body: `{"properties":`})
			},
			want: "workspace ws-ml: read workspace: malformed ARM answer: unmarshalling type *struct",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := armfake.NewServer()
			defer s.Close()
			tt.setup(s)
			w := workspace.New(sub, rg, ws, &workspace.Options{
				Credential:    credential.Static("arm-token-value", time.Time{}),
				ClientOptions: azcore.ClientOptions{Cloud: s.Cloud(), Transport: s.Transport(), Retry: policy.RetryOptions{MaxRetries: -1}},
				Getenv:        noEnv,
			})
			_, err := w.DefaultKeyvault(t.Context())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "arm-token-value")
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
				var re *azcore.ResponseError
				assert.ErrorAs(t, err, &re)
			}
			// Failures are not cached: the next call asks again.
			_, _ = w.DefaultKeyvault(t.Context())
			assert.Len(t, s.Requests(), 2)
		})
	}
}

func TestDefaultKeyvaultErrorNotCachedThenSucceeds(t *testing.T) {
	f := newFixture(t, "latevault")
	w := workspace.New(sub, rg, ws, &workspace.Options{Credential: f.vault.Credential(), ClientOptions: f.co, Getenv: noEnv})
	_, err := w.DefaultKeyvault(t.Context())
	require.ErrorIs(t, err, keyvault.ErrNotFound)
	f.arm.AddWorkspace(sub, rg, ws, armfake.VaultID(sub, rg, "latevault"))
	kv, err := w.DefaultKeyvault(t.Context())
	require.NoError(t, err)
	require.NoError(t, kv.SetSecrets(t.Context(), map[string]string{"a": "1"}))
	assert.Equal(t, 2, f.armGets())
}

func TestDefaultKeyvaultExplicitVault(t *testing.T) {
	f := newFixture(t, "explicitvault")
	tests := []struct {
		name     string
		keyVault string
		env      map[string]string
	}{
		{name: "key_vault URL", keyVault: "https://explicitvault.vault.azure.net/"},
		{name: "key_vault URL without slash", keyVault: "https://explicitvault.vault.azure.net"},
		{name: "key_vault name", keyVault: "ExplicitVault"},
		{name: "AMLSECRETS_KEYVAULT_URL wins over key_vault", keyVault: "othervault",
			env: map[string]string{azurevault.EnvKeyvaultURL: "https://explicitvault.vault.azure.net/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := workspace.New(sub, rg, ws, &workspace.Options{Credential: f.vault.Credential(), ClientOptions: f.co, Getenv: envOf(tt.env)})
			w.KeyVault = tt.keyVault
			kv, err := w.DefaultKeyvault(t.Context())
			require.NoError(t, err)
			_, err = kv.SetSecret(t.Context(), "explicit", "yes", nil)
			require.NoError(t, err)
			v, err := kv.GetSecret(t.Context(), "explicit")
			require.NoError(t, err)
			assert.Equal(t, "yes", v)
			assert.Empty(t, f.arm.Requests(), "an explicit vault needs no ARM request")
		})
	}
	w := workspace.New(sub, rg, ws, &workspace.Options{Credential: f.vault.Credential(), ClientOptions: f.co, Getenv: noEnv})
	w.KeyVault = "not a vault!"
	_, err := w.DefaultKeyvault(t.Context())
	require.EqualError(t, err, `workspace ws-ml: key_vault in the Workspace: "not a vault!" is neither a vault URL nor a vault name (3-24 letters, digits and hyphens)`)
}

func TestDefaultKeyvaultLoopbackEmulatorFromEnv(t *testing.T) {
	// As `amlsecrets serve` prints: a loopback URL and a CA file; no
	// credential needed (the emulator in serve mode accepts any token).
	srv := keyvaulttest.NewServer(&keyvaulttest.ServerOptions{AcceptAnyToken: true})
	defer srv.Close()
	ca := t.TempDir() + "/ca.pem"
	require.NoError(t, writeFile(ca, srv.CACertPEM()))
	w := workspace.New(sub, rg, ws, &workspace.Options{Getenv: envOf(map[string]string{
		azurevault.EnvKeyvaultURL: srv.ListenURL(),
		azurevault.EnvCAFile:      ca,
	})})
	kv, err := w.DefaultKeyvault(t.Context())
	require.NoError(t, err)
	require.NoError(t, kv.SetSecrets(t.Context(), map[string]string{"local": "ok"}))
	v, err := kv.GetSecret(t.Context(), "local")
	require.NoError(t, err)
	assert.Equal(t, "ok", v)
}

func TestVaultSuffix(t *testing.T) {
	tests := []struct {
		name  string
		cloud cloud.Configuration
		want  string
	}{
		{name: "zero = public", want: workspace.VaultSuffixPublic},
		{name: "public", cloud: cloud.AzurePublic, want: "vault.azure.net"},
		{name: "china", cloud: cloud.AzureChina, want: "vault.azure.cn"},
		{name: "government", cloud: cloud.AzureGovernment, want: "vault.usgovcloudapi.net"},
		{name: "china by ARM endpoint", cloud: cloud.Configuration{Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: "https://management.chinacloudapi.cn"}}}, want: "vault.azure.cn"},
		{name: "government by ARM endpoint", cloud: cloud.Configuration{Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: "https://management.usgovcloudapi.net"}}}, want: "vault.usgovcloudapi.net"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, workspace.VaultSuffix(tt.cloud))
		})
	}
}

func TestKeyvaultURLPerCloud(t *testing.T) {
	tests := []struct {
		name   string
		aad    string
		suffix string
		want   string
	}{
		{name: "public", aad: cloud.AzurePublic.ActiveDirectoryAuthorityHost, want: "https://myvault.vault.azure.net/"},
		{name: "china", aad: cloud.AzureChina.ActiveDirectoryAuthorityHost, want: "https://myvault.vault.azure.cn/"},
		{name: "government", aad: cloud.AzureGovernment.ActiveDirectoryAuthorityHost, want: "https://myvault.vault.usgovcloudapi.net/"},
		{name: "override for a custom cloud", aad: "https://login.example.test/", suffix: "vault.example.test", want: "https://myvault.vault.example.test/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := armfake.NewServer()
			defer s.Close()
			s.AddWorkspace(sub, rg, ws, armfake.VaultID(sub, rg, "MyVault"))
			c := s.Cloud() // Resource Manager = the fake
			c.ActiveDirectoryAuthorityHost = tt.aad
			w := workspace.New(sub, rg, ws, &workspace.Options{
				Credential:    credential.Static("t", time.Time{}),
				ClientOptions: azcore.ClientOptions{Cloud: c, Transport: s.Transport()},
				Getenv:        noEnv,
				VaultSuffix:   tt.suffix,
			})
			u, err := w.KeyvaultURL(t.Context())
			require.NoError(t, err)
			assert.Equal(t, tt.want, u)
		})
	}
}

func TestListConnectionSecrets(t *testing.T) {
	s := armfake.NewServer()
	defer s.Close()
	s.AddConnection(sub, rg, ws, "openai", map[string]any{
		"authType": "ApiKey", "category": "AzureOpenAI", "target": "https://oai.example.test/",
		"credentials": map[string]any{"key": "sk-very-secret"},
		"metadata":    map[string]any{"ApiVersion": "2024-02-01", "ApiType": "Azure"},
	})
	s.AddConnection(sub, rg, ws, "custom", map[string]any{
		"authType": "CustomKeys", "category": "CustomKeys", "target": "_",
		"credentials": map[string]any{"keys": map[string]any{"token": "custom-secret", "port": 5432}},
	})
	w := workspace.New(sub, rg, ws, &workspace.Options{
		Credential:    credential.Static("t", time.Time{}),
		ClientOptions: azcore.ClientOptions{Cloud: s.Cloud(), Transport: s.Transport(), Retry: policy.RetryOptions{MaxRetries: -1}},
		Getenv:        noEnv,
	})
	c, err := w.ListConnectionSecrets(t.Context(), "openai")
	require.NoError(t, err)
	assert.Equal(t, "ApiKey", c.AuthType)
	assert.Equal(t, "AzureOpenAI", c.Category)
	assert.Equal(t, "https://oai.example.test/", c.Target)
	assert.Equal(t, "sk-very-secret", c.Credentials["key"].Reveal())
	assert.Equal(t, map[string]string{"ApiVersion": "2024-02-01", "ApiType": "Azure"}, c.Metadata)
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		assert.NotContains(t, fmt.Sprintf(f, c), "sk-very-secret", f)
		assert.NotContains(t, fmt.Sprintf(f, *c), "sk-very-secret", f)
	}
	assert.Equal(t, "connection openai (AzureOpenAI, ApiKey, credentials: key)", c.String())
	answer, ok := s.Answer(http.MethodPost, armfake.WorkspacePath(sub, rg, ws)+"/connections/openai/listsecrets")
	require.True(t, ok)
	assert.JSONEq(t, answer.Body, c.Document.Reveal(), "Document is the listsecrets answer itself")

	c, err = w.ListConnectionSecrets(t.Context(), "custom")
	require.NoError(t, err)
	assert.Equal(t, "custom-secret", c.Credentials["token"].Reveal())
	assert.Equal(t, "5432", c.Credentials["port"].Reveal())

	_, err = w.ListConnectionSecrets(t.Context(), "missing")
	require.ErrorIs(t, err, keyvault.ErrNotFound)
	assert.Contains(t, err.Error(), "workspace ws-ml: list secrets of connection missing: not found (404 ResourceNotFound): check the connection name")
	for _, r := range s.Requests() {
		assert.Equal(t, http.MethodPost, r.Method)
	}
	_, err = w.ListConnectionSecrets(t.Context(), "a/b")
	require.Error(t, err)
}

func TestCredentialFailureIsNotAnARMAnswer(t *testing.T) {
	s := armfake.NewServer()
	defer s.Close()
	w := workspace.New(sub, rg, ws, &workspace.Options{
		Credential:    failing{},
		ClientOptions: azcore.ClientOptions{Cloud: s.Cloud(), Transport: s.Transport()},
		Getenv:        noEnv,
	})
	_, err := w.DefaultKeyvault(t.Context())
	require.EqualError(t, err, "workspace ws-ml: read workspace: get a token for Azure Resource Manager: credential: no credential could get a token for https://management.azure.com/.default; tried, in order:\n\t1. explicit credential (passed by the program: workspace_test.failing): no identity here")
	assert.Empty(t, s.Requests())
}

type failing struct{}

func (failing) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, fmt.Errorf("no identity here")
}
