package credential_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/credential"
	"github.com/go-azureml/secrets/internal/armfake"
)

// uniqueScope is a scope no other test asks for: MSAL keeps a process-wide
// managed identity token cache keyed by identity and resource.
func uniqueScope(tag string) string {
	return fmt.Sprintf("https://%s-%d.example/.default", tag, time.Now().UnixNano())
}

// imdsFake answers 169.254.169.254 in process: no packet leaves the test.
// Every other host is an error.
type imdsFake struct {
	mu      sync.Mutex
	probes  int // requests without "Metadata: true"
	tokens  int
	hosts   []string
	hang    bool
	queries []string
}

func (f *imdsFake) Do(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.hosts = append(f.hosts, req.URL.Host)
	f.mu.Unlock()
	if req.URL.Host != "169.254.169.254" {
		return nil, fmt.Errorf("test transport: no route to %s", req.URL.Host)
	}
	if f.hang {
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.Header.Get("Metadata") != "true" {
		f.probes++
		return respond(req, http.StatusBadRequest, `{"error":"invalid_request","error_description":"Required metadata header not specified"}`), nil
	}
	f.tokens++
	f.queries = append(f.queries, req.URL.RawQuery)
	res := req.URL.Query().Get("resource")
	return respond(req, http.StatusOK, fmt.Sprintf(`{"access_token":"imds-token-for-%s","expires_in":"3600","expires_on":"%d","resource":%q,"token_type":"Bearer"}`,
		res, time.Now().Add(time.Hour).Unix(), res)), nil
}

func respond(req *http.Request, status int, body string) *http.Response {
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: req, ContentLength: int64(len(body))}
}

// TestIMDSWithNoIdentityVariables is an Azure VM or DSVM: nothing in the
// environment names an identity, IMDS answers. The chain probes it first
// (another member is in the chain), then asks it for the token.
func TestIMDSWithNoIdentityVariables(t *testing.T) {
	clearIdentityEnv(t)
	fakeAz(t)
	imds := &imdsFake{}
	cred, err := credential.New(&credential.Options{ClientOptions: policyOpts(imds)})
	require.NoError(t, err)
	assert.Equal(t, "credential chain: ManagedIdentityCredential, AzureCLICredential", credential.Describe(cred))
	scope := uniqueScope("imds")
	tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{scope}})
	require.NoError(t, err)
	assert.Equal(t, "imds-token-for-"+strings.TrimSuffix(scope, "/.default"), tok.Token)
	assert.Equal(t, 1, imds.probes)
	assert.Equal(t, 1, imds.tokens)
	assert.Equal(t, "ManagedIdentityCredential (IMDS (169.254.169.254): no managed identity variable is set, as on an Azure VM or Data Science VM, system-assigned identity)", credential.Describe(cred))
	for _, h := range imds.hosts {
		assert.Equal(t, "169.254.169.254", h)
	}
}

// TestIMDSProbeTimesOut is a laptop: IMDS never answers; the probe gives up
// after one second (of the bubble's clock), once per process, and the next
// member gets its turn.
func TestIMDSProbeTimesOut(t *testing.T) {
	clearIdentityEnv(t)
	synctest.Test(t, func(t *testing.T) {
		imds := &imdsFake{hang: true}
		obo := &oboRefuses{}
		t.Setenv(credential.EnvOBOEnabled, "true")
		t.Setenv(credential.EnvOBOEndpoint, "http://obo.test/token")
		cred, err := credential.New(&credential.Options{ExcludeAzureCLI: true, ClientOptions: policyOpts(&routeTransport{imds: imds, obo: obo})})
		require.NoError(t, err)
		start := time.Now()
		_, err = cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{uniqueScope("laptop")}})
		require.Error(t, err)
		assert.Equal(t, time.Second, time.Since(start), "one probe timeout, no retries")
		assert.Contains(t, err.Error(), "2. ManagedIdentityCredential (IMDS (169.254.169.254)")
		assert.Contains(t, err.Error(), "no answer from IMDS (169.254.169.254) within 1s (not an Azure VM)")

		start = time.Now()
		_, err = cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{uniqueScope("laptop2")}})
		require.Error(t, err)
		assert.Zero(t, time.Since(start), "the failed probe is remembered")
		assert.Equal(t, 2, obo.calls)
	})
}

type oboRefuses struct{ calls int }

type routeTransport struct {
	imds *imdsFake
	obo  *oboRefuses
}

func (r *routeTransport) Do(req *http.Request) (*http.Response, error) {
	if req.URL.Host == "obo.test" {
		r.obo.calls++
		return respond(req, http.StatusForbidden, `{"error":"access_denied","error_description":"user not allowed"}`), nil
	}
	return r.imds.Do(req)
}

