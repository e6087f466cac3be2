package run_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/credential"
	"github.com/go-azureml/secrets/internal/armfake"
	"github.com/go-azureml/secrets/internal/secretref"
	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/azurevault"
	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
	"github.com/go-azureml/secrets/run"
	"github.com/go-azureml/secrets/workspace"
)

const (
	sub = "00000000-1111-2222-3333-444444444444"
	rg  = "rg-ml"
	ws  = "ws-train"
)

// fixture is Azure on loopback: a fake ARM, two vault emulators (the
// workspace's and another) and a Router that reaches each by host.
type fixture struct {
	arm    *armfake.Server
	vault  *keyvaulttest.Server // the workspace's default vault, "jobvault"
	other  *keyvaulttest.Server // another vault, "othervault"
	router *armfake.Router
	co     azcore.ClientOptions
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{
		arm:   armfake.NewServer(),
		vault: keyvaulttest.NewServer(&keyvaulttest.ServerOptions{VaultName: "jobvault", AcceptAnyToken: true}),
		other: keyvaulttest.NewServer(&keyvaulttest.ServerOptions{VaultName: "othervault", AcceptAnyToken: true}),
	}
	t.Cleanup(f.vault.Close)
	t.Cleanup(f.other.Close)
	t.Cleanup(f.arm.Close)
	f.router = &armfake.Router{Routes: map[string]policy.Transporter{
		f.arm.Host():                 f.arm.Transport(),
		"jobvault.vault.azure.net":   f.vault.HTTPClient(),
		"othervault.vault.azure.net": f.other.HTTPClient(),
	}}
	f.co = azcore.ClientOptions{Cloud: f.arm.Cloud(), Transport: f.router, Retry: policy.RetryOptions{MaxRetries: -1}}
	f.arm.AddWorkspace(sub, rg, ws, armfake.VaultID(sub, rg, "jobvault"))
	f.arm.AddConnection(sub, rg, ws, "openai", map[string]any{
		"authType":    "ApiKey",
		"category":    "AzureOpenAI",
		"target":      "https://my-openai.openai.azure.com/",
		"credentials": map[string]any{"key": "sk-conn-secret"},
		"metadata":    map[string]any{"ApiVersion": "2024-02-01", "ApiType": "Azure"},
	})
	return f
}

// seed stores secrets in a server out of band and returns the version of
// each.
func seed(t *testing.T, srv *keyvaulttest.Server, secrets map[string]string) map[string]string {
	t.Helper()
	s, err := azurevault.New(srv.VaultURL(), srv.Credential(), &azurevault.Options{ClientOptions: srv.ClientOptions()})
	require.NoError(t, err)
	versions := map[string]string{}
	for n, v := range secrets {
		p, err := s.SetSecret(context.Background(), n, v, nil)
		require.NoError(t, err)
		versions[n] = p.Version
	}
	return versions
}

func (f *fixture) listSecretsCalls() int {
	n := 0
	for _, r := range f.arm.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/listsecrets") {
			n++
		}
	}
	return n
}

