// Package run is azureml-core's Run for Go training jobs: GetContext, then
// GetSecret, GetSecrets and SetSecrets on the workspace's default Key Vault,
// plus ResolveEnv for the ${{keyvault:...}} and ${{azureml://connections/...}}
// references that Azure ML online endpoints resolve.
//
//	r, err := run.GetContext(ctx, nil)
//	if err != nil { ... }
//	log.Print(r) // where the secrets come from; never a value
//	pw, err := r.GetSecret(ctx, "db-password")
//
// The same code runs in a submitted job and on a laptop.
//
// # Where secrets come from
//
// In a submitted job (AZUREML_RUN_ID set), the workspace comes from the
// AZUREML_ARM_* variables, the credential from credential.New (the compute's
// managed identity) and the vault is the workspace's default one, found with
// one ARM request.
//
// Offline (AZUREML_RUN_ID unset), GetContext takes the first of:
//
//  1. an explicit vault: AMLSECRETS_KEYVAULT_URL (`amlsecrets serve` prints
//     one, with AMLSECRETS_CA_FILE, for a local emulator);
//  2. a workspace config file found by workspace.FromConfig from
//     Options.ConfigPath (.azureml/config.json, ...), with the developer's
//     credential (Azure CLI login, service principal, ...);
//  3. a local read-only source: for a secret name such as db-password, the
//     environment variable db-password, then DB_PASSWORD
//     (keyvault.EnvFromName), then the same two keys in the .env file named
//     by Options.DotEnvFile, if any. An empty variable counts as unset.
//
// String and Source tell which one was picked. With Options.RequireVault,
// step 3 is an error instead. A config file that exists but is malformed, or
// a vault that cannot be reached, is an error, never a silent fall back. A
// run whose local source holds none of the names asked for is the "offline
// with nothing" case: GetContext succeeds (a job may need no secret), and
// each GetSecret fails with an error that lists every place it looked in and
// why there was no vault.
//
// # Environment
//
//	AZUREML_RUN_ID              a submitted job's run id (EnvRunID)
//	AZUREML_ARM_PROJECT_NAME    its experiment (EnvExperiment)
//	AZUREML_ARM_SUBSCRIPTION    the workspace's subscription (EnvSubscription)
//	AZUREML_ARM_RESOURCEGROUP   the workspace's resource group (EnvResourceGroup)
//	AZUREML_ARM_WORKSPACE_NAME  the workspace's name (EnvWorkspaceName)
//	AMLSECRETS_KEYVAULT_URL     a vault to use instead of the default one (EnvKeyvaultURL)
//	AMLSECRETS_CA_FILE          a PEM CA trusted for a loopback vault (EnvCAFile)
//
// plus the variables of package credential (MSI_ENDPOINT, MSI_SECRET,
// DEFAULT_IDENTITY_CLIENT_ID, AZURE_*) and, offline with no vault, the
// variables named after the secrets. Options.Getenv (nil = os.Getenv) and
// Options.Environ (nil = os.Environ) read them.
//
// # Secret references
//
// Run.ResolveEnv and ResolveEnv replace every environment value that is a
// reference with its value (see ResolveEnv for the forms). References to
// another vault than the run's use the run's credential; connection
// references use the workspace's connections (ARM listsecrets). Each
// distinct reference is fetched once.
//
// Render and RenderTemplate do the same for a text in which references may
// appear anywhere (a .netrc, a kaggle.json), plus the short form
// ${{keyvault:NAME[/VERSION]}} for the run's own vault; their errors are
// *RenderErrors naming the line. ParseTemplate checks a template without
// fetching anything.
//
// # Secrets that change
//
// Watch yields a secret at once and on every change (keyvault's Watch over
// the run's vault; offline with no vault it yields once). WatchEnv and
// WatchTemplate keep an environment or a template resolved: they yield
// again when a value behind a reference changes, and yield (without
// stopping) the errors of failed polls. `amlsecrets exec --watch` and
// `amlsecrets inject --watch` are built on them.
//
// # Errors
//
// GetSecret and GetSecrets return keyvault's errors: a missing secret wraps
// keyvault.ErrNotFound (GetSecrets returns a *keyvault.BatchError naming
// each missing name), a refusal keyvault.ErrPermission, and so on. Offline
// with no vault, the not-found error lists the variables and the .env file
// looked in and why no vault was used. SetSecrets on the local source
// returns an error wrapping ErrReadOnly and errors.ErrUnsupported that says
// how to point the run at a vault. GetContext with RequireVault and no vault
// wraps ErrNoVault and lists what it tried. ResolveEnv joins one
// *ResolveError per failed variable, naming the variable, never the value: a
// malformed reference wraps secretref's ErrMalformed (nothing is fetched
// then), a missing secret, connection or key wraps keyvault.ErrNotFound, a
// connection reference with no workspace ErrNoWorkspace. No error, String or
// log of this package holds a secret value.
//
// # Testing
//
// New(kv, opts) gives a Run over any Keyvault: keyvault.New(memvault.New(),
// nil) for unit tests, or an azurevault Store over keyvaulttest.NewServer for
// the real protocol on loopback. Options.Getenv and Options.Environ replace
// the process environment, Options.OpenVault and Options.Connections the
// vaults and connections references reach, and Options.ClientOptions route
// ARM and vault requests to loopback fakes.
package run
