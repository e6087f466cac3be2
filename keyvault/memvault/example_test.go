package memvault_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/memvault"
)

// A fake vault for a unit test: it behaves as Key Vault does, versions and
// soft delete included.
func ExampleNew() {
	ctx := context.Background()
	kv := keyvault.New(memvault.New(), nil)
	v1, _ := kv.SetSecret(ctx, "api-key", "old", nil)
	_, _ = kv.SetSecret(ctx, "api-key", "new", nil)

	latest, _ := kv.GetSecret(ctx, "API-KEY") // names are case-insensitive
	old, _ := kv.GetSecretVersion(ctx, "api-key", v1.Version)
	fmt.Println(latest, old.Value.Reveal())

	_ = kv.DeleteSecret(ctx, "api-key")
	_, err := kv.SetSecret(ctx, "api-key", "again", nil)
	fmt.Println(errors.Is(err, keyvault.ErrConflict)) // deleted but recoverable
	_, err = kv.RecoverSecret(ctx, "api-key")
	fmt.Println(err)
	// Output:
	// new old
	// true
	// <nil>
}
