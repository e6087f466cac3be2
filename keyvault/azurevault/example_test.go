package azurevault_test

import (
	"context"
	"fmt"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/azurevault"
	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
)

// The Azure-backed store, here against the in-process emulator; for a real
// vault pass its URL (https://NAME.vault.azure.net/) and a credential from
// credential.New.
func ExampleNew() {
	srv := keyvaulttest.NewServer(nil)
	defer srv.Close()
	store, err := azurevault.New(srv.VaultURL(), srv.Credential(), &azurevault.Options{ClientOptions: srv.ClientOptions()})
	if err != nil {
		panic(err)
	}
	kv := keyvault.New(store, nil)
	ctx := context.Background()
	if err := kv.SetSecrets(ctx, map[string]string{"db-user": "trainer", "db-password": "s3cret"}); err != nil {
		panic(err)
	}
	got, err := kv.GetSecrets(ctx, []string{"db-user", "db-password"})
	fmt.Println(len(got), got["db-user"], err)
	fmt.Println(store)
	// Output:
	// 2 trainer <nil>
	// Azure Key Vault https://keyvaulttest.vault.azure.net/
}
