package jobemu_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/credential"
	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
	"github.com/go-azureml/secrets/run"
	"github.com/go-azureml/secrets/run/jobemu"
)

// clearEnv unsets every variable that could change the credential or the
// run, for the duration of the test.
func clearEnv(t *testing.T) {
	for _, k := range []string{credential.EnvTenantID, credential.EnvClientID, credential.EnvClientSecret,
		credential.EnvClientCertificatePath, credential.EnvUsername, credential.EnvFederatedTokenFile,
		credential.EnvIdentityEndpoint, credential.EnvIdentityHeader, credential.EnvMSIEndpoint, credential.EnvMSISecret,
		credential.EnvDefaultIdentityClientID, credential.EnvOBOEnabled, credential.EnvOBOEndpoint, credential.EnvTokenCredentials,
		"IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", run.EnvKeyvaultURL, run.EnvCAFile, run.EnvRunID, run.EnvExperiment,
		run.EnvSubscription, run.EnvResourceGroup, run.EnvWorkspaceName, jobemu.EnvARMEndpoint, jobemu.EnvLocalVaults} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

const openaiDoc = `{"properties": {"authType": "ApiKey", "category": "AzureOpenAI",
	"target": "https://my-openai.openai.azure.com/", "credentials": {"key": "sk-conn-secret"},
	"metadata": {"ApiVersion": "2024-02-01", "ApiType": "Azure"}, "isSharedToAll": true}}`

const customDoc = `{"properties": {"authType": "CustomKeys", "category": "CustomKeys", "target": "_",
	"credentials": {"keys": {"token": "custom-secret", "port": "5432"}}}}`

// TestJobPathEndToEnd is unmodified job code (run.GetContext with nil
// options) in the world keyvaulttest.StartJob sets up: a submitted run, its
// token from the identity endpoint through azidentity, its vault found by
// the ARM GET, its connection references through listsecrets; one token
// request and one workspace GET for the whole process.
func TestJobPathEndToEnd(t *testing.T) {
	for _, identity := range []string{jobemu.IdentityManaged, jobemu.IdentityOBO} {
		t.Run(identity, func(t *testing.T) {
			clearEnv(t)
			conns, err := jobemu.ParseConnections([]byte(`{"openai": ` + openaiDoc + `, "custom": ` + customDoc + `}`))
			require.NoError(t, err)
			j := keyvaulttest.StartJob(t, &jobemu.Options{
				Identity:    identity,
				Connections: conns,
				Secrets:     map[string]string{"db-password": "s3cret", "api-key": "k3y"},
			})
			ctx := context.Background()
			r, err := run.GetContext(ctx, nil)
			require.NoError(t, err)
			assert.False(t, r.Offline())
			assert.Equal(t, run.SourceJob, r.Source())
			assert.Equal(t, jobemu.DefaultExperiment, r.Experiment())
			assert.True(t, strings.HasPrefix(r.ID(), "local_"), r.ID())
			assert.Contains(t, r.String(), "secrets from the default vault of workspace local-ws")
			assert.Contains(t, r.String(), j.VaultURL())

			got, err := r.GetSecrets(ctx, []string{"db-password", "api-key"})
			require.NoError(t, err)
			assert.Equal(t, map[string]string{"db-password": "s3cret", "api-key": "k3y"}, got)
			require.NoError(t, r.SetSecrets(ctx, map[string]string{"written-by-job": "w"}))

			out, err := r.ResolveEnv(ctx, []string{
				"OPENAI=${{azureml://connections/openai}}",
				"OPENAI_KEY=${{azureml://connections/openai/credentials/key}}",
				"OPENAI_URL=${{azureml://connections/openai/target}}",
				"CUSTOM_TOKEN=${{azureml://connections/custom/credentials/token}}",
				"DB=${{keyvault:https://jobvault.vault.azure.net/secrets/db-password}}",
			})
			require.NoError(t, err)
			doc, ok := j.Connection("openai")
			require.True(t, ok)
			var want, gotDoc map[string]any
			require.NoError(t, json.Unmarshal(doc, &want))
			require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(out[0], "OPENAI=")), &gotDoc))
			assert.Equal(t, want, gotDoc, "the connection is the listsecrets document itself")
			assert.Equal(t, "openai", gotDoc["name"])
			assert.Equal(t, "OPENAI_KEY=sk-conn-secret", out[1])
			assert.Equal(t, "OPENAI_URL=https://my-openai.openai.azure.com/", out[2])
			assert.Equal(t, "CUSTOM_TOKEN=custom-secret", out[3])

			assert.Equal(t, 1, j.TokenRequests(), "one token request per process")
			assert.Equal(t, 1, j.WorkspaceGets(), "one ARM workspace GET per process")
			assert.Equal(t, 1, j.ListSecretsCalls("openai"))
		})
	}
}

func TestParseConnections(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{`[]`, "not a JSON object of connections"},
		{`{"a": 1}`, "connection a: want a JSON object"},
		{`{"a": {"name": "a"}}`, `connection a: want a "properties" object`},
		{`{"a/b": {"properties": {}}}`, `connection name "a/b"`},
		{`{"a": {"properties": {}`, "malformed JSON at byte"},
	} {
		_, err := jobemu.ParseConnections([]byte(tc.in))
		require.Error(t, err, tc.in)
		assert.Contains(t, err.Error(), tc.err)
	}
}

func TestEnvNamesEveryJobVariable(t *testing.T) {
	j, err := jobemu.Start(&jobemu.Options{CAFile: t.TempDir() + "/ca.pem"})
	require.NoError(t, err)
	defer j.Close()
	var keys []string
	for _, kv := range j.Env() {
		k, _, _ := strings.Cut(kv, "=")
		keys = append(keys, k)
	}
	assert.Equal(t, []string{"AZUREML_RUN_ID", "AZUREML_ARM_SUBSCRIPTION", "AZUREML_ARM_RESOURCEGROUP", "AZUREML_ARM_WORKSPACE_NAME",
		"AZUREML_ARM_PROJECT_NAME", "MSI_ENDPOINT", "MSI_SECRET", "DEFAULT_IDENTITY_CLIENT_ID",
		"AMLSECRETS_ARM_ENDPOINT", "AMLSECRETS_LOCAL_VAULTS", "AMLSECRETS_CA_FILE"}, keys)

	o, err := jobemu.Start(&jobemu.Options{Identity: jobemu.IdentityOBO, CAFile: t.TempDir() + "/ca.pem"})
	require.NoError(t, err)
	defer o.Close()
	env := strings.Join(o.Env(), "\n")
	assert.Contains(t, env, "AZUREML_OBO_ENABLED=True\nOBO_ENDPOINT=http://127.0.0.1:")
	assert.NotContains(t, env, "MSI_ENDPOINT")
}
