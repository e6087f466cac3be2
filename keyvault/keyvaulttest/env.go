package keyvaulttest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/go-azureml/secrets/keyvault/azurevault"
)

// Setenv points the process environment at the server for the rest of the
// test, as loading the two lines `amlsecrets serve` prints does: it writes
// the server's CA certificate to a file in t.TempDir(), sets
// AMLSECRETS_KEYVAULT_URL to ListenURL and AMLSECRETS_CA_FILE to that file
// with t.Setenv (restored when the test ends; so the test and its parents
// must not be parallel), and makes the server accept the token this module
// sends to a loopback vault (azurevault.LocalCredential). Code under test
// that picks its vault from the environment (run.GetContext,
// workspace.Workspace.DefaultKeyvault, azurevault.NewFromEnv, the
// amlsecrets CLI) then uses this server, with no ServerOptions needed.
//
// Code that caches (a keyvault.Keyvault, and so a Run) answers reads of what
// it has just written from its cache, without a request: see the package
// doc's "Faults and the cache" for keeping the cache out of a fault test.
func (s *Server) Setenv(t testing.TB) {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "amlsecrets-ca.pem")
	if err := os.WriteFile(ca, s.CACertPEM(), 0o600); err != nil {
		t.Fatalf("keyvaulttest: Setenv: write the CA file: %v", err)
	}
	tok, err := azurevault.LocalCredential().GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{ChallengeResource + "/.default"}})
	if err != nil {
		t.Fatalf("keyvaulttest: Setenv: %v", err)
	}
	s.AcceptToken(tok.Token)
	t.Setenv(azurevault.EnvKeyvaultURL, s.ListenURL())
	t.Setenv(azurevault.EnvCAFile, ca)
}