func clearCredentialEnv(t *testing.T) {
	for _, k := range []string{credential.EnvTenantID, credential.EnvClientID, credential.EnvClientSecret,
		credential.EnvClientCertificatePath, credential.EnvUsername, credential.EnvFederatedTokenFile,
		credential.EnvIdentityEndpoint, credential.EnvIdentityHeader, credential.EnvMSIEndpoint, credential.EnvMSISecret,
		credential.EnvDefaultIdentityClientID, run.EnvKeyvaultURL, run.EnvCAFile, run.EnvRunID, run.EnvExperiment,
		run.EnvSubscription, run.EnvResourceGroup, run.EnvWorkspaceName} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

// TestSubmittedRunEndToEnd is a Go training job on Azure ML compute, all on
// loopback: the run from AZUREML_RUN_ID and AZUREML_ARM_*, the identity from
// a fake MSI endpoint, the workspace's vault from a fake ARM, the secrets
// from the emulator; then ResolveEnv over both kinds of reference.
func TestSubmittedRunEndToEnd(t *testing.T) {
	clearCredentialEnv(t)
	f := newFixture(t)
	msi := armfake.NewMSI(armfake.MSIOptions{Secret: "compute-secret"})
	t.Cleanup(msi.Close)
	msiTransport := &http.Transport{}
	t.Cleanup(msiTransport.CloseIdleConnections)
	u, err := url.Parse(msi.Endpoint())
	require.NoError(t, err)
	f.router.Routes[u.Host] = &http.Client{Transport: msiTransport}

	t.Setenv(credential.EnvMSIEndpoint, msi.Endpoint())
	t.Setenv(credential.EnvMSISecret, "compute-secret")
	// A client id of its own: azidentity's MSAL keeps a process-wide token
	// cache per identity, which would serve a second run of this test
	// (-count=2) without asking the MSI endpoint.
	clientID := fmt.Sprintf("job-identity-%d", time.Now().UnixNano())
	t.Setenv(credential.EnvDefaultIdentityClientID, clientID)
	t.Setenv(run.EnvRunID, "train_1700000000_abc")
	t.Setenv(run.EnvExperiment, "fraud-model")
	t.Setenv(run.EnvSubscription, sub)
	t.Setenv(run.EnvResourceGroup, rg)
	t.Setenv(run.EnvWorkspaceName, ws)

	names := make([]string, 20)
	values := map[string]string{}
	for i := range names {
		names[i] = fmt.Sprintf("secret-%02d", i)
		values[names[i]] = "value-of-" + names[i]
	}
	values["ref-secret"] = "ref-value"
	versions := seed(t, f.vault, values)
	seed(t, f.other, map[string]string{"shared-token": "other-vault-value"})

	ctx := context.Background()
	r, err := run.GetContext(ctx, &run.Options{
		ClientOptions:     f.co,
		CredentialOptions: &credential.Options{ExcludeAzureCLI: true},
	})
	require.NoError(t, err)
	assert.False(t, r.Offline())
	assert.Equal(t, run.SourceJob, r.Source())
	assert.Equal(t, "train_1700000000_abc", r.ID())
	assert.Equal(t, "fraud-model", r.Experiment())
	require.NotNil(t, r.Workspace())
	assert.Equal(t, ws, r.Workspace().Name)
	assert.Equal(t, "submitted run train_1700000000_abc (experiment fraud-model): secrets from the default vault of workspace ws-train (subscription "+sub+", resource group rg-ml): vault https://jobvault.vault.azure.net/", r.String())

	got, err := r.GetSecrets(ctx, names)
	require.NoError(t, err)
	for _, n := range names {
		assert.Equal(t, values[n], got[n])
	}
	require.NoError(t, r.SetSecrets(ctx, map[string]string{"written-by-job": "w"}))
	v, err := r.GetSecret(ctx, "written-by-job")
	require.NoError(t, err)
	assert.Equal(t, "w", v)

	// References: each distinct one fetched once.
	f.vault.ResetStats()
	f.other.ResetStats()
	environ := []string{
		"PLAIN=hello",
		"TEMPLATE=${{inputs.learning_rate}}",
		"DB=${{keyvault:https://jobvault.vault.azure.net/secrets/ref-secret}}",
		"DB_AGAIN=${{ keyvault:https://JOBVAULT.vault.azure.net/secrets/ref-secret/ }}",
		"DB_V1=${{keyvault:https://jobvault.vault.azure.net/secrets/ref-secret/" + versions["ref-secret"] + "}}",
		"OTHER=${{keyvault:https://othervault.vault.azure.net/secrets/shared-token}}",
		"OPENAI_KEY=${{azureml://connections/openai/credentials/key}}",
		"OPENAI_KEY_AGAIN=${{azureml://connections/openai/credentials/key}}",
		"OPENAI_URL=${{azureml://connections/openai/target}}",
		"OPENAI_API=${{azureml://connections/openai/metadata/ApiVersion}}",
		"OPENAI=${{azureml://connections/openai}}",
		"NOEQUALS",
	}
	out, err := r.ResolveEnv(ctx, environ)
	require.NoError(t, err)
	require.Len(t, out, len(environ))
	assert.Equal(t, []string{
		"PLAIN=hello",
		"TEMPLATE=${{inputs.learning_rate}}",
		"DB=ref-value",
		"DB_AGAIN=ref-value",
		"DB_V1=ref-value",
		"OTHER=other-vault-value",
		"OPENAI_KEY=sk-conn-secret",
		"OPENAI_KEY_AGAIN=sk-conn-secret",
		"OPENAI_URL=https://my-openai.openai.azure.com/",
		"OPENAI_API=2024-02-01",
	}, out[:10])
	all, ok := strings.CutPrefix(out[10], "OPENAI=")
	require.True(t, ok)
	// The connection is the listsecrets document itself, as Azure ML
	// injects it: equal, as parsed JSON, to what ARM returned.
	var conn, want map[string]any
	require.NoError(t, json.Unmarshal([]byte(all), &conn))
	answer, ok := f.arm.Answer(http.MethodPost, armfake.WorkspacePath(sub, rg, ws)+"/connections/openai/listsecrets")
	require.True(t, ok)
	require.NoError(t, json.Unmarshal([]byte(answer.Body), &want))
	assert.Equal(t, want, conn)
	assert.Equal(t, "sk-conn-secret", conn["properties"].(map[string]any)["credentials"].(map[string]any)["key"])
	assert.Contains(t, conn, "id")
	assert.Contains(t, conn, "type")
	assert.Equal(t, "NOEQUALS", out[11])

	assert.Equal(t, 2, f.vault.Stats().Count(keyvaulttest.RouteGetSecret, 200), "latest once, the version once")
	assert.Equal(t, 1, f.other.Stats().Count(keyvaulttest.RouteGetSecret, 200))
	assert.Equal(t, 1, f.listSecretsCalls(), "one listsecrets for four references to one connection")

	// One token per scope for everything: ARM, two vaults, 20+ secrets.
	assert.Equal(t, 1, msi.Requests("https://vault.azure.net"))
	assert.Equal(t, 1, msi.Requests("https://management.azure.com"))
	assert.Equal(t, []string{clientID, clientID}, msi.ClientIDs())
}

// TestSubmittedRunMissingVariables: AZUREML_RUN_ID without the workspace
// variables is an error naming them, not an offline run.
func TestSubmittedRunMissingVariables(t *testing.T) {
	_, err := run.GetContext(context.Background(), &run.Options{Getenv: env{run.EnvRunID: "r1", run.EnvSubscription: sub}.get})
	require.EqualError(t, err, "run r1: AZUREML_RUN_ID is set, so this is a submitted job, but: workspace: environment lacks AZUREML_ARM_RESOURCEGROUP, AZUREML_ARM_WORKSPACE_NAME: Azure ML sets them inside a job; outside one, use the workspace's config.json")
}

// TestOfflineWithConfig: a developer's config.json; the vault comes from ARM
// with the developer's credential.
func TestOfflineWithConfig(t *testing.T) {
	f := newFixture(t)
	seed(t, f.vault, map[string]string{"db-password": "from-workspace-vault"})
	root := t.TempDir()
	cfg := writeFile(t, root, ".azureml/config.json", `{"subscription_id":"`+sub+`","resource_group":"`+rg+`","workspace_name":"`+ws+`"}`)
	nested := filepath.Join(root, "src", "train")
	require.NoError(t, os.MkdirAll(nested, 0o755))
	ctx := context.Background()
	r, err := run.GetContext(ctx, &run.Options{
		Getenv:        env{"DB_PASSWORD": "from-env-must-not-win"}.get,
		ConfigPath:    nested,
		Credential:    f.vault.Credential(),
		ClientOptions: f.co,
	})
	require.NoError(t, err)
	assert.True(t, r.Offline())
	assert.Equal(t, run.SourceConfig, r.Source())
	assert.Equal(t, cfg, r.Workspace().ConfigPath)
	assert.Equal(t, "offline run: secrets from vault https://jobvault.vault.azure.net/, the default vault of workspace ws-train ("+cfg+")", r.String())
	v, err := r.GetSecret(ctx, "db-password")
	require.NoError(t, err)
	assert.Equal(t, "from-workspace-vault", v)
	require.NoError(t, r.SetSecrets(ctx, map[string]string{"new-one": "x"}))

	// Connections work offline through the config's workspace.
	out, err := r.ResolveEnv(ctx, []string{"K=${{azureml://connections/openai/credentials/key}}"})
	require.NoError(t, err)
	assert.Equal(t, []string{"K=sk-conn-secret"}, out)

	t.Run("malformed config is an error, not a fall back", func(t *testing.T) {
		bad := t.TempDir()
		writeFile(t, bad, "config.json", `{"subscription_id": "x",`)
		_, err := run.GetContext(ctx, &run.Options{Getenv: env{}.get, ConfigPath: bad})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "config.json")
	})
}

