package credential

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/go-azureml/secrets/internal/safeopts"
	"github.com/go-azureml/secrets/internal/safetext"
)

// Environment variables that decide which members New tries. New reads them
// from the process environment, as the azidentity members it builds do.
const (
	// EnvOBOEnabled is set (to "True", compared without case) by Azure ML in
	// a job submitted with `identity: type: user_identity`.
	EnvOBOEnabled = "AZUREML_OBO_ENABLED"
	// EnvOBOEndpoint is that job's token endpoint: GET $OBO_ENDPOINT?resource=R.
	EnvOBOEndpoint = "OBO_ENDPOINT"
	// EnvMSIEndpoint is the Azure ML compute managed identity endpoint.
	EnvMSIEndpoint = "MSI_ENDPOINT"
	// EnvMSISecret is the secret sent to EnvMSIEndpoint in the "secret" header.
	EnvMSISecret = "MSI_SECRET"
	// EnvDefaultIdentityClientID is the client id of the compute's
	// user-assigned identity, set by Azure ML. On a compute instance with no
	// identity assigned it holds the placeholder ComputeInstanceNoIdentity.
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
	// EnvTokenCredentials selects members as azidentity v1.15 defines it:
	// "dev" (the Azure CLI), "prod" (on-behalf-of, managed identity,
	// service principal, workload identity) or one member's name.
	EnvTokenCredentials = "AZURE_TOKEN_CREDENTIALS"
)

// ComputeInstanceNoIdentity is the placeholder Azure ML puts in
// DEFAULT_IDENTITY_CLIENT_ID on a compute instance with no identity
// assigned; the endpoint then answers with the signed-in user's single
// sign-on token. It is never a client id.
const ComputeInstanceNoIdentity = "clientid"

// Member names, as they appear in errors, in Credential.String and as
// values of AZURE_TOKEN_CREDENTIALS.
const (
	NameExplicit         = "explicit credential"
	NameOnBehalfOf       = "AzureMLOnBehalfOfCredential"
	NameManagedIdentity  = "ManagedIdentityCredential"
	NameEnvironment      = "EnvironmentCredential"
	NameWorkloadIdentity = "WorkloadIdentityCredential"
	NameAzureCLI         = "AzureCLICredential"
)

// Options configure New. A nil *Options means defaults.
//
// There is no Getenv: the azidentity members read the process environment
// themselves, so New does too, and a test sets variables with t.Setenv.
type Options struct {
	// Credential, when set, is the only member: New wraps it with the
	// per-scope token cache and nothing else is tried.
	Credential azcore.TokenCredential
	// ClientID is the client id of a user-assigned managed identity. Empty
	// means DEFAULT_IDENTITY_CLIENT_ID, and when that is empty too (or the
	// compute instance placeholder "clientid"), the system-assigned identity.
	ClientID string
	// TenantID is the tenant for the Azure CLI member; empty means the
	// CLI's default.
	TenantID string
	// ClientOptions configure the members' pipelines (Cloud for the
	// authority host, Transport, Retry, Logging). The IMDS probe and the
	// managed identity requests go through Transport too, so a test can
	// answer them in process.
	ClientOptions azcore.ClientOptions
	// TokenCredentials selects members as AZURE_TOKEN_CREDENTIALS does
	// ("dev", "prod" or a member's name); empty means that variable.
	TokenCredentials string
	// ExcludeOnBehalfOf leaves out the user-identity (OBO_ENDPOINT) member.
	ExcludeOnBehalfOf bool
	// ExcludeManagedIdentity leaves out every managed identity member
	// (MSI_ENDPOINT, IDENTITY_ENDPOINT and IMDS).
	ExcludeManagedIdentity bool
	// ExcludeIMDS leaves out only the IMDS member (Azure VMs), tried when
	// no managed identity endpoint variable is set.
	ExcludeIMDS bool
	// ExcludeEnvironment leaves out the service principal from AZURE_*.
	ExcludeEnvironment bool
	// ExcludeWorkloadIdentity leaves out workload identity.
	ExcludeWorkloadIdentity bool
	// ExcludeAzureCLI leaves the Azure CLI out, e.g. in production code that
	// must never shell out.
	ExcludeAzureCLI bool
	// IMDSProbeTimeout bounds the IMDS member's first probe; 0 means
	// DefaultIMDSProbeTimeout (1s).
	IMDSProbeTimeout time.Duration
	// Now is the clock for token expiry; nil means time.Now.
	Now func() time.Time
}

