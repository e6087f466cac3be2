package run_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/memvault"
	"github.com/go-azureml/secrets/run"
	"github.com/go-azureml/secrets/workspace"
)

// slowConnections answers each connection after 3 s.
type slowConnections struct{ calls atomic.Int64 }

func (s *slowConnections) ListConnectionSecrets(ctx context.Context, name string) (*workspace.Connection, error) {
	s.calls.Add(1)
	select {
	case <-time.After(3 * time.Second):
		return &workspace.Connection{Name: name, Target: "https://example.invalid/"}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func TestResolveEnvHonoursEachCallersDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &slowConnections{}
		r := run.New(keyvault.New(memvault.New(), nil), &run.Options{Connections: src})
		env := []string{"OPENAI=${{azureml://connections/openai/target}}"}
		var wg sync.WaitGroup
		var first []string
		wg.Go(func() {
			var err error
			first, err = r.ResolveEnv(t.Context(), env)
			assert.NoError(t, err)
		})
		synctest.Wait()
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := r.ResolveEnv(ctx, env)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 100*time.Millisecond, time.Since(start), "the second caller returns at its own deadline")
		wg.Wait()
		assert.Equal(t, []string{"OPENAI=https://example.invalid/"}, first)
		assert.Equal(t, int64(1), src.calls.Load(), "one fetch shared")
		_, err = r.ResolveEnv(t.Context(), env)
		require.NoError(t, err)
		assert.Equal(t, int64(1), src.calls.Load(), "kept for the run")
	})
}

func TestSlowVaultOpenDoesNotBlockOtherVaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := memvault.New()
		_, err := mem.SetSecret(t.Context(), "a", "1", nil)
		require.NoError(t, err)
		var opens atomic.Int64
		r := run.New(keyvault.New(memvault.New(), nil), &run.Options{
			OpenVault: func(ctx context.Context, vaultURL string) (*keyvault.Keyvault, error) {
				opens.Add(1)
				if vaultURL == "https://slow.vault.azure.net/" {
					<-time.After(time.Minute) // the caller's own slow code
				}
				return keyvault.New(mem, nil), nil
			},
		})
		var wg sync.WaitGroup
		wg.Go(func() {
			_, err := r.ResolveEnv(t.Context(), []string{"A=${{keyvault:https://slow.vault.azure.net/secrets/a}}"})
			assert.NoError(t, err)
		})
		synctest.Wait()
		start := time.Now()
		got, err := r.ResolveEnv(t.Context(), []string{"A=${{keyvault:https://fast.vault.azure.net/secrets/a}}"})
		require.NoError(t, err)
		assert.Equal(t, []string{"A=1"}, got)
		assert.Zero(t, time.Since(start), "another vault's slow open holds no lock this one needs")
		wg.Wait()
		assert.Equal(t, int64(2), opens.Load())
	})
}
