// Package fakevault is a small piece of "user code" that needs secrets, and
// its unit tests show two ways to test such code without Azure: an
// in-memory vault (memvault) and the Key Vault emulator
// (keyvaulttest.NewServer) that the real Azure SDK talks to.
//
// The code depends on a one-method interface, SecretGetter, that both
// *run.Run and *keyvault.Keyvault satisfy, so production passes the run and
// tests pass whatever fake they like.
package fakevault

import (
	"context"
	"fmt"
	"net/url"
)

// SecretGetter is what the code needs: *run.Run and *keyvault.Keyvault
// have this method.
type SecretGetter interface {
	GetSecrets(ctx context.Context, names []string) (map[string]string, error)
}

// Secret names the code reads.
const (
	SecretUser     = "db-user"
	SecretPassword = "db-password"
)

// DSN returns a PostgreSQL connection URL for host and database, with the
// user and password read from the vault. Its error never contains the
// password: it wraps the vault's error, which names the missing secrets.
func DSN(ctx context.Context, secrets SecretGetter, host, database string) (string, error) {
	got, err := secrets.GetSecrets(ctx, []string{SecretUser, SecretPassword})
	if err != nil {
		return "", fmt.Errorf("database credentials: %w", err)
	}
	u := url.URL{
		Scheme: "postgres",
		User:   url.UserPassword(got[SecretUser], got[SecretPassword]),
		Host:   host,
		Path:   "/" + database,
	}
	return u.String(), nil
}