// TestIMDSAloneIsNotProbed: with AZURE_TOKEN_CREDENTIALS naming managed
// identity, the chain has one member and asks IMDS directly.
func TestIMDSAloneIsNotProbed(t *testing.T) {
	clearIdentityEnv(t)
	t.Setenv(credential.EnvTokenCredentials, "ManagedIdentityCredential")
	imds := &imdsFake{}
	cred, err := credential.New(&credential.Options{ClientID: "vm-identity", ClientOptions: policyOpts(imds)})
	require.NoError(t, err)
	assert.Equal(t, "credential chain: ManagedIdentityCredential", credential.Describe(cred))
	_, err = cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{uniqueScope("alone")}})
	require.NoError(t, err)
	assert.Equal(t, 0, imds.probes)
	require.Len(t, imds.queries, 1)
	assert.Contains(t, imds.queries[0], "client_id=vm-identity")
}

// TestOnBehalfOfFirst is a job submitted with user_identity on a cluster
// that also has an identity: the user's token comes from OBO_ENDPOINT and
// the MSI endpoint receives nothing.
func TestOnBehalfOfFirst(t *testing.T) {
	clearIdentityEnv(t)
	obo := armfake.NewOBO(0, "")
	defer obo.Close()
	msi := armfake.NewMSI(armfake.MSIOptions{Secret: "msi-secret"})
	defer msi.Close()
	t.Setenv(credential.EnvOBOEnabled, "True")
	t.Setenv(credential.EnvOBOEndpoint, obo.Endpoint())
	t.Setenv(credential.EnvMSIEndpoint, msi.Endpoint())
	t.Setenv(credential.EnvMSISecret, "msi-secret")
	t.Setenv(credential.EnvDefaultIdentityClientID, fmt.Sprintf("cluster-%d", time.Now().UnixNano()))

	cred, err := credential.New(&credential.Options{ExcludeAzureCLI: true})
	require.NoError(t, err)
	assert.Equal(t, "credential chain: AzureMLOnBehalfOfCredential, ManagedIdentityCredential", credential.Describe(cred))
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{vaultScope}})
			assert.NoError(t, err)
			assert.Equal(t, "obo-token-for-https://vault.azure.net", tok.Token)
			assert.WithinDuration(t, time.Now().Add(time.Hour), tok.ExpiresOn, time.Minute)
		})
	}
	wg.Wait()
	assert.Equal(t, 1, obo.Requests("https://vault.azure.net"))
	assert.Zero(t, obo.WithSecret(), "no secret header goes to the OBO endpoint")
	assert.Zero(t, msi.Total(), "the MSI endpoint receives no request")
	assert.Equal(t, "AzureMLOnBehalfOfCredential (user identity: AZUREML_OBO_ENABLED is True and OBO_ENDPOINT is set)", credential.Describe(cred))
}

func TestOnBehalfOfAnswers(t *testing.T) {
	exp := time.Now().Add(2 * time.Hour).Unix()
	for _, tc := range []struct {
		name, body, err string
		status          int
	}{
		{name: "expires_on number", body: fmt.Sprintf(`{"access_token":"t","expires_on":%d}`, exp)},
		{name: "expires_on string", body: fmt.Sprintf(`{"access_token":"t","expires_on":"%d","token_type":"Bearer"}`, exp)},
		{name: "no expiry", body: `{"access_token":"t"}`, err: "neither expires_on nor expires_in"},
		{name: "no token", body: `{"expires_in":3600}`, err: "no access_token"},
		{name: "not JSON", body: `<html>`, err: "malformed JSON"},
		{name: "refused", status: http.StatusForbidden, body: `{"error":"access_denied","error_description":"nope"}`, err: "HTTP 403 from GET http://obo.test/token: access_denied: nope"},
		{name: "refused with a token-looking body", status: http.StatusCreated, body: `{"access_token":"leak-me"}`, err: "HTTP 201 from GET http://obo.test/token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearIdentityEnv(t)
			t.Setenv(credential.EnvOBOEnabled, "TRUE")
			t.Setenv(credential.EnvOBOEndpoint, "http://obo.test/token")
			tr := transportFunc(func(req *http.Request) (*http.Response, error) {
				assert.Equal(t, "obo.test", req.URL.Host)
				assert.Equal(t, "https://vault.azure.net", req.URL.Query().Get("resource"))
				st := tc.status
				if st == 0 {
					st = http.StatusOK
				}
				return respond(req, st, tc.body), nil
			})
			cred, err := credential.New(&credential.Options{TokenCredentials: credential.NameOnBehalfOf, ClientOptions: policyOpts(tr)})
			require.NoError(t, err)
			tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{vaultScope}})
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				assert.NotContains(t, err.Error(), "leak-me")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "t", tok.Token)
			assert.Equal(t, exp, tok.ExpiresOn.Unix())
		})
	}
}

