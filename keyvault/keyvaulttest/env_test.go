package keyvaulttest_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/azurevault"
	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
	"github.com/go-azureml/secrets/run"
)

// TestSetenv: with NewServer(nil) (no AcceptAnyToken, no CA file written by
// hand), code that picks its vault from the environment reaches the server;
// the environment is restored when the test ends.
func TestSetenv(t *testing.T) {
	before, had := os.LookupEnv(azurevault.EnvKeyvaultURL)
	t.Run("inside", func(t *testing.T) {
		srv := keyvaulttest.NewServer(nil)
		t.Cleanup(srv.Close)
		srv.Setenv(t)
		assert.Equal(t, srv.ListenURL(), os.Getenv(azurevault.EnvKeyvaultURL))
		pem, err := os.ReadFile(os.Getenv(azurevault.EnvCAFile))
		require.NoError(t, err)
		assert.Equal(t, srv.CACertPEM(), pem)

		ctx := context.Background()
		store, err := azurevault.NewFromEnv(nil, nil)
		require.NoError(t, err)
		kv := keyvault.New(store, nil)
		_, err = kv.SetSecret(ctx, "db-password", "s3cret", nil)
		require.NoError(t, err, "the library's local token is accepted")

		r, err := run.GetContext(ctx, &run.Options{ConfigPath: t.TempDir()})
		require.NoError(t, err)
		assert.Equal(t, run.SourceVaultURL, r.Source())
		v, err := r.GetSecret(ctx, "db-password")
		require.NoError(t, err)
		assert.Equal(t, "s3cret", v)

		// The cache answers a read of what the Keyvault wrote: a fault
		// test invalidates (or turns the cache off) first.
		srv.FailNext(1, 404)
		v, err = kv.GetSecret(ctx, "db-password")
		require.NoError(t, err)
		assert.Equal(t, "s3cret", v, "from the cache: the fault was not hit")
		assert.Zero(t, srv.Stats().Faults)
		kv.Invalidate("db-password")
		_, err = kv.GetSecret(ctx, "db-password")
		require.ErrorIs(t, err, keyvault.ErrNotFound, "after Invalidate the fault is hit")
		assert.Equal(t, 1, srv.Stats().Faults)
	})
	after, hasAfter := os.LookupEnv(azurevault.EnvKeyvaultURL)
	assert.Equal(t, had, hasAfter)
	assert.Equal(t, before, after)
}