// member is one credential of the chain, with why it is in it.
type member struct {
	name    string
	why     string
	cred    azcore.TokenCredential
	initErr error
	kind    memberKind
}

// memberKind tells the managed identity sources apart, for advice.
type memberKind int

const (
	kindOther memberKind = iota
	kindOBO
	kindMSI         // Azure ML MSI_ENDPOINT
	kindCIPlacehold // Azure ML MSI_ENDPOINT with the "clientid" placeholder
	kindIMDS
)

// Credential is the credential New returns: an ordered chain of credentials
// behind a per-scope token cache. It is safe for concurrent use. Its String
// names the members, never a token.
type Credential struct {
	members []member
	skipped []string
	cache   *cache

	mu     sync.Mutex
	active *member
}

var _ azcore.TokenCredential = (*Credential)(nil)

// selection is the set of members AZURE_TOKEN_CREDENTIALS lets in.
type selection struct {
	names map[string]bool
	why   string // e.g. "AZURE_TOKEN_CREDENTIALS=dev"
}

func (s selection) has(name string) bool { return s.names == nil || s.names[name] }

func parseSelection(v, from string) (selection, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return selection{}, nil
	}
	sel := selection{names: map[string]bool{}, why: from + "=" + v}
	switch {
	case strings.EqualFold(v, "dev"):
		sel.names[NameAzureCLI] = true
	case strings.EqualFold(v, "prod"):
		for _, n := range []string{NameOnBehalfOf, NameManagedIdentity, NameEnvironment, NameWorkloadIdentity} {
			sel.names[n] = true
		}
	default:
		for _, n := range []string{NameOnBehalfOf, NameManagedIdentity, NameEnvironment, NameWorkloadIdentity, NameAzureCLI} {
			if strings.EqualFold(v, n) {
				sel.names[n] = true
				return sel, nil
			}
		}
		return selection{}, fmt.Errorf("credential: invalid %s %q: want dev, prod or one of %s, %s, %s, %s, %s (AzureDeveloperCLICredential and AzurePowerShellCredential are not part of this chain)",
			from, v, NameOnBehalfOf, NameManagedIdentity, NameEnvironment, NameWorkloadIdentity, NameAzureCLI)
	}
	return sel, nil
}

