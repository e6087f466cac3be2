package run

import (
	"errors"
	"strings"

	"github.com/go-azureml/secrets/keyvault"
)

// vaultAdvice says how to give an offline run a vault.
const vaultAdvice = "set " + EnvKeyvaultURL + " ('amlsecrets serve' prints it, for a local emulator), " +
	"or put the workspace's config.json (download it from the workspace's page in Azure ML studio) in this folder or a parent"

// noVaultError is a not-found error of an offline run's local source with,
// once, why the run has no vault.
type noVaultError struct {
	err error
	why string // bullets
}

func (e *noVaultError) Error() string {
	return e.err.Error() + "\nthe run is offline and has no vault:\n" + e.why + "\nto use one, " + vaultAdvice
}

func (e *noVaultError) Unwrap() error { return e.err }

// explain adds, once, why there is no vault to a not-found error of the
// local source.
func (r *Run) explain(err error) error {
	if err == nil || r.local == nil || !errors.Is(err, keyvault.ErrNotFound) {
		return err
	}
	return &noVaultError{err: err, why: r.why}
}

// bullets formats a list one item a line, indented.
func bullets(items []string) string {
	return "  " + strings.Join(items, "\n  ")
}
