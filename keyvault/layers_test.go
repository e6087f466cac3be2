package keyvault_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
	"github.com/go-azureml/secrets/keyvault/memvault"
)

// Each policy layer is a Store of its own and passes the same conformance
// suite as the stores beneath it, alone and composed as keyvault.New does.

func TestConformanceRetryLayer(t *testing.T) {
	keyvaulttest.RunConformance(t, func(t *testing.T) keyvault.Store {
		return keyvault.NewRetryStore(memvault.New(), nil)
	})
}

func TestConformanceCacheLayer(t *testing.T) {
	keyvaulttest.RunConformance(t, func(t *testing.T) keyvault.Store {
		return keyvault.NewCacheStore(memvault.New(), nil)
	})
}

func TestConformanceComposedLayers(t *testing.T) {
	keyvaulttest.RunConformance(t, func(t *testing.T) keyvault.Store {
		return keyvault.NewCacheStore(keyvault.NewRetryStore(memvault.New(), nil), nil)
	})
}

// fixedStore answers every GetSecret with one secret, allocating nothing.
type fixedStore struct {
	*memvault.Store
	s keyvault.Secret
}

func (f *fixedStore) GetSecret(context.Context, string, string) (keyvault.Secret, error) {
	return f.s, nil
}

// The layers add no allocation to an uncached read (cache off, or a miss
// whose request nobody shares): what a request costs is the store's.
func TestLayersAllocateNothingPerRead(t *testing.T) {
	fs := &fixedStore{Store: memvault.New(), s: keyvault.Secret{Properties: keyvault.Properties{Name: "db", Version: "v1"}, Value: keyvault.NewValue("x")}}
	ctx := context.Background()
	kv := keyvault.New(fs, &keyvault.Options{Cache: &keyvault.CacheOptions{Disabled: true}})
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = kv.GetSecret(ctx, "db") }), "Keyvault, cache off")
	rs := keyvault.NewRetryStore(fs, nil)
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = rs.GetSecret(ctx, "db", "") }), "RetryStore")
	rs = keyvault.NewRetryStore(fs, &keyvault.RetryOptions{IndependentThrottling: true})
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = rs.GetSecret(ctx, "db", "") }), "RetryStore, independent throttling")
	cs := keyvault.NewCacheStore(fs, &keyvault.CacheOptions{Disabled: true})
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = cs.GetSecret(ctx, "db", "") }), "CacheStore, cache off")
}
