package workspace_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/credential"
	"github.com/go-azureml/secrets/workspace"
)

// TestLoopbackRoutingOnlyForLoopback: AMLSECRETS_ARM_ENDPOINT and
// AMLSECRETS_LOCAL_VAULTS never redirect to a host that is not loopback.
func TestLoopbackRoutingOnlyForLoopback(t *testing.T) {
	for _, ep := range []string{"https://evil.example.com/", "http://127.0.0.1:1/", "https://10.0.0.1:443/"} {
		env := map[string]string{workspace.EnvARMEndpoint: ep}
		w := workspace.New(sub, rg, ws, &workspace.Options{Credential: credential.Static("t", time.Time{}), Getenv: func(k string) string { return env[k] }})
		_, err := w.KeyvaultURL(t.Context())
		require.Error(t, err, ep)
		assert.Contains(t, err.Error(), "AMLSECRETS_ARM_ENDPOINT=\""+ep+"\": want https://127.0.0.1:PORT/, an https URL of a loopback host")
	}
	getenv := func(v string) func(string) string {
		return func(k string) string {
			if k == workspace.EnvLocalVaults {
				return v
			}
			return ""
		}
	}
	u, err := workspace.LocalVaultURL(getenv("jobvault=https://127.0.0.1:8443"), "https://JobVault.vault.azure.net/")
	require.NoError(t, err)
	assert.Equal(t, "https://127.0.0.1:8443/", u)
	u, err = workspace.LocalVaultURL(getenv("jobvault=https://127.0.0.1:8443/"), "https://other.vault.azure.net/")
	require.NoError(t, err)
	assert.Empty(t, u)
	_, err = workspace.LocalVaultURL(getenv("jobvault=https://evil.example.com/"), "https://jobvault.vault.azure.net/")
	require.ErrorContains(t, err, "want an https URL of a loopback host")
	_, err = workspace.LocalVaultURL(getenv("nonsense"), "https://jobvault.vault.azure.net/")
	require.ErrorContains(t, err, `entry "nonsense" is not NAME=URL`)
}
