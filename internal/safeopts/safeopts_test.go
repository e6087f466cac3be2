package safeopts_test

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/stretchr/testify/assert"

	"github.com/go-azureml/secrets/internal/safeopts"
)

func TestClient(t *testing.T) {
	var co azcore.ClientOptions
	co.Logging.IncludeBody = true
	co.Logging.AllowedHeaders = []string{"Authorization", "x-ms-request-id", "secret", "X-IDENTITY-HEADER", "x-custom-token"}
	co.Logging.AllowedQueryParams = []string{"api-version", "client_secret"}
	orig := append([]string(nil), co.Logging.AllowedHeaders...)
	got := safeopts.Client(co)
	assert.False(t, got.Logging.IncludeBody)
	assert.Equal(t, []string{"x-ms-request-id"}, got.Logging.AllowedHeaders)
	assert.Equal(t, []string{"api-version"}, got.Logging.AllowedQueryParams)
	assert.Equal(t, orig, co.Logging.AllowedHeaders, "the caller's slice is not changed")
}
