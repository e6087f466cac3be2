// Package safeopts makes azcore client options safe to use with secrets:
// whatever a caller passes, bodies (which carry secret values) are never
// logged, and headers that carry credentials are never let through azcore's
// log redaction. Every pipeline this module builds goes through it.
package safeopts

import (
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// sensitive are headers whose values are credentials: bearer tokens, the
// AML compute identity's "secret", App Service's identity header, cookies.
var sensitive = []string{
	"authorization", "secret", "x-identity-header", "x-ms-identity-header",
	"proxy-authorization", "cookie", "set-cookie", "x-ms-client-secret",
}

// Sensitive reports whether header carries a credential.
func Sensitive(header string) bool {
	h := strings.ToLower(strings.TrimSpace(header))
	return slices.Contains(sensitive, h) || strings.Contains(h, "secret") || strings.Contains(h, "token")
}

// Client returns a copy of co with Logging.IncludeBody off, every sensitive
// header removed from Logging.AllowedHeaders, so azcore's logger redacts
// them, and a per-call policy that withholds from azcore's error log the body
// of any unexpected answer of a secrets or listsecrets endpoint (see
// bodyGuard). Other settings are kept.
func Client(co azcore.ClientOptions) azcore.ClientOptions {
	co.Logging.IncludeBody = false
	if !slices.ContainsFunc(co.PerCallPolicies, func(p policy.Policy) bool { _, ok := p.(bodyGuard); return ok }) {
		co.PerCallPolicies = append(slices.Clip(co.PerCallPolicies), bodyGuard{})
	}
	if len(co.Logging.AllowedHeaders) > 0 {
		co.Logging.AllowedHeaders = slices.DeleteFunc(slices.Clone(co.Logging.AllowedHeaders), Sensitive)
	}
	if len(co.Logging.AllowedQueryParams) > 0 {
		co.Logging.AllowedQueryParams = slices.DeleteFunc(slices.Clone(co.Logging.AllowedQueryParams), Sensitive)
	}
	return co
}
