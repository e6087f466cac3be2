package keyvault_test

import (
	"testing"

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
