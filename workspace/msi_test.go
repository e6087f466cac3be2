package workspace_test

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/go-azureml/secrets/credential"
	"github.com/go-azureml/secrets/internal/armfake"
	"github.com/go-azureml/secrets/keyvault/azurevault"
	"github.com/go-azureml/secrets/workspace"
)

// TestManagedIdentityJobEndToEnd is a job on Azure ML compute: the workspace
// from AZUREML_ARM_*, the identity from MSI_ENDPOINT/MSI_SECRET (a fake
// endpoint), the vault from ARM (a fake), the secrets from the emulator.
// Twenty secrets cost one token request for the vault and one for ARM.
func TestManagedIdentityJobEndToEnd(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	for _, k := range []string{credential.EnvTenantID, credential.EnvClientID, credential.EnvClientSecret,
		credential.EnvClientCertificatePath, credential.EnvUsername, credential.EnvFederatedTokenFile,
		credential.EnvIdentityEndpoint, credential.EnvIdentityHeader, azurevault.EnvKeyvaultURL, azurevault.EnvCAFile} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}

	f := newFixture(t, "jobvault")
	f.arm.AddWorkspace(sub, rg, ws, armfake.VaultID(sub, rg, "jobvault"))
	f.arm.RequireToken("arm-token-from-msi")
	msi := armfake.NewMSI(armfake.MSIOptions{
		Secret: "compute-secret",
		Token: func(resource string) string {
			if resource == "https://vault.azure.net" {
				return f.vault.Token()
			}
			return "arm-token-from-msi"
		},
	})
	t.Cleanup(msi.Close)
	msiTransport := &http.Transport{}
	t.Cleanup(msiTransport.CloseIdleConnections)
	u, err := url.Parse(msi.Endpoint())
	require.NoError(t, err)
	f.co.Transport.(*armfake.Router).Routes[u.Host] = &http.Client{Transport: msiTransport}

	clientID := fmt.Sprintf("job-identity-%d", time.Now().UnixNano())
	t.Setenv(credential.EnvMSIEndpoint, msi.Endpoint())
	t.Setenv(credential.EnvMSISecret, "compute-secret")
	t.Setenv(credential.EnvDefaultIdentityClientID, clientID)
	t.Setenv(workspace.EnvSubscription, sub)
	t.Setenv(workspace.EnvResourceGroup, rg)
	t.Setenv(workspace.EnvWorkspaceName, ws)

	// Seed the vault out of band.
	seed, err := azurevault.New(f.vault.VaultURL(), f.vault.Credential(), &azurevault.Options{ClientOptions: f.vault.ClientOptions()})
	require.NoError(t, err)
	names := make([]string, 20)
	for i := range names {
		names[i] = fmt.Sprintf("secret-%02d", i)
		_, err := seed.SetSecret(t.Context(), names[i], "value-"+names[i], nil)
		require.NoError(t, err)
	}

	w, err := workspace.FromEnv(&workspace.Options{
		ClientOptions:     f.co,
		CredentialOptions: &credential.Options{ExcludeAzureCLI: true},
	})
	require.NoError(t, err)
	kv, err := w.DefaultKeyvault(t.Context())
	require.NoError(t, err)
	got, err := kv.GetSecrets(t.Context(), names)
	require.NoError(t, err)
	require.Len(t, got, 20)
	for _, n := range names {
		assert.Equal(t, "value-"+n, got[n])
	}
	// And once more, one by one.
	for _, n := range names {
		v, err := kv.GetSecret(t.Context(), n)
		require.NoError(t, err)
		assert.Equal(t, "value-"+n, v)
	}

	assert.Equal(t, 1, msi.Requests("https://vault.azure.net"), "one vault token for 20 secrets")
	assert.Equal(t, 1, msi.Requests("https://management.azure.com"), "one ARM token")
	assert.Equal(t, 2, msi.Total())
	assert.Equal(t, []string{clientID, clientID}, msi.ClientIDs())
	assert.Equal(t, 1, f.armGets())
	for _, r := range f.arm.Requests() {
		assert.True(t, r.Authorized, "ARM saw the managed identity's token")
	}
	cred, err := w.Credential()
	require.NoError(t, err)
	assert.Contains(t, credential.Describe(cred), "ManagedIdentityCredential (Azure ML compute identity: MSI_ENDPOINT and MSI_SECRET are set")
}
