// Package credential picks the azcore.TokenCredential that fits where the
// code runs: an Azure ML job or compute instance (its managed identity), a CI
// pipeline (a service principal or workload identity from the environment)
// or a developer's machine (the Azure CLI sign-in). Every token flow is
// azidentity's; this package only chooses, orders, explains and caches.
//
// New tries its members in this order and keeps the first that returns a
// token:
//
//  1. Options.Credential, when set: used alone.
//  2. Managed identity, when MSI_ENDPOINT and MSI_SECRET are set (Azure ML
//     compute: the request is GET $MSI_ENDPOINT?api-version=2017-09-01 with a
//     "secret" header). The user-assigned identity's client id comes from
//     Options.ClientID, else DEFAULT_IDENTITY_CLIENT_ID; none means the
//     system-assigned identity. Also when IDENTITY_ENDPOINT and
//     IDENTITY_HEADER are set (App Service style hosts).
//  3. A service principal from the environment (azidentity's
//     EnvironmentCredential), when AZURE_TENANT_ID and AZURE_CLIENT_ID are set
//     with AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or
//     AZURE_USERNAME.
//  4. Workload identity, when AZURE_FEDERATED_TOKEN_FILE is set.
//  5. The Azure CLI (az account get-access-token), unless
//     Options.ExcludeAzureCLI.
//
// Unlike azidentity's ChainedTokenCredential, a member that fails hard does
// not end the search: on a compute instance MSI_ENDPOINT is set even when its
// identity is missing or has no rights, and the developer's `az login` must
// still get its turn. When every member fails, one *Error lists each member
// tried, why it was tried and why it failed, and the members that were not
// configured.
//
// The returned credential caches tokens per scope set (and tenant) until
// five minutes before they expire, and concurrent GetToken calls for the
// same scopes share one request: one token request per scope per process,
// whatever the number of secrets or clients.
//
// # Environment
//
// The variables that decide which members are tried:
//
//	MSI_ENDPOINT, MSI_SECRET       Azure ML compute managed identity (EnvMSIEndpoint, EnvMSISecret)
//	DEFAULT_IDENTITY_CLIENT_ID     its user-assigned client id (EnvDefaultIdentityClientID)
//	IDENTITY_ENDPOINT, IDENTITY_HEADER  App Service style managed identity (EnvIdentityEndpoint, EnvIdentityHeader)
//	AZURE_TENANT_ID, AZURE_CLIENT_ID    service principal / workload identity (EnvTenantID, EnvClientID)
//	AZURE_CLIENT_SECRET            service principal secret (EnvClientSecret)
//	AZURE_CLIENT_CERTIFICATE_PATH  service principal certificate (EnvClientCertificatePath)
//	AZURE_USERNAME                 user name/password flow (EnvUsername)
//	AZURE_FEDERATED_TOKEN_FILE     workload identity token file (EnvFederatedTokenFile)
//
// Options.Getenv (nil = os.Getenv) is what this package reads to decide; the
// azidentity members themselves read the process environment for their own
// values (MSI_SECRET, AZURE_CLIENT_SECRET, ...), so an injected Getenv should
// agree with it. Tests set both with t.Setenv.
//
// # Errors
//
// GetToken returns an *Error when every member failed; errors.As reaches it
// and each member's azidentity error (Error.Attempts). No message ever holds a
// token, a secret or a response body beyond the identity endpoint's error
// code and description.
//
// # Testing
//
// Static returns a fixed credential for tests. To test the managed identity
// path end to end, serve the Azure ML MSI protocol from an
// httptest.Server, set MSI_ENDPOINT and MSI_SECRET with t.Setenv and give
// each test its own client id (MSAL keeps a process-wide token cache keyed by
// identity and resource).
package credential
