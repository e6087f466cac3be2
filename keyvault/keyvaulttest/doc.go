// Package keyvaulttest helps test code that uses Azure Key Vault secrets,
// with no Azure account and no network but loopback.
//
// It has two parts:
//
//   - RunConformance, one test suite that every keyvault.Store must pass, so
//     that fakes (memvault) and the real thing (azurevault) cannot drift apart.
//   - NewServer, an in-process HTTPS emulator of the Key Vault secrets REST API
//     that the real azsecrets client talks to unchanged. The `amlsecrets serve`
//     command runs the same emulator standalone.
//
// # The emulator
//
// The emulator itself lives in package kvemulator, which does not import
// testing, so programs (the `amlsecrets serve` command) can link it without
// test code. NewServer, ServerOptions and Server are its test-facing entry:
//
//	srv := keyvaulttest.NewServer(nil)
//	defer srv.Close()
//	client, err := azsecrets.NewClient(srv.VaultURL(), srv.Credential(),
//		&azsecrets.ClientOptions{ClientOptions: srv.ClientOptions()})
//
// See package kvemulator for the protocol it speaks, its faults and its limits.
//
// # Testing
//
// Create a server per test and close it with t.Cleanup(srv.Close); Close
// closes the client connections of ClientOptions too, so go.uber.org/goleak
// stays quiet. Inject ServerOptions.Now to move throttle windows and
// timestamps without sleeping. ServerOptions.StatePath persists the vault to a
// file, written atomically before each write is acknowledged.
//
// # Code that picks its vault from the environment
//
// Code under test that calls run.GetContext, workspace.FromConfig's
// DefaultKeyvault or azurevault.NewFromEnv finds its vault in
// AMLSECRETS_KEYVAULT_URL and AMLSECRETS_CA_FILE. srv.Setenv(t) sets both for
// the test (writing the CA file) and makes the server accept the token the
// library sends to a loopback vault; no ServerOptions are needed:
//
//	srv := keyvaulttest.NewServer(nil)
//	t.Cleanup(srv.Close)
//	srv.Setenv(t)
//	r, err := run.GetContext(ctx, nil) // offline run on srv
//
// # Faults and the cache
//
// A keyvault.Keyvault (and so a Run) caches what it reads and what it writes:
// after SetSecrets, GetSecret of the same name is answered from the cache,
// without a request, so a FailNext injected in between is never hit and a
// retry test silently tests nothing. Keep the cache out of a fault test:
// build the Keyvault with keyvault.Options{Cache:
// &keyvault.CacheOptions{Disabled: true}} (for run.GetContext, pass it as
// run.Options.KeyvaultOptions), or call kv.Invalidate(names...) before
// injecting the fault. Check Stats().Faults to see that the fault was hit.
package keyvaulttest
