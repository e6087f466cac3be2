package credential

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/go-azureml/secrets/internal/safeopts"
)

// Environment variables that decide which members New tries.
const (
	// EnvMSIEndpoint is the Azure ML compute managed identity endpoint.
	EnvMSIEndpoint = "MSI_ENDPOINT"
	// EnvMSISecret is the secret sent to EnvMSIEndpoint in the "secret" header.
	EnvMSISecret = "MSI_SECRET"
	// EnvDefaultIdentityClientID is the client id of the compute's
	// user-assigned identity, set by Azure ML.
	EnvDefaultIdentityClientID = "DEFAULT_IDENTITY_CLIENT_ID"
	// EnvIdentityEndpoint is the App Service style managed identity endpoint.
	EnvIdentityEndpoint = "IDENTITY_ENDPOINT"
	// EnvIdentityHeader is the header value sent to EnvIdentityEndpoint.
	EnvIdentityHeader = "IDENTITY_HEADER"
	// EnvTenantID is the Microsoft Entra tenant of a service principal or
	// workload identity.
	EnvTenantID = "AZURE_TENANT_ID"
	// EnvClientID is the client id of a service principal or workload identity.
	EnvClientID = "AZURE_CLIENT_ID"
	// EnvClientSecret is a service principal's secret.
	EnvClientSecret = "AZURE_CLIENT_SECRET"
	// EnvClientCertificatePath is a service principal's certificate file.
	EnvClientCertificatePath = "AZURE_CLIENT_CERTIFICATE_PATH"
	// EnvUsername selects azidentity's user name/password flow.
	EnvUsername = "AZURE_USERNAME"
	// EnvFederatedTokenFile is the workload identity token file.
	EnvFederatedTokenFile = "AZURE_FEDERATED_TOKEN_FILE"
)

// Member names, as they appear in errors and in Credential.String.
const (
	NameExplicit         = "explicit credential"
	NameManagedIdentity  = "ManagedIdentityCredential"
	NameEnvironment      = "EnvironmentCredential"
	NameWorkloadIdentity = "WorkloadIdentityCredential"
	NameAzureCLI         = "AzureCLICredential"
)

// Options configure New. A nil *Options means defaults.
type Options struct {
	// Credential, when set, is the only member: New wraps it with the
	// per-scope token cache and nothing else is tried.
	Credential azcore.TokenCredential
	// ClientID is the client id of a user-assigned managed identity. Empty
	// means DEFAULT_IDENTITY_CLIENT_ID, and when that is empty too, the
	// system-assigned identity.
	ClientID string
	// TenantID is the tenant for the Azure CLI member; empty means the
	// CLI's default.
	TenantID string
	// ClientOptions configure the azidentity members' pipelines (Cloud for
	// the authority host, Transport, Retry, Logging).
	ClientOptions azcore.ClientOptions
	// ExcludeAzureCLI leaves the Azure CLI out, e.g. in production code that
	// must never shell out.
	ExcludeAzureCLI bool
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// Now is the clock for token expiry; nil means time.Now.
	Now func() time.Time
}

// member is one credential of the chain, with why it is in it.
type member struct {
	name    string
	why     string
	cred    azcore.TokenCredential
	initErr error
}

// Credential is the credential New returns: an ordered chain of azidentity
// credentials behind a per-scope token cache. It is safe for concurrent use.
// Its String names the members, never a token.
type Credential struct {
	members []member
	skipped []string
	cache   *cache

	mu     sync.Mutex
	active *member
}

var _ azcore.TokenCredential = (*Credential)(nil)

