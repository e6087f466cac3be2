package hosts_test

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/stretchr/testify/assert"

	"github.com/go-azureml/secrets/internal/hosts"
)

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "127.0.0.1": true, "127.9.9.9": true,
		"::1": true, "[::1]": true, "::ffff:127.0.0.1": true, "0:0:0:0:0:0:0:1": true,
		"": false, "0.0.0.0": false, "::": false, "10.0.0.1": false, "localhost.evil.com": false,
		"127.0.0.1.nip.io": false, "myvault.vault.azure.net": false, "[::2]": false,
	} {
		assert.Equal(t, want, hosts.IsLoopback(host), host)
	}
	for u, want := range map[string]bool{
		"https://127.0.0.1:8443/": true, "https://[::1]:8443/": true, "https://localhost/": true,
		"https://v.vault.azure.net/": false, "::1": false, "%": false,
	} {
		assert.Equal(t, want, hosts.IsLoopbackURL(u), u)
	}
}

func TestVaultAudience(t *testing.T) {
	assert.Equal(t, "https://vault.azure.net", hosts.VaultAudience(cloud.AzurePublic))
	assert.Equal(t, "https://vault.azure.cn", hosts.VaultAudience(cloud.AzureChina))
	assert.Equal(t, "https://vault.usgovcloudapi.net", hosts.VaultAudience(cloud.AzureGovernment))
	assert.True(t, hosts.IsVaultScope("https://vault.azure.net/.default", "https://vault.azure.net"))
	assert.True(t, hosts.IsVaultScope("https://vault.azure.net//.default", "https://vault.azure.net"))
	assert.False(t, hosts.IsVaultScope("https://management.azure.com/.default", "https://vault.azure.net"))
	assert.False(t, hosts.IsVaultScope("https://vault.azure.net.evil.com/.default", "https://vault.azure.net"))
	assert.NotContains(t, hosts.VaultSuffixes(), "vault.microsoftazure.de")
}
