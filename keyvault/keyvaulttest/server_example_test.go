package keyvaulttest_test

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
)

func ExampleNewServer() {
	srv := keyvaulttest.NewServer(nil)
	defer srv.Close()

	client, err := azsecrets.NewClient(srv.VaultURL(), srv.Credential(),
		&azsecrets.ClientOptions{ClientOptions: srv.ClientOptions()})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if _, err := client.SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{Value: to.Ptr("s3cret")}, nil); err != nil {
		panic(err)
	}
	got, err := client.GetSecret(ctx, "db-password", "", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(srv.VaultURL())
	fmt.Println(got.ID.Name(), len(*got.Value), "bytes")
	fmt.Println("challenges:", srv.Stats().Challenges)
	// Output:
	// https://keyvaulttest.vault.azure.net/
	// db-password 6 bytes
	// challenges: 1
}

func ExampleServer_FailNext() {
	srv := keyvaulttest.NewServer(nil)
	defer srv.Close()
	opts := srv.ClientOptions()
	opts.Retry.MaxRetries = -1 // see the fault, not azcore's retry
	client, _ := azsecrets.NewClient(srv.VaultURL(), srv.Credential(), &azsecrets.ClientOptions{ClientOptions: opts})

	srv.FailNext(1, 503)
	_, err := client.GetSecret(context.Background(), "anything", "", nil)
	fmt.Println(err != nil, srv.Stats().Faults)
	// Output: true 1
}
