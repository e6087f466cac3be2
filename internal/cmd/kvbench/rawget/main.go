// Command rawget is the hand-written baseline of kvbench's cold-process row:
// what a competent user writes with azsecrets to read one secret from the
// vault `amlsecrets serve` prints (AMLSECRETS_KEYVAULT_URL, AMLSECRETS_CA_FILE).
// It trusts the CA file beside the system roots, as the x509 documentation and
// most examples do, and prints the value.
//
// Usage: rawget NAME
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

type staticCred struct{}

func (staticCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "rawget-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: rawget NAME")
		os.Exit(2)
	}
	pem, err := os.ReadFile(os.Getenv("AMLSECRETS_CA_FILE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "rawget:", err)
		os.Exit(1)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	pool.AppendCertsFromPEM(pem)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool}
	c, err := azsecrets.NewClient(os.Getenv("AMLSECRETS_KEYVAULT_URL"), staticCred{}, &azsecrets.ClientOptions{
		ClientOptions:                        azcore.ClientOptions{Transport: &http.Client{Transport: t}},
		DisableChallengeResourceVerification: true,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "rawget:", err)
		os.Exit(1)
	}
	resp, err := c.GetSecret(context.Background(), os.Args[1], "", nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rawget: get failed")
		os.Exit(1)
	}
	fmt.Println(*resp.Value)
}
