// Package workspace is azureml-core's Workspace for Go: FromConfig (the same
// config.json search as Workspace.from_config), FromEnv (the variables Azure
// ML sets in a job), WriteConfig (write_config) and DefaultKeyvault
// (get_default_keyvault), plus ListConnectionSecrets for workspace
// connections.
//
// # Config files
//
// FromConfig(path) uses a file path as is; from a folder ("" = ".") it looks,
// in this order, in .azureml/, aml_config/ and the folder itself, for
// config.json then project.json, each time walking from the folder up to the
// filesystem root (see FindConfig): .azureml/config.json in any ancestor
// beats ./config.json, exactly as azureml-core does. The file holds
// subscription_id, resource_group and workspace_name, or a Scope resource id
// that wins over them, and may name a vault with key_vault (a URL or a name):
//
//	{"subscription_id": "...", "resource_group": "...", "workspace_name": "...", "key_vault": "myvault"}
//
// # Default vault
//
// DefaultKeyvault picks AMLSECRETS_KEYVAULT_URL, else the config's key_vault,
// else the workspace's properties.keyVault from one ARM GET
// (api-version 2024-04-01) to Options.ClientOptions.Cloud's Resource Manager
// (default the public cloud). The vault host is NAME + the cloud's vault
// suffix (vault.azure.net, vault.azure.cn, vault.usgovcloudapi.net;
// Options.VaultSuffix for any other). The ARM answer, the credential and the
// Keyvault are cached per Workspace: one ARM request and one vault client,
// hence one token per scope, whatever the number of secrets.
//
// # Environment
//
//	AZUREML_ARM_SUBSCRIPTION    FromEnv: subscription id (EnvSubscription)
//	AZUREML_ARM_RESOURCEGROUP   FromEnv: resource group (EnvResourceGroup)
//	AZUREML_ARM_WORKSPACE_NAME  FromEnv: workspace name (EnvWorkspaceName)
//	AMLSECRETS_KEYVAULT_URL     DefaultKeyvault: use this vault (azurevault.EnvKeyvaultURL)
//	AMLSECRETS_CA_FILE          DefaultKeyvault: CA for a loopback vault (azurevault.EnvCAFile),
//	                            and for a loopback AMLSECRETS_ARM_ENDPOINT
//	AMLSECRETS_ARM_ENDPOINT     Resource Manager on loopback, for `amlsecrets serve --job` (EnvARMEndpoint)
//	AMLSECRETS_LOCAL_VAULTS     NAME=https://127.0.0.1:PORT/: the vault ARM names, on loopback (EnvLocalVaults)
//
// The last two are honoured for loopback hosts only; any other value is an
// error.
//
// plus the variables of package credential when Options.Credential is nil.
// Options.Getenv (nil = os.Getenv) reads them.
//
// # Errors
//
// FromConfig names the file and the missing keys, the position of malformed
// JSON, or the folder where the search started (wrapping ErrConfigNotFound).
// FromEnv lists every missing variable. DefaultKeyvault and
// ListConnectionSecrets wrap keyvault.ErrNotFound when ARM answers 404 (and
// say which ids to check) and keyvault.ErrPermission for 401/403 (and say
// which identity needs which role); errors.As still reaches the
// *azcore.ResponseError. A credential that gets no token comes back as its
// *credential.Error. No error holds a token or a secret.
//
// # Testing
//
// Point Options.ClientOptions at fakes: Cloud.Services[cloud.ResourceManager]
// with the fake ARM server's https URL, and a Transport that reaches it (and
// the vault emulator of keyvault/keyvaulttest). Options.VaultSuffix and
// Options.Getenv make the rest deterministic. A Workspace must not be copied
// after first use.
package workspace
