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
//  2. The user's identity, when AZUREML_OBO_ENABLED is "True" (a job
//     submitted with `identity: type: user_identity`): GET
//     $OBO_ENDPOINT?resource=R, a managed-identity style answer
//     (azure-ai-ml's AzureMLOnBehalfOfCredential; azidentity has none).
//  3. Managed identity, when MSI_ENDPOINT and MSI_SECRET are set (Azure ML
//     compute: GET $MSI_ENDPOINT?api-version=2017-09-01 with a "secret"
//     header). The user-assigned identity's client id comes from
//     Options.ClientID, else DEFAULT_IDENTITY_CLIENT_ID; none means the
//     system-assigned identity. On a compute instance with no identity,
//     DEFAULT_IDENTITY_CLIENT_ID is the placeholder "clientid" and the
//     endpoint answers with the signed-in user's single sign-on token. Also
//     when IDENTITY_ENDPOINT and IDENTITY_HEADER are set (App Service style
//     hosts), which take priority.
//  4. A service principal from the environment (azidentity's
//     EnvironmentCredential), when AZURE_TENANT_ID and AZURE_CLIENT_ID are set
//     with AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or
//     AZURE_USERNAME.
//  5. Workload identity, when AZURE_FEDERATED_TOKEN_FILE is set.
//  6. Managed identity at IMDS (169.254.169.254), when no endpoint variable
//     of step 3 is set: an Azure VM or the Data Science VM. When another
//     member is in the chain, IMDS is first probed with a one-second
//     timeout (Options.IMDSProbeTimeout), as DefaultAzureCredential does;
//     a probe without an answer is remembered, so a laptop pays it once.
//     The probe and the token requests go through
//     Options.ClientOptions.Transport.
//  7. The Azure CLI (az account get-access-token).
//
// AZURE_TOKEN_CREDENTIALS (or Options.TokenCredentials) narrows the chain
// as azidentity v1.15 defines it: "dev" keeps the Azure CLI, "prod" keeps
// steps 2 to 6, and a member's name (ManagedIdentityCredential,
// EnvironmentCredential, WorkloadIdentityCredential, AzureCLICredential, or
// this package's AzureMLOnBehalfOfCredential; without case) keeps that one.
// Options.Exclude... leave members out.
//
// Unlike azidentity's ChainedTokenCredential, a member that fails hard does
// not end the search: on a compute instance MSI_ENDPOINT is set even when its
// identity is missing or has no rights, and the developer's `az login` must
// still get its turn. When every member fails, one *Error lists each member
// tried, why it was tried and why it failed, the members that were not
// configured, and what to do (serverless compute's 404, a compute instance
// without identity or single sign-on, ...).
//
// The returned credential caches tokens per scope set (and tenant) until
// five minutes before they expire, and concurrent GetToken calls for the
// same scopes share one request: one token request per scope per process,
// whatever the number of secrets or clients.
//
// # Environment
//
// The variables that decide which members are tried, read from the process
// environment (there is no Getenv option: the azidentity members read the
// process environment themselves, and a value New saw but they did not
// would send a request somewhere else):
//
//	AZUREML_OBO_ENABLED, OBO_ENDPOINT   user identity of a job (EnvOBOEnabled, EnvOBOEndpoint)
//	MSI_ENDPOINT, MSI_SECRET       Azure ML compute managed identity (EnvMSIEndpoint, EnvMSISecret)
//	DEFAULT_IDENTITY_CLIENT_ID     its user-assigned client id (EnvDefaultIdentityClientID)
//	IDENTITY_ENDPOINT, IDENTITY_HEADER  App Service style managed identity (EnvIdentityEndpoint, EnvIdentityHeader)
//	AZURE_TENANT_ID, AZURE_CLIENT_ID    service principal / workload identity (EnvTenantID, EnvClientID)
//	AZURE_CLIENT_SECRET            service principal secret (EnvClientSecret)
//	AZURE_CLIENT_CERTIFICATE_PATH  service principal certificate (EnvClientCertificatePath)
//	AZURE_USERNAME                 user name/password flow (EnvUsername)
//	AZURE_FEDERATED_TOKEN_FILE     workload identity token file (EnvFederatedTokenFile)
//	AZURE_TOKEN_CREDENTIALS        dev, prod or one member's name (EnvTokenCredentials)
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
// each test its own client id or scope (MSAL keeps a process-wide token
// cache keyed by identity and resource). To test IMDS, answer
// 169.254.169.254 in process through Options.ClientOptions.Transport; never
// let a test send a packet there. A test that must not reach IMDS at all
// sets Options.ExcludeIMDS or AZURE_TOKEN_CREDENTIALS.
package credential
