package keyvault_test

import "github.com/go-azureml/secrets/keyvault"

// noCacheNoRetry returns Options under which every call reaches the store
// exactly once: the batch semantics alone, without cache or retries.
func noCacheNoRetry() *keyvault.Options {
	return &keyvault.Options{
		Cache: &keyvault.CacheOptions{Disabled: true},
		Retry: &keyvault.RetryOptions{Disabled: true},
	}
}