func TestResolveEnvFailures(t *testing.T) {
	f := newFixture(t)
	seed(t, f.vault, map[string]string{"db-password": "pw-value-never-shown"})
	store, err := azurevault.New(f.vault.VaultURL(), f.vault.Credential(), &azurevault.Options{ClientOptions: f.co})
	require.NoError(t, err)
	w := workspace.New(sub, rg, ws, &workspace.Options{Credential: f.vault.Credential(), ClientOptions: f.co, Getenv: env{}.get})
	r := run.New(keyvault.New(store, nil), &run.Options{Getenv: env{}.get, Connections: w, Credential: f.vault.Credential(), ClientOptions: f.co})
	noWS := run.New(keyvault.New(store, nil), &run.Options{Getenv: env{}.get, Credential: f.vault.Credential(), ClientOptions: f.co})

	const good = "GOOD=${{keyvault:https://jobvault.vault.azure.net/secrets/db-password}}"
	tests := []struct {
		name    string
		run     *run.Run
		environ []string
		is      error
		msg     string
		fetches bool
	}{
		{"malformed keyvault", r, []string{good, "BAD=${{keyvault:https://jobvault.vault.azure.net/secrets/db_password}}"},
			secretref.ErrMalformed, "resolve BAD: malformed secret reference: keyvault reference: secret name must be", false},
		{"malformed azureml", r, []string{good, "BAD=${{azureml://connections/c/password}}"},
			secretref.ErrMalformed, "resolve BAD: malformed secret reference: azureml reference", false},
		{"unterminated", r, []string{good, "BAD=${{keyvault:https://jobvault.vault.azure.net/secrets/x"},
			secretref.ErrMalformed, "resolve BAD: malformed secret reference: does not end with }}", false},
		{"foreign host", r, []string{"BAD=${{keyvault:https://attacker.example.com/secrets/x}}"},
			secretref.ErrMalformed, "resolve BAD: malformed secret reference: keyvault reference: vault host", false},
		{"missing secret", r, []string{good, "GONE=${{keyvault:https://jobvault.vault.azure.net/secrets/no-such}}"},
			keyvault.ErrNotFound, "resolve GONE (${{keyvault:https://jobvault.vault.azure.net/secrets/no-such}}): get secret no-such: not found", true},
		{"missing version", r, []string{"OLD=${{keyvault:https://jobvault.vault.azure.net/secrets/db-password/0123456789abcdef0123456789abcdef}}"},
			keyvault.ErrNotFound, "resolve OLD (", true},
		{"missing connection", r, []string{"C=${{azureml://connections/nope/target}}"},
			keyvault.ErrNotFound, "resolve C (${{azureml://connections/nope/target}}): ", true},
		{"unknown credential key", r, []string{"C=${{azureml://connections/openai/credentials/password}}"},
			keyvault.ErrNotFound, `resolve C (${{azureml://connections/openai/credentials/password}}): connection openai has no credential "password" (its credential keys: key): not found`, true},
		{"unknown metadata key", r, []string{"C=${{azureml://connections/openai/metadata/Region}}"},
			keyvault.ErrNotFound, `connection openai has no metadata "Region" (its metadata keys: ApiType, ApiVersion): not found`, true},
		{"no workspace", noWS, []string{"C=${{azureml://connections/openai/target}}"},
			run.ErrNoWorkspace, "resolve C (${{azureml://connections/openai/target}}): connection openai: no workspace: the run is offline with no workspace config", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.vault.ResetStats()
			out, err := tt.run.ResolveEnv(context.Background(), tt.environ)
			require.Error(t, err)
			assert.Nil(t, out)
			assert.ErrorIs(t, err, tt.is)
			assert.Contains(t, err.Error(), tt.msg)
			assert.NotContains(t, err.Error(), "pw-value-never-shown")
			assert.NotContains(t, err.Error(), "sk-conn-secret")
			var re *run.ResolveError
			require.ErrorAs(t, err, &re)
			if !tt.fetches {
				assert.Zero(t, f.vault.Stats().Count(keyvaulttest.RouteGetSecret, 0), "nothing fetched when a reference is malformed")
			}
		})
	}

	t.Run("every failure is listed, in order", func(t *testing.T) {
		_, err := r.ResolveEnv(context.Background(), []string{"A=${{azureml://connections/x/bad/y}}", "B=ok", "C=${{keyvault:nope}}"})
		require.Error(t, err)
		lines := strings.Split(err.Error(), "\n")
		require.Len(t, lines, 2)
		assert.True(t, strings.HasPrefix(lines[0], "resolve A: "))
		assert.True(t, strings.HasPrefix(lines[1], "resolve C: "))
	})
}

func TestPackageResolveEnvWithoutReferences(t *testing.T) {
	in := []string{"A=1", "B=${{inputs.x}}"}
	// No reference: no run is built, so no config, vault or credential is needed.
	out, err := run.ResolveEnv(context.Background(), in, &run.ResolveOptions{RunOptions: &run.Options{Getenv: func(string) string { panic("must not read the environment") }}})
	require.NoError(t, err)
	assert.Equal(t, in, out)
	out[0] = "changed"
	assert.Equal(t, "A=1", in[0], "a copy")
}
