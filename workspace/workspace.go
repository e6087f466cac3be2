package workspace

import (
	"os"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"

	"github.com/go-azureml/secrets/credential"
	"github.com/go-azureml/secrets/internal/flight"
	"github.com/go-azureml/secrets/keyvault"
)

// Options configure a Workspace. A nil *Options means defaults.
type Options struct {
	// Credential authenticates ARM and vault requests. nil means
	// credential.New with CredentialOptions (the managed identity on Azure
	// ML compute, a service principal, workload identity or the Azure CLI).
	Credential azcore.TokenCredential
	// ClientOptions serve both the ARM calls (endpoint and audience from
	// Cloud.Services[cloud.ResourceManager], default the public cloud) and
	// the vault client DefaultKeyvault builds (Transport, Retry, Logging).
	ClientOptions azcore.ClientOptions
	// CredentialOptions configure credential.New when Credential is nil.
	// Their ClientOptions default to these Options'.
	CredentialOptions *credential.Options
	// Getenv reads the environment (AZUREML_ARM_*, AMLSECRETS_*); nil
	// means os.Getenv. credential.New reads the process environment.
	Getenv func(string) string
	// KeyvaultOptions configure the Keyvault DefaultKeyvault returns.
	KeyvaultOptions *keyvault.Options
	// VaultSuffix is the DNS suffix of vault hosts, such as
	// "vault.azure.net". Empty means the suffix of ClientOptions.Cloud (see
	// VaultSuffix); set it for a custom or fake cloud.
	VaultSuffix string
}

// Workspace identifies an Azure ML workspace, as azureml-core's Workspace
// does, and reaches its default Key Vault. Build it with FromConfig, FromEnv,
// FromARMID or New. It is safe for concurrent use; it caches its credential,
// the ARM answer and its Keyvault, so keep one per workspace and do not copy
// it.
type Workspace struct {
	// SubscriptionID is the Azure subscription id.
	SubscriptionID string
	// ResourceGroup is the resource group name.
	ResourceGroup string
	// Name is the workspace name.
	Name string
	// KeyVault is an explicit vault (a URL like https://NAME.vault.azure.net/
	// or a bare vault name) from the config file's key_vault entry; empty
	// means DefaultKeyvault asks ARM.
	KeyVault string
	// ConfigPath is the config file FromConfig read, or "".
	ConfigPath string

	opts Options

	mu       sync.Mutex
	cred     azcore.TokenCredential
	arm      *arm.Client
	vaultURL string
	kv       *keyvault.Keyvault
	flight   flight.Group[any]
}

// New returns the workspace with the given ids.
func New(subscriptionID, resourceGroup, name string, opts *Options) *Workspace {
	w := &Workspace{SubscriptionID: subscriptionID, ResourceGroup: resourceGroup, Name: name}
	w.setOptions(opts)
	return w
}

// FromARMID returns the workspace named by a resource id,
// /subscriptions/S/resourceGroups/RG/providers/Microsoft.MachineLearningServices/workspaces/W.
func FromARMID(id string, opts *Options) (*Workspace, error) {
	sub, rg, name, err := ParseARMID(id)
	if err != nil {
		return nil, errorf("workspace: %w", err)
	}
	return New(sub, rg, name, opts), nil
}

func (w *Workspace) setOptions(opts *Options) {
	if opts != nil {
		w.opts = *opts
	}
}

func (w *Workspace) getenv(k string) string {
	if w.opts.Getenv != nil {
		return w.opts.Getenv(k)
	}
	return os.Getenv(k)
}

// ARMID returns the workspace's resource id.
func (w *Workspace) ARMID() string {
	return "/subscriptions/" + w.SubscriptionID + "/resourceGroups/" + w.ResourceGroup +
		"/providers/Microsoft.MachineLearningServices/workspaces/" + w.Name
}

// String names the workspace, and the config file it came from.
func (w *Workspace) String() string {
	s := "workspace " + w.Name + " (subscription " + w.SubscriptionID + ", resource group " + w.ResourceGroup
	if w.ConfigPath != "" {
		s += ", from " + w.ConfigPath
	}
	return s + ")"
}

// ClientOptions returns the azcore options the workspace's clients use.
func (w *Workspace) ClientOptions() azcore.ClientOptions { return w.opts.ClientOptions }

// Options returns a copy of the workspace's options.
func (w *Workspace) Options() Options { return w.opts }

// Credential returns the credential the workspace authenticates with:
// Options.Credential or credential.New, wrapped once with credential's
// per-scope token cache, so that every client built from it (ARM, vault,
// the run package's) shares one token per scope.
func (w *Workspace) Credential() (azcore.TokenCredential, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cred != nil {
		return w.cred, nil
	}
	var co credential.Options
	if w.opts.CredentialOptions != nil {
		co = *w.opts.CredentialOptions
	}
	if w.opts.Credential != nil {
		co.Credential = w.opts.Credential
	}
	if co.ClientOptions.Transport == nil && co.ClientOptions.Cloud.ActiveDirectoryAuthorityHost == "" {
		co.ClientOptions = w.opts.ClientOptions
	}
	cred, err := credential.New(&co)
	if err != nil {
		return nil, errorf("workspace %s: %w", w.Name, err)
	}
	w.cred = cred
	return cred, nil
}
