package credential_test

import (
	"context"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/go-azureml/secrets/credential"
)

// An explicit credential is used alone, behind the per-scope token cache.
func ExampleNew() {
	cred, err := credential.New(&credential.Options{Credential: credential.Static("token", time.Time{})})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(credential.Describe(cred))
	// Output:
	// static credential
}

// Static never shows its token.
func ExampleStatic() {
	cred := credential.Static("do-not-print", time.Now().Add(time.Hour))
	tok, _ := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	fmt.Println(cred, len(tok.Token))
	// Output:
	// static credential 12
}
