package credential_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/go-azureml/secrets/credential"
	"github.com/go-azureml/secrets/internal/armfake"
)

const vaultScope = "https://vault.azure.net/.default"

// counting is a fake credential that counts calls and can fail.
type counting struct {
	calls atomic.Int64
	delay time.Duration
	fail  atomic.Bool
	exp   time.Duration
}

func (c *counting) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	n := c.calls.Add(1)
	if c.delay > 0 {
		select {
		case <-time.After(c.delay):
		case <-ctx.Done():
			return azcore.AccessToken{}, ctx.Err()
		}
	}
	if c.fail.Load() {
		return azcore.AccessToken{}, errors.New("fake failure")
	}
	exp := c.exp
	if exp == 0 {
		exp = time.Hour
	}
	return azcore.AccessToken{Token: fmt.Sprintf("tok-%s-%d", strings.Join(o.Scopes, ","), n), ExpiresOn: time.Now().Add(exp)}, nil
}

// clearIdentityEnv unsets every variable that could add a member.
func clearIdentityEnv(t *testing.T) {
	for _, k := range []string{credential.EnvMSIEndpoint, credential.EnvMSISecret, credential.EnvDefaultIdentityClientID,
		credential.EnvIdentityEndpoint, credential.EnvIdentityHeader, credential.EnvTenantID, credential.EnvClientID,
		credential.EnvClientSecret, credential.EnvClientCertificatePath, credential.EnvUsername, credential.EnvFederatedTokenFile,
		"IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", credential.EnvTokenCredentials,
		credential.EnvOBOEnabled, credential.EnvOBOEndpoint} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

func TestCacheSharesOneRequestPerScope(t *testing.T) {
	defer goleak.VerifyNone(t)
	fake := &counting{delay: 20 * time.Millisecond}
	cred, err := credential.New(&credential.Options{Credential: fake})
	require.NoError(t, err)

	var wg sync.WaitGroup
	tokens := make([]string, 50)
	for i := range tokens {
		wg.Go(func() {
			tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{vaultScope}})
			assert.NoError(t, err)
			tokens[i] = tok.Token
		})
	}
	wg.Wait()
	assert.EqualValues(t, 1, fake.calls.Load(), "50 concurrent callers share one request")
	for _, tok := range tokens {
		assert.Equal(t, tokens[0], tok)
	}
	// Cached afterwards.
	_, err = cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{vaultScope}})
	require.NoError(t, err)
	assert.EqualValues(t, 1, fake.calls.Load())
	// Another scope is another request.
	_, err = cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	require.NoError(t, err)
	assert.EqualValues(t, 2, fake.calls.Load())
	// Claims bypass the cache.
	_, err = cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{vaultScope}, Claims: "x"})
	require.NoError(t, err)
	assert.EqualValues(t, 3, fake.calls.Load())
}

func TestCacheRefreshesNearExpiryAndNeverCachesErrors(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	fake := &counting{exp: time.Hour}
	cred, err := credential.New(&credential.Options{Credential: fake, Now: clock})
	require.NoError(t, err)
	opts := policy.TokenRequestOptions{Scopes: []string{vaultScope}}

	fake.fail.Store(true)
	_, err = cred.GetToken(t.Context(), opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "explicit credential")
	fake.fail.Store(false)
	_, err = cred.GetToken(t.Context(), opts)
	require.NoError(t, err, "a failure is not cached")
	assert.EqualValues(t, 2, fake.calls.Load())

	mu.Lock()
	now = now.Add(50 * time.Minute) // 10 minutes left: still fresh
	mu.Unlock()
	_, err = cred.GetToken(t.Context(), opts)
	require.NoError(t, err)
	assert.EqualValues(t, 2, fake.calls.Load())

	mu.Lock()
	now = now.Add(6 * time.Minute) // 4 minutes left: inside RefreshMargin
	mu.Unlock()
	_, err = cred.GetToken(t.Context(), opts)
	require.NoError(t, err)
	assert.EqualValues(t, 3, fake.calls.Load())
}

func TestCacheWaiterHonoursItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &counting{delay: 200 * time.Millisecond}
		cred, err := credential.New(&credential.Options{Credential: fake})
		require.NoError(t, err)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{vaultScope}})
		}()
		synctest.Wait() // the first caller's fetch is under way
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{vaultScope}})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 10*time.Millisecond, time.Since(start), "the waiter returns at its own deadline, not the fetch's")
		<-done
	})
}

func TestStaticNeverPrintsItsToken(t *testing.T) {
	cred := credential.Static("s3cr3t-token", time.Time{})
	tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{vaultScope}})
	require.NoError(t, err)
	assert.Equal(t, "s3cr3t-token", tok.Token)
	assert.True(t, tok.ExpiresOn.After(time.Now()))
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		assert.NotContains(t, fmt.Sprintf(f, cred), "s3cr3t", f)
	}
	assert.Equal(t, "static credential", credential.Describe(cred))
}

