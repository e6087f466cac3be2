package keyvault_test

import "github.com/go-azureml/secrets/keyvault"

// noCacheNoRetry returns Options under which every call reaches the store
// exactly once.
func noCacheNoRetry() *keyvault.Options {
	return &keyvault.Options{}
}
