package workspace

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/go-azureml/secrets/credential"
	"github.com/go-azureml/secrets/internal/errmap"
	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/azurevault"

	"github.com/go-azureml/secrets/internal/hosts"
	"github.com/go-azureml/secrets/internal/safeopts"
)

// APIVersion is the Microsoft.MachineLearningServices api-version of the ARM
// requests.
const APIVersion = "2024-04-01"

// Vault DNS suffixes of the national clouds.
const (
	VaultSuffixPublic     = hosts.VaultSuffixPublic
	VaultSuffixChina      = hosts.VaultSuffixChina
	VaultSuffixGovernment = hosts.VaultSuffixGovernment
)

const (
	moduleName    = "github.com/go-azureml/secrets/workspace"
	moduleVersion = "v0.1.0"
)

// VaultSuffix returns the vault DNS suffix of a cloud, judged by its
// Microsoft Entra authority host and its Resource Manager endpoint: Azure
// China, Azure US Government, else the public cloud.
func VaultSuffix(c cloud.Configuration) string { return hosts.VaultSuffix(c) }

func (w *Workspace) vaultSuffix() string {
	if s := strings.Trim(w.opts.VaultSuffix, ". "); s != "" {
		return s
	}
	return VaultSuffix(w.opts.ClientOptions.Cloud)
}

var vaultNameRE = regexp.MustCompile(`^[0-9A-Za-z](?:[0-9A-Za-z-]{1,22})[0-9A-Za-z]$`)

// vaultURLFor turns a key_vault entry (URL or name) into a vault URL.
func (w *Workspace) vaultURLFor(v string) (string, error) {
	if strings.Contains(v, "://") {
		if !strings.HasSuffix(v, "/") {
			v += "/"
		}
		return v, nil
	}
	if !vaultNameRE.MatchString(v) {
		return "", fmt.Errorf("%q is neither a vault URL nor a vault name (3-24 letters, digits and hyphens)", v)
	}
	return "https://" + strings.ToLower(v) + "." + w.vaultSuffix() + "/", nil
}

