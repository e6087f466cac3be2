package safeopts

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/go-azureml/secrets/internal/safetext"
)

// maxCodeBytes bounds an error code kept from a withheld body.
const maxCodeBytes = 100

// Withheld is the message of the error body that replaces a withheld
// response body.
const Withheld = "response body withheld: it may hold secret values"

// bodyGuard keeps the bodies of secret-bearing endpoints (Key Vault's
// /secrets and /deletedsecrets, ARM's /listsecrets) away from azcore's log.
// azcore logs the whole body of any response the operation did not expect
// (runtime.NewResponseError writes ResponseError.Error(), body included, as
// EventResponseError) whatever Logging.IncludeBody says: a 201 from
// listsecrets would log a connection's credentials. So for such an endpoint
// any status but the one its operation expects gets its body replaced by an
// error document that keeps only error.code and error.innererror.code,
// bounded and escaped; a hostile x-ms-error-code header is bounded too.
type bodyGuard struct{}

func (bodyGuard) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	if err != nil || resp == nil || !guarded(req.Raw()) {
		return resp, err
	}
	if ec := resp.Header.Get("x-ms-error-code"); ec != "" {
		resp.Header.Set("x-ms-error-code", safetext.Clean(ec, maxCodeBytes))
	}
	if resp.StatusCode == expected(req.Raw()) {
		return resp, nil
	}
	body, _ := runtime.Payload(resp)
	sk := skeleton(body)
	resp.Body = io.NopCloser(bytes.NewReader(sk))
	resp.ContentLength = int64(len(sk))
	resp.Header.Set("Content-Length", strconv.Itoa(len(sk)))
	resp.Header.Set("Content-Type", "application/json; charset=utf-8")
	return resp, nil
}

// guarded reports whether the request goes to an endpoint whose answers can
// hold secret values.
func guarded(r *http.Request) bool {
	return r != nil && r.URL != nil && strings.Contains(strings.ToLower(r.URL.Path), "secrets")
}

// expected is the status the operation on r succeeds with: 204 for a Key
// Vault purge (DELETE /deletedsecrets/NAME), 200 for everything else.
func expected(r *http.Request) int {
	if r.Method == http.MethodDelete && strings.Contains(strings.ToLower(r.URL.Path), "/deletedsecrets/") {
		return http.StatusNoContent
	}
	return http.StatusOK
}

// skeleton returns the error document that keeps only the codes of body.
func skeleton(body []byte) []byte {
	var in struct {
		Error struct {
			Code       string `json:"code"`
			InnerError struct {
				Code string `json:"code"`
			} `json:"innererror"`
		} `json:"error"`
	}
	if len(body) <= 1<<20 {
		_ = json.Unmarshal(body, &in)
	}
	type inner struct {
		Code string `json:"code"`
	}
	var out struct {
		Error struct {
			Code       string `json:"code,omitempty"`
			Message    string `json:"message"`
			InnerError *inner `json:"innererror,omitempty"`
		} `json:"error"`
	}
	out.Error.Code = safetext.Clean(in.Error.Code, maxCodeBytes)
	out.Error.Message = Withheld
	if c := in.Error.InnerError.Code; c != "" {
		out.Error.InnerError = &inner{safetext.Clean(c, maxCodeBytes)}
	}
	b, _ := json.Marshal(out)
	return b
}
