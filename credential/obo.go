package credential

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// maxTokenResponse bounds the body read from an identity endpoint.
const maxTokenResponse = 1 << 20

const (
	moduleName    = "github.com/go-azureml/secrets/credential"
	moduleVersion = "v0.1.0"
)

// onBehalfOf is the credential of an Azure ML job submitted with
// `identity: type: user_identity`: GET $OBO_ENDPOINT?resource=R, no secret
// header, a managed-identity style JSON answer. azidentity has none; this is
// azure-ai-ml's AzureMLOnBehalfOfCredential.
type onBehalfOf struct {
	endpoint string
	pl       runtime.Pipeline
	now      func() time.Time
}

func newOnBehalfOf(endpoint string, co azcore.ClientOptions, now func() time.Time) (*onBehalfOf, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s is not an http(s) URL", EnvOBOEndpoint)
	}
	if now == nil {
		now = time.Now
	}
	pl := runtime.NewPipeline(moduleName, moduleVersion, runtime.PipelineOptions{}, &co)
	return &onBehalfOf{endpoint: endpoint, pl: pl, now: now}, nil
}

// String names the credential, never a token.
func (o *onBehalfOf) String() string { return NameOnBehalfOf }

// GetToken asks the OBO endpoint for a token for the one resource of
// opts.Scopes.
func (o *onBehalfOf) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(opts.Scopes) != 1 {
		return azcore.AccessToken{}, fmt.Errorf("%s: one scope per request, got %d", NameOnBehalfOf, len(opts.Scopes))
	}
	resource := strings.TrimSuffix(opts.Scopes[0], "/.default")
	req, err := runtime.NewRequest(ctx, http.MethodGet, o.endpoint)
	if err != nil {
		return azcore.AccessToken{}, fmt.Errorf("%s: %w", NameOnBehalfOf, err)
	}
	q := req.Raw().URL.Query()
	q.Set("resource", resource)
	req.Raw().URL.RawQuery = q.Encode()
	req.Raw().Header.Set("Accept", "application/json")
	runtime.SkipBodyDownload(req)
	resp, err := o.pl.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return azcore.AccessToken{}, ctx.Err()
		}
		return azcore.AccessToken{}, fmt.Errorf("%s: GET %s: %w", NameOnBehalfOf, redactURL(req.Raw().URL), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
	if err != nil {
		return azcore.AccessToken{}, fmt.Errorf("%s: read answer: %w", NameOnBehalfOf, err)
	}
	if len(body) > maxTokenResponse {
		return azcore.AccessToken{}, fmt.Errorf("%s: answer larger than %d bytes", NameOnBehalfOf, maxTokenResponse)
	}
	if resp.StatusCode != http.StatusOK {
		// The body is never echoed: only a JSON error's code and
		// description, bounded.
		return azcore.AccessToken{}, &endpointError{Status: resp.StatusCode, Method: http.MethodGet, URL: redactURL(req.Raw().URL), Detail: bodyDetail(body)}
	}
	return parseTokenResponse(body, o.now)
}

// endpointError is a non-200 answer of an identity endpoint.
type endpointError struct {
	Status      int
	Method, URL string
	Detail      string
}

func (e *endpointError) Error() string {
	s := fmt.Sprintf("HTTP %d from %s %s", e.Status, e.Method, e.URL)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// redactURL is scheme://host/path, without the query.
func redactURL(u *url.URL) string { return u.Scheme + "://" + u.Host + u.Path }

// parseTokenResponse reads a managed-identity style answer: access_token
// and expires_on (Unix seconds, as a number or a string) or expires_in.
func parseTokenResponse(body []byte, now func() time.Time) (azcore.AccessToken, error) {
	var r struct {
		AccessToken string          `json:"access_token"`
		ExpiresOn   json.RawMessage `json:"expires_on"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return azcore.AccessToken{}, fmt.Errorf("%s: the answer is not a token (malformed JSON)", NameOnBehalfOf)
	}
	if r.AccessToken == "" {
		return azcore.AccessToken{}, fmt.Errorf("%s: the answer has no access_token", NameOnBehalfOf)
	}
	tok := azcore.AccessToken{Token: r.AccessToken}
	if on, ok := jsonInt(r.ExpiresOn); ok {
		tok.ExpiresOn = time.Unix(on, 0).UTC()
	} else if in, ok := jsonInt(r.ExpiresIn); ok {
		tok.ExpiresOn = now().Add(time.Duration(in) * time.Second).UTC()
	} else {
		return azcore.AccessToken{}, fmt.Errorf("%s: the answer has neither expires_on nor expires_in as a number", NameOnBehalfOf)
	}
	return tok, nil
}

// jsonInt reads a JSON number or a string holding one.
func jsonInt(raw json.RawMessage) (int64, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		return n, err == nil
	}
	var f json.Number
	if json.Unmarshal(raw, &f) != nil {
		return 0, false
	}
	if n, err := f.Int64(); err == nil {
		return n, true
	}
	if x, err := f.Float64(); err == nil {
		return int64(x), true
	}
	return 0, false
}

// bodyDetail is errorDetail for JSON error bodies, or one of the plain
// answers this package knows ("Token not found"); never other text.
func bodyDetail(body []byte) string {
	if d := errorDetail(body); d != "" {
		return d
	}
	if strings.Contains(strings.ToLower(string(body)), tokenNotFound) {
		return "Token not found"
	}
	return ""
}

// tokenNotFound is what a compute instance's endpoint answers, lower-cased,
// when it has no identity and single sign-on is off.
const tokenNotFound = "token not found"