// TestServerless404: serverless compute has no system-assigned identity;
// its MSI endpoint answers 404, and the error says what to do.
func TestServerless404(t *testing.T) {
	clearIdentityEnv(t)
	msi := armfake.NewMSI(armfake.MSIOptions{Secret: "s", Status: http.StatusNotFound,
		ErrorBody: `{"error":"not_found","error_description":"No managed identity found"}`})
	defer msi.Close()
	t.Setenv(credential.EnvMSIEndpoint, msi.Endpoint())
	t.Setenv(credential.EnvMSISecret, "s")
	cred, err := credential.New(&credential.Options{ExcludeAzureCLI: true})
	require.NoError(t, err)
	_, err = cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{uniqueScope("serverless")}})
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, "1. ManagedIdentityCredential (Azure ML compute identity: MSI_ENDPOINT and MSI_SECRET are set, system-assigned identity): HTTP 404 from GET "+msi.Endpoint()+": not_found: No managed identity found")
	assert.Contains(t, msg, "MSI_ENDPOINT answered 404, as serverless compute does")
	assert.Contains(t, msg, "assign the workspace a user-assigned identity and set its client id in DEFAULT_IDENTITY_CLIENT_ID")
	assert.Contains(t, msg, "submit the job with `identity: type: user_identity`")
	assert.Equal(t, 1, msi.Total())
}

// TestComputeInstanceSSO: a compute instance with no identity; its
// endpoint answers with the signed-in user's token. The placeholder
// "clientid" is never reported as a client id.
func TestComputeInstanceSSO(t *testing.T) {
	clearIdentityEnv(t)
	msi := armfake.NewMSI(armfake.MSIOptions{Secret: "ci", Token: func(string) string { return "user-sso-token" }})
	defer msi.Close()
	t.Setenv(credential.EnvMSIEndpoint, msi.Endpoint())
	t.Setenv(credential.EnvMSISecret, "ci")
	t.Setenv(credential.EnvDefaultIdentityClientID, "clientid")
	cred, err := credential.New(&credential.Options{ExcludeAzureCLI: true})
	require.NoError(t, err)
	tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{uniqueScope("ci-sso")}})
	require.NoError(t, err)
	assert.Equal(t, "user-sso-token", tok.Token)
	d := credential.Describe(cred)
	assert.Equal(t, `ManagedIdentityCredential (Azure ML compute identity: MSI_ENDPOINT and MSI_SECRET are set, DEFAULT_IDENTITY_CLIENT_ID is the compute instance placeholder "clientid" (no identity assigned: the endpoint answers with the signed-in user's single sign-on token))`, d)
	assert.NotContains(t, d, "client id clientid")
}

// TestComputeInstanceTokenNotFound: the same compute instance with single
// sign-on off answers "Token not found".
func TestComputeInstanceTokenNotFound(t *testing.T) {
	clearIdentityEnv(t)
	msi := armfake.NewMSI(armfake.MSIOptions{Secret: "ci", Status: http.StatusBadRequest, ErrorBody: "Token not found"})
	defer msi.Close()
	t.Setenv(credential.EnvMSIEndpoint, msi.Endpoint())
	t.Setenv(credential.EnvMSISecret, "ci")
	t.Setenv(credential.EnvDefaultIdentityClientID, "clientid")
	fakeAz(t)
	cred, err := credential.New(nil)
	require.NoError(t, err)
	_, err = cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{uniqueScope("ci-nosso")}})
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, "HTTP 400 from GET "+msi.Endpoint()+": Token not found")
	assert.Contains(t, msg, `this compute instance has no managed identity (DEFAULT_IDENTITY_CLIENT_ID is the placeholder "clientid") and single sign-on is off`)
	assert.Contains(t, msg, "turn on single sign-on for the compute instance in Azure ML studio, or assign it a managed identity, or sign in with `az login`")
	assert.NotContains(t, msg, "client id clientid")
}

