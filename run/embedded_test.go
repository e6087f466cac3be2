package run_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/internal/secretref"
	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/memvault"
	"github.com/go-azureml/secrets/run"
)

// TestResolveEnvEmbeddedReference: a reference that is only part of a value
// is reported (naming the variable), never passed through unresolved; a
// reference holding an unexpanded ${VAR} says the shell did not expand it.
func TestResolveEnvEmbeddedReference(t *testing.T) {
	kv := keyvault.New(memvault.New(), nil)
	require.NoError(t, kv.SetSecrets(context.Background(), map[string]string{"db-password": "pw-never-shown"}))
	r := run.New(kv, &run.Options{Getenv: env{}.get})
	const ref = "${{keyvault:https://myvault.vault.azure.net/secrets/db-password}}"

	for _, tt := range []struct {
		name, value, msg string
		is               error
	}{
		{"text before", "pw=" + ref, "resolve DSN: malformed secret reference: a reference must be the whole value", secretref.ErrEmbedded},
		{"text after", ref + "@db/app", "resolve DSN: malformed secret reference: a reference must be the whole value", secretref.ErrEmbedded},
		{"unexpanded", "${{keyvault:${AMLSECRETS_KEYVAULT_URL}secrets/db-password}}",
			"resolve DSN: malformed secret reference: it holds ${AMLSECRETS_KEYVAULT_URL}, which the shell did not expand", secretref.ErrMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := r.ResolveEnv(context.Background(), []string{"A=1", "DSN=" + tt.value})
			require.ErrorIs(t, err, tt.is)
			assert.Nil(t, out)
			assert.Contains(t, err.Error(), tt.msg)
			assert.NotContains(t, err.Error(), "pw-never-shown")
		})
	}
	t.Run("package-level ResolveEnv sees it too", func(t *testing.T) {
		_, err := run.ResolveEnv(context.Background(), []string{"DSN=pw=" + ref}, &run.ResolveOptions{Run: r})
		require.ErrorIs(t, err, secretref.ErrEmbedded)
	})
}