// DefaultKeyvault returns the workspace's default Key Vault, as azureml-core's
// get_default_keyvault does. The vault is, in this order:
//
//  1. AMLSECRETS_KEYVAULT_URL (with AMLSECRETS_CA_FILE for a loopback
//     emulator, see azurevault.NewFromEnv), so that a local run can point at
//     `amlsecrets serve` without touching the config;
//  2. the config file's key_vault entry (Workspace.KeyVault);
//  3. the workspace's properties.keyVault, read from ARM once (KeyvaultURL).
//
// The Keyvault is built once per Workspace and cached, so its client and the
// bearer token it holds serve every later call.
func (w *Workspace) DefaultKeyvault(ctx context.Context) (*keyvault.Keyvault, error) {
	w.mu.Lock()
	kv := w.kv
	w.mu.Unlock()
	if kv != nil {
		return kv, nil
	}
	v, err := w.do(ctx, "keyvault", func(ctx context.Context) (any, error) {
		w.mu.Lock()
		kv := w.kv
		w.mu.Unlock()
		if kv != nil {
			return kv, nil
		}
		store, err := w.newStore(ctx)
		if err != nil {
			return nil, err
		}
		kv = keyvault.New(store, w.opts.KeyvaultOptions)
		w.mu.Lock()
		w.kv = kv
		w.mu.Unlock()
		return kv, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*keyvault.Keyvault), nil
}

func (w *Workspace) newStore(ctx context.Context) (*azurevault.Store, error) {
	vo := &azurevault.Options{ClientOptions: w.opts.ClientOptions, Getenv: w.opts.Getenv, CAFile: w.getenv(azurevault.EnvCAFile)}
	if envURL := strings.TrimSpace(w.getenv(azurevault.EnvKeyvaultURL)); envURL != "" {
		cred, err := w.vaultCredential(envURL)
		if err != nil {
			return nil, err
		}
		vo.CAFile = ""
		s, err := azurevault.NewFromEnv(cred, vo)
		if err != nil {
			return nil, errorf("workspace %s: vault from %s: %w", w.Name, azurevault.EnvKeyvaultURL, err)
		}
		return s, nil
	}
	var vaultURL string
	if w.KeyVault != "" {
		u, err := w.vaultURLFor(w.KeyVault)
		if err != nil {
			return nil, errorf("workspace %s: %s in %s: %w", w.Name, keyKeyVault, w.source(), err)
		}
		vaultURL = u
	} else {
		u, err := w.KeyvaultURL(ctx)
		if err != nil {
			return nil, err
		}
		vaultURL = u
	}
	cred, err := w.vaultCredential(vaultURL)
	if err != nil {
		return nil, err
	}
	s, err := azurevault.New(vaultURL, cred, vo)
	if err != nil {
		return nil, errorf("workspace %s: %w", w.Name, err)
	}
	return s, nil
}

// vaultCredential is the workspace credential, except for a loopback vault
// without Options.Credential, which gets azurevault's local credential.
func (w *Workspace) vaultCredential(vaultURL string) (azcore.TokenCredential, error) {
	if azurevault.IsLoopbackURL(vaultURL) && w.opts.Credential == nil {
		return nil, nil
	}
	return w.Credential()
}

func (w *Workspace) source() string {
	if w.ConfigPath != "" {
		return w.ConfigPath
	}
	return "the Workspace"
}

// KeyvaultURL returns the URL of the workspace's default vault, read from
// ARM (properties.keyVault of GET .../workspaces/W) and cached: one ARM
// request per Workspace, however many callers. Failures are not cached.
func (w *Workspace) KeyvaultURL(ctx context.Context) (string, error) {
	w.mu.Lock()
	u := w.vaultURL
	w.mu.Unlock()
	if u != "" {
		return u, nil
	}
	v, err := w.do(ctx, "arm-get", func(ctx context.Context) (any, error) {
		w.mu.Lock()
		u := w.vaultURL
		w.mu.Unlock()
		if u != "" {
			return u, nil
		}
		u, err := w.fetchVaultURL(ctx)
		if err != nil {
			return "", err
		}
		w.mu.Lock()
		w.vaultURL = u
		w.mu.Unlock()
		return u, nil
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

// do runs fn once for concurrent callers with the same key; a caller whose
// ctx ends stops waiting. A flight that failed because its own caller's
// context ended is run again for a caller still waiting.
func (w *Workspace) do(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	return w.flight.Do(ctx, key, fn)
}

func (w *Workspace) armClient() (*arm.Client, error) {
	w.mu.Lock()
	c := w.arm
	w.mu.Unlock()
	if c != nil {
		return c, nil
	}
	cred, err := w.Credential()
	if err != nil {
		return nil, err
	}
	co, err := w.localARM(w.opts.ClientOptions)
	if err != nil {
		return nil, errorf("workspace %s: %w", w.Name, err)
	}
	co = safeopts.Client(co) // listsecrets bodies hold secrets; no token in logs
	c, err = arm.NewClient(moduleName, moduleVersion, taggedCredential{cred}, &arm.ClientOptions{ClientOptions: co, DisableRPRegistration: true})
	if err != nil {
		return nil, errorf("workspace %s: ARM client: %w", w.Name, err)
	}
	w.mu.Lock()
	if w.arm == nil {
		w.arm = c
	}
	c = w.arm
	w.mu.Unlock()
	return c, nil
}

// taggedCredential marks the credential's errors so that a failure to get
// a token is not mistaken for an ARM answer.
type taggedCredential struct{ azcore.TokenCredential }

type tokenError struct{ err error }

func (e *tokenError) Error() string { return e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

func (c taggedCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	t, err := c.TokenCredential.GetToken(ctx, o)
	if err != nil && ctx.Err() == nil {
		err = &tokenError{err}
	}
	return t, err
}

func (w *Workspace) resourcePath() string {
	return "/subscriptions/" + url.PathEscape(w.SubscriptionID) + "/resourceGroups/" + url.PathEscape(w.ResourceGroup) +
		"/providers/Microsoft.MachineLearningServices/workspaces/" + url.PathEscape(w.Name)
}

// armDo sends one ARM request and decodes a 200 answer into out.
func (w *Workspace) armDo(ctx context.Context, method, path string, out any) error {
	c, err := w.armClient()
	if err != nil {
		return err
	}
	req, err := runtime.NewRequest(ctx, method, strings.TrimSuffix(c.Endpoint(), "/")+path+"?api-version="+APIVersion)
	if err != nil {
		return err
	}
	req.Raw().Header.Set("Accept", "application/json")
	resp, err := c.Pipeline().Do(req)
	if err != nil {
		return err
	}
	if !runtime.HasStatusCode(resp, http.StatusOK) {
		return runtime.NewResponseError(resp)
	}
	if err := runtime.UnmarshalAsJSON(resp, out); err != nil {
		return &malformedError{err}
	}
	return nil
}

// malformedError is an ARM answer that is not the JSON expected.
type malformedError struct{ err error }

func (e *malformedError) Error() string { return "malformed ARM answer: " + e.err.Error() }
func (e *malformedError) Unwrap() error { return e.err }

// armError explains a failed ARM request: what to check for 404 (wraps
// keyvault.ErrNotFound) and 401/403 (wraps keyvault.ErrPermission); a
// credential failure and context errors pass through with context.
func (w *Workspace) armError(ctx context.Context, what, notFound, role string, err error) error {
	if ce := ctx.Err(); ce != nil && errors.Is(err, ce) {
		return ce
	}
	var te *tokenError
	if errors.As(err, &te) {
		return errorf("workspace %s: %s: get a token for Azure Resource Manager: %w", w.Name, what, te.err)
	}
	var me *malformedError
	if errors.As(err, &me) {
		return errorf("workspace %s: %s: %w", w.Name, what, err)
	}
	se := errmap.FromAzure(err)
	switch {
	case errors.Is(se, keyvault.ErrNotFound):
		return errorf("workspace %s: %s: %w: %s", w.Name, what, se, notFound)
	case errors.Is(se, keyvault.ErrPermission):
		cred := "the credential"
		if c, cerr := w.Credential(); cerr == nil {
			cred = credential.Describe(c)
		}
		return errorf("workspace %s: %s: %w: the identity (%s) needs %s", w.Name, what, se, cred, role)
	}
	return errorf("workspace %s: %s at Azure Resource Manager: %w", w.Name, what, se)
}

func (w *Workspace) fetchVaultURL(ctx context.Context) (string, error) {
	var body struct {
		Properties struct {
			KeyVault string `json:"keyVault"`
		} `json:"properties"`
	}
	err := w.armDo(ctx, http.MethodGet, w.resourcePath(), &body)
	if err != nil {
		return "", w.armError(ctx, "read workspace", fmt.Sprintf("check subscription_id, resource_group and workspace_name in %s (%s)", w.source(), w.ARMID()),
			"the Reader role on the workspace "+w.ARMID(), err)
	}
	id := strings.TrimSpace(body.Properties.KeyVault)
	if id == "" {
		return "", errorf("workspace %s: ARM names no default key vault (properties.keyVault is empty); name one with key_vault in the config or %s", w.Name, azurevault.EnvKeyvaultURL)
	}
	name, err := parseVaultID(id)
	if err != nil {
		return "", errorf("workspace %s: properties.keyVault: %w", w.Name, err)
	}
	if local, err := w.localVault(name); err != nil || local != "" {
		if err != nil {
			return "", errorf("workspace %s: %w", w.Name, err)
		}
		return local, nil
	}
	return "https://" + name + "." + w.vaultSuffix() + "/", nil
}

// parseVaultID returns NAME from
// /subscriptions/S/resourceGroups/RG/providers/Microsoft.KeyVault/vaults/NAME.
func parseVaultID(id string) (string, error) {
	parts, ok := splitResourceID(id, "Microsoft.KeyVault", "vaults")
	if !ok || !vaultNameRE.MatchString(parts[2]) {
		return "", fmt.Errorf("%q is not a Key Vault id like /subscriptions/S/resourceGroups/RG/providers/Microsoft.KeyVault/vaults/NAME", id)
	}
	return strings.ToLower(parts[2]), nil
}

// Connection is a workspace connection with its secrets, as ARM's
// listsecrets returns it. Credentials are keyvault.Value: they never print.
type Connection struct {
	// Name is the connection's name.
	Name string
	// AuthType is properties.authType, such as "ApiKey" or "CustomKeys".
	AuthType string
	// Category is properties.category, such as "AzureOpenAI".
	Category string
	// Target is properties.target, usually an endpoint URL.
	Target string
	// Credentials are properties.credentials; the entries of a nested object
	// (CustomKeys' "keys") are lifted to the top level. Values that are not
	// strings hold their JSON text.
	Credentials map[string]keyvault.Value
	// Metadata is properties.metadata.
	Metadata map[string]string
	// Document is the listsecrets answer itself, the JSON document ARM
	// returned (id, name, type, properties with authType, category,
	// credentials, metadata, target, ...): what Azure ML injects for
	// ${{azureml://connections/NAME}}. It holds the credentials, so it
	// never prints.
	Document keyvault.Value
}

// String names the connection and its credential keys, never a value.
func (c *Connection) String() string {
	keys := make([]string, 0, len(c.Credentials))
	for k := range c.Credentials {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return fmt.Sprintf("connection %s (%s, %s, credentials: %s)", c.Name, c.Category, c.AuthType, strings.Join(keys, ", "))
}

// ListConnectionSecrets returns the named workspace connection with its
// secrets: ARM POST .../workspaces/W/connections/NAME/listsecrets. A missing
// connection wraps keyvault.ErrNotFound, a refusal keyvault.ErrPermission.
func (w *Workspace) ListConnectionSecrets(ctx context.Context, name string) (*Connection, error) {
	if name == "" || strings.ContainsAny(name, "/?#") {
		return nil, errorf("workspace %s: connection name %q is invalid", w.Name, name)
	}
	var doc json.RawMessage
	var body struct {
		Name       string `json:"name"`
		Properties struct {
			AuthType    string                     `json:"authType"`
			Category    string                     `json:"category"`
			Target      string                     `json:"target"`
			Credentials map[string]json.RawMessage `json:"credentials"`
			Metadata    map[string]json.RawMessage `json:"metadata"`
		} `json:"properties"`
	}
	err := w.armDo(ctx, http.MethodPost, w.resourcePath()+"/connections/"+url.PathEscape(name)+"/listsecrets", &doc)
	if err == nil {
		if json.Unmarshal(doc, &body) != nil {
			err = &malformedError{errors.New("listsecrets answer is not a connection object")}
		}
	}
	if err != nil {
		return nil, w.armError(ctx, "list secrets of connection "+name,
			fmt.Sprintf("check the connection name and that it belongs to %s", w.ARMID()),
			"the role \"Azure Machine Learning Workspace Connection Secret Reader\" (or the listsecrets action) on the workspace "+w.ARMID(), err)
	}
	c := &Connection{
		Name:        name,
		AuthType:    body.Properties.AuthType,
		Category:    body.Properties.Category,
		Target:      body.Properties.Target,
		Credentials: map[string]keyvault.Value{},
		Metadata:    map[string]string{},
		Document:    keyvault.NewValue(string(doc)),
	}
	for k, raw := range body.Properties.Credentials {
		var nested map[string]json.RawMessage
		if json.Unmarshal(raw, &nested) == nil && nested != nil {
			for nk, nv := range nested {
				if _, taken := body.Properties.Credentials[nk]; !taken {
					c.Credentials[nk] = keyvault.NewValue(jsonText(nv))
				}
			}
			continue
		}
		if string(raw) != "null" {
			c.Credentials[k] = keyvault.NewValue(jsonText(raw))
		}
	}
	for k, raw := range body.Properties.Metadata {
		if string(raw) != "null" {
			c.Metadata[k] = jsonText(raw)
		}
	}
	return c, nil
}

// jsonText is a JSON string's value, or the JSON text of anything else.
func jsonText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// errorf is fmt.Errorf; a helper so that every error of this package is
// built in one recognisable way.
func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