// New returns the credential that fits where the code runs; see the package
// documentation for the order of its members. It fails only when no member
// can be built at all (ExcludeAzureCLI with nothing else configured).
func New(opts *Options) (azcore.TokenCredential, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.ClientOptions = safeopts.Client(o.ClientOptions)
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }
	c := &Credential{}
	c.cache = newCache(c.getToken, o.Now)
	if o.Credential != nil {
		c.members = []member{{name: NameExplicit, why: fmt.Sprintf("Options.Credential (%s)", Describe(o.Credential)), cred: o.Credential}}
		return c, nil
	}

	// 2. Managed identity.
	clientID := strings.TrimSpace(o.ClientID)
	idSource := "Options.ClientID"
	if clientID == "" {
		clientID = env(EnvDefaultIdentityClientID)
		idSource = EnvDefaultIdentityClientID
	}
	var miWhy string
	switch {
	case env(EnvMSIEndpoint) != "" && env(EnvMSISecret) != "":
		miWhy = "Azure ML compute identity: " + EnvMSIEndpoint + " and " + EnvMSISecret + " are set"
	case env(EnvIdentityEndpoint) != "" && env(EnvIdentityHeader) != "":
		miWhy = "host identity: " + EnvIdentityEndpoint + " and " + EnvIdentityHeader + " are set"
	}
	if miWhy != "" {
		mo := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: o.ClientOptions}
		if clientID != "" {
			mo.ID = azidentity.ClientID(clientID)
			miWhy += fmt.Sprintf(", client id %s from %s", clientID, idSource)
		} else {
			miWhy += ", system-assigned identity"
		}
		cred, err := azidentity.NewManagedIdentityCredential(mo)
		c.add(NameManagedIdentity, miWhy, cred, err)
	} else {
		c.skipped = append(c.skipped, "managed identity ("+EnvMSIEndpoint+" and "+EnvMSISecret+" unset)")
	}

	// 3. Service principal from the environment.
	if env(EnvTenantID) != "" && env(EnvClientID) != "" &&
		(env(EnvClientSecret) != "" || env(EnvClientCertificatePath) != "" || env(EnvUsername) != "") {
		why := "service principal: " + EnvTenantID + ", " + EnvClientID + " and "
		switch {
		case env(EnvClientSecret) != "":
			why += EnvClientSecret
		case env(EnvClientCertificatePath) != "":
			why += EnvClientCertificatePath
		default:
			why += EnvUsername
		}
		why += " are set"
		cred, err := azidentity.NewEnvironmentCredential(&azidentity.EnvironmentCredentialOptions{ClientOptions: o.ClientOptions})
		c.add(NameEnvironment, why, cred, err)
	} else {
		c.skipped = append(c.skipped, "service principal ("+EnvTenantID+", "+EnvClientID+" and "+EnvClientSecret+" or "+EnvClientCertificatePath+" unset)")
	}

	// 4. Workload identity.
	if f := env(EnvFederatedTokenFile); f != "" {
		cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: o.ClientOptions,
			ClientID:      env(EnvClientID),
			TenantID:      env(EnvTenantID),
			TokenFilePath: f,
		})
		c.add(NameWorkloadIdentity, "workload identity: "+EnvFederatedTokenFile+" is set", cred, err)
	} else {
		c.skipped = append(c.skipped, "workload identity ("+EnvFederatedTokenFile+" unset)")
	}

	// 5. Azure CLI.
	if !o.ExcludeAzureCLI {
		cred, err := azidentity.NewAzureCLICredential(&azidentity.AzureCLICredentialOptions{TenantID: o.TenantID})
		c.add(NameAzureCLI, "developer sign-in: az account get-access-token", cred, err)
	}
	if len(c.members) == 0 {
		return nil, fmt.Errorf("credential: nothing to authenticate with: %s; sign in with `az login`, set a service principal or pass Options.Credential", strings.Join(c.skipped, "; "))
	}
	return c, nil
}

func (c *Credential) add(name, why string, cred azcore.TokenCredential, err error) {
	m := member{name: name, why: why, initErr: err}
	if err == nil {
		m.cred = cred
	}
	c.members = append(c.members, m)
}

// GetToken returns a cached token for opts' scopes or, when none is fresh,
// asks the members in turn. Concurrent calls for the same scopes share one
// request.
func (c *Credential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return c.cache.GetToken(ctx, opts)
}

// getToken asks the active member, or each member in turn until one answers.
func (c *Credential) getToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	active := c.active
	c.mu.Unlock()
	if active != nil {
		tok, err := active.cred.GetToken(ctx, opts)
		if err != nil {
			if ce := ctx.Err(); ce != nil {
				return azcore.AccessToken{}, err
			}
			return azcore.AccessToken{}, &Error{Scopes: opts.Scopes, Attempts: []Attempt{{Name: active.name, Why: active.why, Err: err}}}
		}
		return tok, nil
	}
	e := &Error{Scopes: opts.Scopes, NotConfigured: c.skipped}
	for i := range c.members {
		m := &c.members[i]
		if m.initErr != nil {
			e.Attempts = append(e.Attempts, Attempt{Name: m.name, Why: m.why, Err: m.initErr})
			continue
		}
		tok, err := m.cred.GetToken(ctx, opts)
		if err == nil {
			c.mu.Lock()
			if c.active == nil {
				c.active = m
			}
			c.mu.Unlock()
			return tok, nil
		}
		if ctx.Err() != nil {
			return azcore.AccessToken{}, ctx.Err()
		}
		e.Attempts = append(e.Attempts, Attempt{Name: m.name, Why: m.why, Err: err})
	}
	return azcore.AccessToken{}, e
}

// String names the members in order and, once one has returned a token, the
// one in use. It never shows a token.
func (c *Credential) String() string {
	if len(c.members) == 1 && c.members[0].name == NameExplicit {
		return Describe(c.members[0].cred)
	}
	c.mu.Lock()
	active := c.active
	c.mu.Unlock()
	if active != nil {
		return active.name + " (" + active.why + ")"
	}
	names := make([]string, len(c.members))
	for i, m := range c.members {
		names[i] = m.name
	}
	return "credential chain: " + strings.Join(names, ", ")
}