// New returns the credential that fits where the code runs; see the package
// documentation for the order of its members. It fails when
// AZURE_TOKEN_CREDENTIALS is invalid or no member is left at all.
func New(opts *Options) (azcore.TokenCredential, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.ClientOptions = safeopts.Client(o.ClientOptions)
	env := func(k string) string { return strings.TrimSpace(os.Getenv(k)) }
	c := &Credential{}
	c.cache = newCache(c.getToken, o.Now)
	if o.Credential != nil {
		c.members = []member{{name: NameExplicit, why: "passed by the program: " + Describe(o.Credential), cred: o.Credential}}
		return c, nil
	}
	var sel selection
	var err error
	if strings.TrimSpace(o.TokenCredentials) != "" {
		sel, err = parseSelection(o.TokenCredentials, "the program's credential selection")
	} else {
		sel, err = parseSelection(os.Getenv(EnvTokenCredentials), EnvTokenCredentials)
	}
	if err != nil {
		return nil, err
	}
	// use reports whether a member is in, recording why not when it is out.
	use := func(name, label string, excluded bool, option string) bool {
		switch {
		case excluded:
			c.skipped = append(c.skipped, label+" (left out by the program: "+option+")")
			return false
		case !sel.has(name):
			c.skipped = append(c.skipped, label+" (not selected by "+sel.why+")")
			return false
		}
		return true
	}

	// 2. The user's identity, in a job submitted with user_identity.
	if strings.EqualFold(env(EnvOBOEnabled), "true") {
		if use(NameOnBehalfOf, "user identity", o.ExcludeOnBehalfOf, "ExcludeOnBehalfOf") {
			why := "user identity: " + EnvOBOEnabled + " is True"
			ep := env(EnvOBOEndpoint)
			if ep == "" {
				c.members = append(c.members, member{name: NameOnBehalfOf, why: why, kind: kindOBO,
					initErr: fmt.Errorf("%s is unset: the job runs with the user's identity but Azure ML gave it no token endpoint", EnvOBOEndpoint)})
			} else {
				cred, err := newOnBehalfOf(ep, o.ClientOptions, o.Now)
				c.add(NameOnBehalfOf, why+" and "+EnvOBOEndpoint+" is set", cred, err)
				c.members[len(c.members)-1].kind = kindOBO
			}
		}
	} else {
		c.skipped = append(c.skipped, "user identity ("+EnvOBOEnabled+" unset)")
	}

	// 3. Managed identity from an endpoint variable.
	clientID := strings.TrimSpace(o.ClientID)
	idSource := "the program's options"
	if clientID == "" {
		clientID = env(EnvDefaultIdentityClientID)
		idSource = EnvDefaultIdentityClientID
	}
	placeholder := strings.EqualFold(clientID, ComputeInstanceNoIdentity)
	var miWhy string
	kind := kindMSI
	switch {
	case env(EnvIdentityEndpoint) != "" && env(EnvIdentityHeader) != "":
		// MSAL gives these priority over MSI_ENDPOINT.
		miWhy = "host identity: " + EnvIdentityEndpoint + " and " + EnvIdentityHeader + " are set"
		kind = kindOther
	case env(EnvMSIEndpoint) != "" && env(EnvMSISecret) != "":
		miWhy = "Azure ML compute identity: " + EnvMSIEndpoint + " and " + EnvMSISecret + " are set"
	}
	miIn := !o.ExcludeManagedIdentity && sel.has(NameManagedIdentity)
	if miWhy != "" {
		if use(NameManagedIdentity, "managed identity", o.ExcludeManagedIdentity, "ExcludeManagedIdentity") {
			mo := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: o.ClientOptions}
			switch {
			case placeholder:
				miWhy += ", " + idSource + " is the compute instance placeholder \"" + ComputeInstanceNoIdentity +
					"\" (no identity assigned: the endpoint answers with the signed-in user's single sign-on token)"
				if kind == kindMSI {
					kind = kindCIPlacehold
				}
			case clientID != "":
				mo.ID = azidentity.ClientID(clientID)
				miWhy += fmt.Sprintf(", client id %s from %s", clientID, idSource)
			default:
				miWhy += ", system-assigned identity"
			}
			cred, err := azidentity.NewManagedIdentityCredential(mo)
			c.add(NameManagedIdentity, miWhy, cred, err)
			c.members[len(c.members)-1].kind = kind
		}
	}

	// 4. Service principal from the environment.
	if env(EnvTenantID) != "" && env(EnvClientID) != "" &&
		(env(EnvClientSecret) != "" || env(EnvClientCertificatePath) != "" || env(EnvUsername) != "") {
		if use(NameEnvironment, "service principal", o.ExcludeEnvironment, "ExcludeEnvironment") {
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
		}
	} else {
		c.skipped = append(c.skipped, "service principal ("+EnvTenantID+", "+EnvClientID+" and "+EnvClientSecret+" or "+EnvClientCertificatePath+" unset)")
	}

	// 5. Workload identity.
	if f := env(EnvFederatedTokenFile); f != "" {
		if use(NameWorkloadIdentity, "workload identity", o.ExcludeWorkloadIdentity, "ExcludeWorkloadIdentity") {
			cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
				ClientOptions: o.ClientOptions,
				ClientID:      env(EnvClientID),
				TenantID:      env(EnvTenantID),
				TokenFilePath: f,
			})
			c.add(NameWorkloadIdentity, "workload identity: "+EnvFederatedTokenFile+" is set", cred, err)
		}
	} else {
		c.skipped = append(c.skipped, "workload identity ("+EnvFederatedTokenFile+" unset)")
	}

	// 6. IMDS, when no endpoint variable names a managed identity (Azure VMs,
	// the Data Science VM).
	imdsAt := -1
	if miWhy == "" {
		switch {
		case !miIn:
			use(NameManagedIdentity, "managed identity", o.ExcludeManagedIdentity, "ExcludeManagedIdentity")
		case o.ExcludeIMDS:
			c.skipped = append(c.skipped, "IMDS managed identity (left out by the program: ExcludeIMDS)")
		default:
			mo := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: o.ClientOptions}
			why := "IMDS (169.254.169.254): no managed identity variable is set, as on an Azure VM or Data Science VM"
			if clientID != "" && !placeholder {
				mo.ID = azidentity.ClientID(clientID)
				why += fmt.Sprintf(", client id %s from %s", clientID, idSource)
			} else {
				why += ", system-assigned identity"
			}
			cred, err := azidentity.NewManagedIdentityCredential(mo)
			var m azcore.TokenCredential
			if err == nil {
				m = newIMDSMember(cred, o.ClientOptions, o.IMDSProbeTimeout, false)
			}
			c.add(NameManagedIdentity, why, m, err)
			imdsAt = len(c.members) - 1
			c.members[imdsAt].kind = kindIMDS
		}
	}

	// 7. Azure CLI.
	if use(NameAzureCLI, "Azure CLI", o.ExcludeAzureCLI, "ExcludeAzureCLI") {
		cred, err := azidentity.NewAzureCLICredential(&azidentity.AzureCLICredentialOptions{TenantID: o.TenantID})
		c.add(NameAzureCLI, "developer sign-in: az account get-access-token", cred, err)
	}
	if len(c.members) == 0 {
		return nil, fmt.Errorf("credential: nothing to authenticate with: %s; sign in with `az login`, or set a service principal ("+EnvClientID+", "+EnvTenantID+" and "+EnvClientSecret+")", strings.Join(c.skipped, "; "))
	}
	// Probe IMDS first only when another member could answer instead, as
	// DefaultAzureCredential does.
	if imdsAt >= 0 && len(c.members) > 1 {
		if m, ok := c.members[imdsAt].cred.(*imdsMember); ok {
			m.probe = true
		}
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
			return azcore.AccessToken{}, &Error{Scopes: opts.Scopes, Attempts: []Attempt{{Name: active.name, Why: active.why, Err: err, kind: active.kind}}}
		}
		return tok, nil
	}
	e := &Error{Scopes: opts.Scopes, NotConfigured: c.skipped}
	for i := range c.members {
		m := &c.members[i]
		if m.initErr != nil {
			e.Attempts = append(e.Attempts, Attempt{Name: m.name, Why: m.why, Err: m.initErr, kind: m.kind})
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
		e.Attempts = append(e.Attempts, Attempt{Name: m.name, Why: m.why, Err: err, kind: m.kind})
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

	kind memberKind
}

// Error is returned by GetToken when every member failed. Its message lists
// each member tried, in order, with why it was tried and why it failed, then
// the members that were not configured, then what to do.
type Error struct {
	// Scopes are the scopes requested.
	Scopes []string
	// Attempts are the members tried, in order.
	Attempts []Attempt
	// NotConfigured names the members left out, with the variables they lack.
	NotConfigured []string
}

// Advice for the failures of Azure ML compute identities.
const (
	adviceServerless = EnvMSIEndpoint + " answered 404, as serverless compute does for a managed identity it does not have (it has only the user's identity or the workspace's user-assigned identity): " +
		"assign the workspace a user-assigned identity and set its client id in " + EnvDefaultIdentityClientID + ", or submit the job with `identity: type: user_identity`"
	adviceNoSSO = "this compute instance has no managed identity (" + EnvDefaultIdentityClientID + " is the placeholder \"clientid\") and single sign-on is off, so its endpoint answered \"Token not found\": " +
		"turn on single sign-on for the compute instance in Azure ML studio, or assign it a managed identity, or sign in with `az login`"
	adviceSSO = "this compute instance has no managed identity (" + EnvDefaultIdentityClientID + " is the placeholder \"clientid\"): its endpoint speaks for the signed-in user, whose token was refused; " +
		"assign the compute instance a managed identity with access, or give the user access"
	adviceMSI = EnvMSIEndpoint + " is set, as on every Azure ML compute instance and cluster, but its managed identity got no token: " +
		"assign the compute an identity with access, or sign in with `az login`, or pass an explicit credential"
	adviceOBO = "the job runs with the user's identity (`identity: type: user_identity`) and got no token from " + EnvOBOEndpoint + ": " +
		"check that the submitting user has access, or submit the job with the compute's managed identity"
)

// Error lists each credential tried and why it failed, never a token.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "credential: no credential could get a token for %s; tried, in order:", strings.Join(e.Scopes, " "))
	var advice []string
	for i, a := range e.Attempts {
		reason := Reason(a.Err)
		fmt.Fprintf(&b, "\n\t%d. %s (%s): %s", i+1, a.Name, a.Why, reason)
		if ad := a.advice(reason); ad != "" && !slices.Contains(advice, ad) {
			advice = append(advice, ad)
		}
	}
	if len(e.NotConfigured) > 0 {
		fmt.Fprintf(&b, "\nnot configured: %s", strings.Join(e.NotConfigured, "; "))
	}
	for _, ad := range advice {
		b.WriteString("\n" + ad)
	}
	return b.String()
}

