package keyvault_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/go-azureml/secrets/keyvault"
)

// TestMain fails the package if any test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// noCacheNoRetry returns Options under which every call reaches the store
// exactly once: the batch semantics alone, without cache or retries.
func noCacheNoRetry() *keyvault.Options {
	return &keyvault.Options{
		Cache: &keyvault.CacheOptions{Disabled: true},
		Retry: &keyvault.RetryOptions{Disabled: true},
	}
}