// Active returns the name of the member that returned a token, or "" when
// none has yet.
func (c *Credential) Active() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.active == nil {
		return ""
	}
	return c.active.name
}

// Describe names a credential for an error message: its String when it has
// one, else its Go type. It never shows a token.
func Describe(cred azcore.TokenCredential) string {
	if cred == nil {
		return "no credential"
	}
	if s, ok := cred.(fmt.Stringer); ok {
		return s.String()
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", cred), "*")
}

// Attempt is one member's failure.
type Attempt struct {
	// Name is the member, such as "ManagedIdentityCredential".
	Name string
	// Why says why the member was tried (which variables are set).
	Why string
	// Err is the member's error, from azidentity.
	Err error
}

// Error is returned by GetToken when every member failed. Its message lists
// each member tried, in order, with why it was tried and why it failed, then
// the members that were not configured.
type Error struct {
	// Scopes are the scopes requested.
	Scopes []string
	// Attempts are the members tried, in order.
	Attempts []Attempt
	// NotConfigured names the members left out, with the variables they lack.
	NotConfigured []string
}

// Error lists each credential tried and why it failed, never a token.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "credential: no credential could get a token for %s; tried, in order:", strings.Join(e.Scopes, " "))
	msi := false
	for i, a := range e.Attempts {
		fmt.Fprintf(&b, "\n\t%d. %s (%s): %s", i+1, a.Name, a.Why, Reason(a.Err))
		if a.Name == NameManagedIdentity && strings.Contains(a.Why, EnvMSIEndpoint) {
			msi = true
		}
	}
	if len(e.NotConfigured) > 0 {
		fmt.Fprintf(&b, "\nnot configured: %s", strings.Join(e.NotConfigured, "; "))
	}
	if msi {
		b.WriteString("\n" + EnvMSIEndpoint + " is set, as on every Azure ML compute instance and cluster, but its managed identity got no token: " +
			"assign the compute an identity with access, or sign in with `az login`, or pass an explicit credential")
	}
	return b.String()
}

// Unwrap returns each member's error.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, len(e.Attempts))
	for _, a := range e.Attempts {
		errs = append(errs, a.Err)
	}
	return errs
}

// Reason renders an azidentity error on one line: for an HTTP failure the
// status, the request (method, scheme, host, path; never the query) and the
// endpoint's error code and description; otherwise the error's text without
// the credential's name and the troubleshooting link.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	var af *azidentity.AuthenticationFailedError
	if errors.As(err, &af) && af.RawResponse != nil {
		resp := af.RawResponse
		s := fmt.Sprintf("HTTP %d", resp.StatusCode)
		if resp.Request != nil && resp.Request.URL != nil {
			u := resp.Request.URL
			s += fmt.Sprintf(" from %s %s://%s%s", resp.Request.Method, u.Scheme, u.Host, u.Path)
		}
		if body, err := runtime.Payload(resp); err == nil && len(body) > 0 {
			if d := errorDetail(body); d != "" {
				s += ": " + d
			}
		}
		return s
	}
	msg := err.Error()
	for _, n := range []string{NameManagedIdentity, NameEnvironment, NameWorkloadIdentity, NameAzureCLI} {
		msg = strings.TrimPrefix(msg, n+": ")
	}
	if i := strings.Index(msg, "To troubleshoot, visit"); i >= 0 {
		msg = msg[:i]
	}
	msg = strings.Join(strings.Fields(msg), " ")
	return strings.TrimSpace(msg)
}

// errorDetail reads "error"/"error_description" (OAuth) or
// "error":{"code","message"} (Azure) from a JSON error body, capped in
// length. Anything else is left out: a body is not trusted to be printable.
func errorDetail(body []byte) string {
	var oauth struct {
		Error       json.RawMessage `json:"error"`
		Description string          `json:"error_description"`
		Message     string          `json:"message"`
	}
	if json.Unmarshal(body, &oauth) != nil {
		return ""
	}
	var code, msg string
	var s string
	if json.Unmarshal(oauth.Error, &s) == nil {
		code, msg = s, oauth.Description
	} else {
		var az struct{ Code, Message string }
		if json.Unmarshal(oauth.Error, &az) == nil {
			code, msg = az.Code, az.Message
		}
	}
	if msg == "" {
		msg = oauth.Message
	}
	out := strings.TrimSpace(strings.Join(strings.Fields(code+": "+msg), " "))
	out = strings.TrimSuffix(strings.TrimPrefix(out, ": "), ":")
	if len(out) > 300 {
		out = out[:300] + "..."
	}
	return out
}
