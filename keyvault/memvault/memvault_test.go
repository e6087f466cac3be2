package memvault_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
	"github.com/go-azureml/secrets/keyvault/memvault"
)

func TestConformance(t *testing.T) {
	keyvaulttest.RunConformance(t, func(*testing.T) keyvault.Store { return memvault.New() })
}

func TestConformanceHardDelete(t *testing.T) {
	keyvaulttest.RunConformance(t, func(*testing.T) keyvault.Store {
		return hardStore{memvault.NewWithOptions(&memvault.Options{DisableSoftDelete: true})}
	})
}

// hardStore hides memvault's optional abilities, as a minimal Store would.
type hardStore struct{ keyvault.Store }

// TestMain fails the package if any test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