// TestManagedIdentityEndToEnd runs azidentity's ManagedIdentityCredential
// against a fake Azure ML MSI endpoint and counts one request per scope.
func TestManagedIdentityEndToEnd(t *testing.T) {
	clearIdentityEnv(t)
	msi := armfake.NewMSI(armfake.MSIOptions{Secret: "msi-secret"})
	defer msi.Close()
	t.Setenv(credential.EnvMSIEndpoint, msi.Endpoint())
	t.Setenv(credential.EnvMSISecret, "msi-secret")
	clientID := fmt.Sprintf("client-%d", time.Now().UnixNano()) // MSAL caches per identity, process-wide
	t.Setenv(credential.EnvDefaultIdentityClientID, clientID)

	cred, err := credential.New(&credential.Options{ExcludeAzureCLI: true})
	require.NoError(t, err)
	assert.Equal(t, "credential chain: ManagedIdentityCredential", credential.Describe(cred))
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{vaultScope}})
			assert.NoError(t, err)
			assert.Equal(t, "msi-token-for-https://vault.azure.net", tok.Token)
		})
	}
	wg.Wait()
	assert.Equal(t, 1, msi.Requests("https://vault.azure.net"))
	assert.Equal(t, []string{clientID}, msi.ClientIDs())
	assert.Equal(t, "ManagedIdentityCredential (Azure ML compute identity: MSI_ENDPOINT and MSI_SECRET are set, client id "+clientID+" from DEFAULT_IDENTITY_CLIENT_ID)", credential.Describe(cred))

	// Options.ClientID wins over DEFAULT_IDENTITY_CLIENT_ID.
	other := clientID + "-explicit"
	cred2, err := credential.New(&credential.Options{ClientID: other, ExcludeAzureCLI: true})
	require.NoError(t, err)
	_, err = cred2.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{vaultScope}})
	require.NoError(t, err)
	assert.Equal(t, []string{clientID, other}, msi.ClientIDs())
}

// fakeAz puts an `az` on PATH that fails as a signed-out Azure CLI does.
func fakeAz(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\necho \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "az"), []byte(script), 0o755))
	t.Setenv("PATH", dir)
}

// TestAllFailedComputeInstanceTrap: MSI_ENDPOINT is set but its identity
// gets no token, and the CLI is signed out. The one error lists both, why
// each was tried, and what was not configured.
func TestAllFailedComputeInstanceTrap(t *testing.T) {
	clearIdentityEnv(t)
	msi := armfake.NewMSI(armfake.MSIOptions{
		Secret:    "msi-secret",
		Status:    http.StatusBadRequest,
		ErrorBody: `{"error":"invalid_request","error_description":"Identity not found"}`,
	})
	defer msi.Close()
	t.Setenv(credential.EnvMSIEndpoint, msi.Endpoint())
	t.Setenv(credential.EnvMSISecret, "msi-secret")
	clientID := fmt.Sprintf("trap-%d", time.Now().UnixNano())
	fakeAz(t)

	cred, err := credential.New(&credential.Options{ClientID: clientID})
	require.NoError(t, err)
	_, err = cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{vaultScope}})
	require.Error(t, err)
	want := "credential: no credential could get a token for https://vault.azure.net/.default; tried, in order:\n" +
		"\t1. ManagedIdentityCredential (Azure ML compute identity: MSI_ENDPOINT and MSI_SECRET are set, client id " + clientID + " from the program's options): " +
		"HTTP 400 from GET " + msi.Endpoint() + ": invalid_request: Identity not found\n" +
		"\t2. AzureCLICredential (developer sign-in: az account get-access-token): ERROR: Please run 'az login' to setup account.\n" +
		"not configured: user identity (AZUREML_OBO_ENABLED unset); service principal (AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH unset); workload identity (AZURE_FEDERATED_TOKEN_FILE unset)\n" +
		"MSI_ENDPOINT is set, as on every Azure ML compute instance and cluster, but its managed identity got no token: " +
		"assign the compute an identity with access, or sign in with `az login`, or pass an explicit credential"
	assert.Equal(t, want, err.Error())

	var ce *credential.Error
	require.ErrorAs(t, err, &ce)
	require.Len(t, ce.Attempts, 2)
	var af *azidentity.AuthenticationFailedError
	assert.ErrorAs(t, err, &af, "each member's azidentity error stays reachable")
	assert.NotContains(t, err.Error(), "msi-secret")
}

func TestAllFailedNothingConfigured(t *testing.T) {
	clearIdentityEnv(t)
	_, err := credential.New(&credential.Options{ExcludeAzureCLI: true, ExcludeIMDS: true})
	require.EqualError(t, err, "credential: nothing to authenticate with: user identity (AZUREML_OBO_ENABLED unset); "+
		"service principal (AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH unset); "+
		"workload identity (AZURE_FEDERATED_TOKEN_FILE unset); IMDS managed identity (left out by the program: ExcludeIMDS); Azure CLI (left out by the program: ExcludeAzureCLI); "+
		"sign in with `az login`, or set a service principal (AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET)")
}

// TestGetenvIsGone: Options has no Getenv, because the azidentity members
// read the process environment themselves; one that New honoured and they
// did not would send a fake endpoint's request to IMDS.
func TestGetenvIsGone(t *testing.T) {
	_, ok := reflect.TypeFor[credential.Options]().FieldByName("Getenv")
	assert.False(t, ok)
}

func TestMemberSelectionFromEnvironment(t *testing.T) {
	clearIdentityEnv(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("jwt"), 0o600))
	t.Setenv(credential.EnvTenantID, "00000000-0000-0000-0000-000000000001")
	t.Setenv(credential.EnvClientID, "11111111-1111-1111-1111-111111111111")
	t.Setenv(credential.EnvFederatedTokenFile, tokenFile)
	cred, err := credential.New(&credential.Options{ExcludeIMDS: true})
	require.NoError(t, err)
	assert.Equal(t, "credential chain: WorkloadIdentityCredential, AzureCLICredential", credential.Describe(cred))
}
