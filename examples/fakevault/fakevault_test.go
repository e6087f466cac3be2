package fakevault_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/go-azureml/secrets/examples/fakevault"
	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/azurevault"
	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
	"github.com/go-azureml/secrets/keyvault/memvault"
	"github.com/go-azureml/secrets/run"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDSNWithMemvault: the fastest fake, an in-memory vault.
func TestDSNWithMemvault(t *testing.T) {
	ctx := context.Background()
	kv := keyvault.New(memvault.New(), nil)
	require.NoError(t, kv.SetSecrets(ctx, map[string]string{"db-user": "trainer", "db-password": "p@ss word"}))

	dsn, err := fakevault.DSN(ctx, kv, "db.internal:5432", "features")
	require.NoError(t, err)
	assert.Equal(t, "postgres://trainer:p%40ss%20word@db.internal:5432/features", dsn)
}

// TestDSNWithEmulator: the real Azure SDK over HTTPS to the Key Vault
// emulator, through a Run as a training job has one.
func TestDSNWithEmulator(t *testing.T) {
	srv := keyvaulttest.NewServer(nil)
	t.Cleanup(srv.Close)
	store, err := azurevault.New(srv.VaultURL(), srv.Credential(), &azurevault.Options{ClientOptions: srv.ClientOptions()})
	require.NoError(t, err)
	r := run.New(keyvault.New(store, nil), nil)
	ctx := context.Background()

	tests := []struct {
		name    string
		secrets map[string]string
		want    string
		missing []string
	}{
		{"both missing", nil, "", []string{"db-password", "db-user"}},
		{"password missing", map[string]string{"db-user": "trainer"}, "", []string{"db-password"}},
		{"both set", map[string]string{"db-password": "s3cret"}, "postgres://trainer:s3cret@db:5432/features", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.secrets != nil {
				require.NoError(t, r.SetSecrets(ctx, tt.secrets))
			}
			dsn, err := fakevault.DSN(ctx, r, "db:5432", "features")
			if tt.missing == nil {
				require.NoError(t, err)
				assert.Equal(t, tt.want, dsn)
				return
			}
			require.ErrorIs(t, err, keyvault.ErrNotFound)
			var be *keyvault.BatchError
			require.ErrorAs(t, err, &be)
			assert.Equal(t, tt.missing, be.Names())
			assert.NotContains(t, err.Error(), "trainer")
		})
	}
	// The emulator saw real Key Vault requests.
	assert.Positive(t, srv.Stats().Count(keyvaulttest.RouteGetSecret, 404))
}
