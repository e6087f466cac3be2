// Package keyvault is the portable secrets API of amlsecrets: Go's version of
// azureml-core's Keyvault class (set_secret(s), get_secret(s), list_secrets,
// delete_secret(s)) over any vault that implements the small Store
// interface.
//
// A Keyvault is built over a Store: keyvault/azurevault for Azure Key Vault,
// keyvault/memvault for tests, or your own. workspace.DefaultKeyvault and
// run.GetContext build one for you.
//
//	kv := keyvault.New(memvault.New(), nil)
//	_, err := kv.SetSecret(ctx, "db-password", value, nil)
//	values, err := kv.GetSecrets(ctx, []string{"db-user", "db-password"})
//
// The Keyvault does the shared work once for every store: it checks names
// (ValidateName) and value sizes before any request, fetches and sets
// batches concurrently with a bound (Options.Concurrency), classifies and
// wraps errors, and never prints a value. Stores stay simple; optional
// abilities (versions, properties, recover, purge) are extra interfaces found
// by type assertion, as io/fs does.
//
// # Values
//
// Secret.Value is a Value: fmt (every verb), encoding/json, text marshalling
// and log/slog show [REDACTED]. Value.Reveal is the one explicit way to read
// the plaintext. GetSecret and GetSecrets return plain strings, as
// azureml-core does: do not print them.
//
// # Names
//
// Key Vault names are 1-127 characters of 0-9, a-z, A-Z and '-', and
// case-insensitive. A name with '_' (common in code ported from azureml) is
// refused before any request with a suggestion of the '-' spelling;
// NameFromEnv and EnvFromName map between secret names and environment
// variable names.
//
// # Errors
//
// Errors wrap the sentinels ErrNotFound, ErrInvalidName, ErrInvalidValue,
// ErrPermission, ErrDisabled, ErrThrottled, ErrConflict and ErrUnavailable;
// match them with errors.Is. Errors from Azure keep the *azcore.ResponseError
// reachable with errors.As. Context errors come back unchanged. Messages are
// short and name the secret, never its value:
//
//	get secret db-password: not found (404 SecretNotFound)
//
// Batch calls return a *BatchError naming each failed name and why; what
// succeeded stays done. GetSecrets returns every value it found together
// with that error, and a missing name is never reported as "".
//
// # Testing
//
// Use memvault for unit tests and keyvaulttest.NewServer for tests through
// the real Azure SDK against an in-process Key Vault emulator. A Store of
// your own can be checked with keyvaulttest.RunConformance, the suite
// memvault and azurevault both pass.
package keyvault