// advice says what to do about an Azure ML identity's failure, or "".
func (a Attempt) advice(reason string) string {
	switch a.kind {
	case kindOBO:
		return adviceOBO
	case kindMSI, kindCIPlacehold:
		switch {
		case strings.Contains(reason, "Token not found"):
			return adviceNoSSO
		case a.kind == kindMSI && statusOf(a.Err) == http.StatusNotFound:
			return adviceServerless
		case a.kind == kindCIPlacehold:
			return adviceSSO
		}
		return adviceMSI
	}
	return ""
}

// statusOf is the HTTP status of an identity endpoint's answer, or 0.
func statusOf(err error) int {
	var af *azidentity.AuthenticationFailedError
	if errors.As(err, &af) && af.RawResponse != nil {
		return af.RawResponse.StatusCode
	}
	var ee *endpointError
	if errors.As(err, &ee) {
		return ee.Status
	}
	return 0
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
			if d := bodyDetail(body); d != "" {
				s += ": " + d
			}
		}
		return s
	}
	msg := err.Error()
	for _, n := range []string{NameOnBehalfOf, NameManagedIdentity, NameEnvironment, NameWorkloadIdentity, NameAzureCLI} {
		msg = strings.TrimPrefix(msg, n+": ")
	}
	if i := strings.Index(msg, "To troubleshoot, visit"); i >= 0 {
		msg = msg[:i]
	}
	msg = strings.Join(strings.Fields(msg), " ")
	// Text that may quote an endpoint: bounded, controls escaped.
	return safetext.Clean(strings.TrimSpace(msg), 500)
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
	// The endpoint's text: bounded, control and bidi characters escaped.
	return safetext.Clean(out, 300)
}