// TestTokenCredentialsSelects: AZURE_TOKEN_CREDENTIALS picks one member, or
// the dev or prod group; Options.TokenCredentials overrides it; a bad value
// fails New.
func TestTokenCredentialsSelects(t *testing.T) {
	for _, tc := range []struct{ env, opt, want, err string }{
		{env: "AzureCLICredential", want: "credential chain: AzureCLICredential"},
		{env: "azureclicredential", want: "credential chain: AzureCLICredential"},
		{env: "dev", want: "credential chain: AzureCLICredential"},
		{env: "prod", want: "credential chain: AzureMLOnBehalfOfCredential, ManagedIdentityCredential"},
		{env: "ManagedIdentityCredential", want: "credential chain: ManagedIdentityCredential"},
		{env: "AzureMLOnBehalfOfCredential", want: "credential chain: AzureMLOnBehalfOfCredential"},
		{env: "dev", opt: "ManagedIdentityCredential", want: "credential chain: ManagedIdentityCredential"},
		{env: "EnvironmentCredential", err: "nothing to authenticate with"},
		{env: "AzurePowerShellCredential", err: `credential: invalid AZURE_TOKEN_CREDENTIALS "AzurePowerShellCredential": want dev, prod or one of`},
		{env: "bogus", err: `invalid AZURE_TOKEN_CREDENTIALS "bogus"`},
	} {
		t.Run(tc.env+"/"+tc.opt, func(t *testing.T) {
			clearIdentityEnv(t)
			msi := armfake.NewMSI(armfake.MSIOptions{Secret: "s"})
			defer msi.Close()
			obo := armfake.NewOBO(0, "")
			defer obo.Close()
			t.Setenv(credential.EnvMSIEndpoint, msi.Endpoint())
			t.Setenv(credential.EnvMSISecret, "s")
			t.Setenv(credential.EnvOBOEnabled, "True")
			t.Setenv(credential.EnvOBOEndpoint, obo.Endpoint())
			t.Setenv(credential.EnvTokenCredentials, tc.env)
			cred, err := credential.New(&credential.Options{TokenCredentials: tc.opt})
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, credential.Describe(cred))
		})
	}

	// A single member selected answers alone: the MSI endpoint is the only
	// one asked, though OBO is enabled.
	clearIdentityEnv(t)
	msi := armfake.NewMSI(armfake.MSIOptions{Secret: "s"})
	defer msi.Close()
	obo := armfake.NewOBO(0, "")
	defer obo.Close()
	t.Setenv(credential.EnvMSIEndpoint, msi.Endpoint())
	t.Setenv(credential.EnvMSISecret, "s")
	t.Setenv(credential.EnvOBOEnabled, "True")
	t.Setenv(credential.EnvOBOEndpoint, obo.Endpoint())
	t.Setenv(credential.EnvTokenCredentials, "ManagedIdentityCredential")
	t.Setenv(credential.EnvDefaultIdentityClientID, fmt.Sprintf("sel-%d", time.Now().UnixNano()))
	cred, err := credential.New(nil)
	require.NoError(t, err)
	_, err = cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{vaultScope}})
	require.NoError(t, err)
	assert.Equal(t, 1, msi.Total())
	assert.Zero(t, obo.Total())
}

// TestExcludes: each Exclude option leaves its member out and says so.
func TestExcludes(t *testing.T) {
	clearIdentityEnv(t)
	t.Setenv(credential.EnvOBOEnabled, "True")
	t.Setenv(credential.EnvOBOEndpoint, "http://127.0.0.1:1/obo")
	t.Setenv(credential.EnvMSIEndpoint, "http://127.0.0.1:1/msi")
	t.Setenv(credential.EnvMSISecret, "s")
	cred, err := credential.New(&credential.Options{ExcludeOnBehalfOf: true})
	require.NoError(t, err)
	assert.Equal(t, "credential chain: ManagedIdentityCredential, AzureCLICredential", credential.Describe(cred))
	cred, err = credential.New(&credential.Options{ExcludeManagedIdentity: true, ExcludeAzureCLI: true})
	require.NoError(t, err)
	assert.Equal(t, "credential chain: AzureMLOnBehalfOfCredential", credential.Describe(cred))
	_, err = credential.New(&credential.Options{ExcludeOnBehalfOf: true, ExcludeManagedIdentity: true, ExcludeAzureCLI: true})
	require.ErrorContains(t, err, "user identity (left out by the program: ExcludeOnBehalfOf); managed identity (left out by the program: ExcludeManagedIdentity)")
}

type transportFunc func(*http.Request) (*http.Response, error)

func (f transportFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

// policyOpts is ClientOptions with tr as the Transport and no retries.
func policyOpts(tr policy.Transporter) policy.ClientOptions {
	return policy.ClientOptions{Transport: tr, Retry: policy.RetryOptions{MaxRetries: -1}}
}
