package armfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"
)

// MSIAPIVersion is the api-version of Azure ML's managed identity endpoint.
const MSIAPIVersion = "2017-09-01"

// MSIOptions configure a fake MSI endpoint.
type MSIOptions struct {
	// Secret is the value the "secret" header must carry.
	Secret string
	// Token returns the access token issued for a resource; nil issues
	// "msi-token-for-" + resource.
	Token func(resource string) string
	// Status, when not 0 or 200, answers every request with it and
	// ErrorBody.
	Status int
	// ErrorBody is the body of error answers.
	ErrorBody string
	// Lifetime is how long issued tokens are valid; default an hour.
	Lifetime time.Duration
}

// MSI is a fake of the Azure ML compute managed identity endpoint:
// GET MSI_ENDPOINT?api-version=2017-09-01&resource=R&clientid=ID with the
// header "secret: MSI_SECRET". It is plain HTTP on loopback, as on compute.
type MSI struct {
	srv  *httptest.Server
	opts MSIOptions

	mu        sync.Mutex
	requests  map[string]int // resource -> count
	clientIDs []string
}

// NewMSI starts a fake MSI endpoint. Close it when done.
func NewMSI(opts MSIOptions) *MSI {
	m := &MSI{opts: opts, requests: map[string]int{}}
	if m.opts.Lifetime == 0 {
		m.opts.Lifetime = time.Hour
	}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	return m
}

// Endpoint is the value for MSI_ENDPOINT.
func (m *MSI) Endpoint() string { return m.srv.URL + "/msi/token" }

// Close stops the endpoint.
func (m *MSI) Close() { m.srv.Close() }

// Requests is how many token requests arrived for resource.
func (m *MSI) Requests(resource string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.requests[resource]
}

// Total is how many token requests arrived in all.
func (m *MSI) Total() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, c := range m.requests {
		n += c
	}
	return n
}

// ClientIDs are the clientid parameters received, in order.
func (m *MSI) ClientIDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.clientIDs...)
}

func (m *MSI) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	resource := q.Get("resource")
	m.mu.Lock()
	m.requests[resource]++
	m.clientIDs = append(m.clientIDs, q.Get("clientid"))
	m.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	bad := func(status int, code, desc string) {
		w.WriteHeader(status)
		b, _ := json.Marshal(map[string]string{"error": code, "error_description": desc})
		_, _ = w.Write(b)
	}
	switch {
	case r.Method != http.MethodGet:
		bad(http.StatusMethodNotAllowed, "invalid_request", "GET only")
		return
	case q.Get("api-version") != MSIAPIVersion:
		bad(http.StatusBadRequest, "invalid_request", "api-version must be "+MSIAPIVersion)
		return
	case r.Header.Get("secret") != m.opts.Secret:
		bad(http.StatusUnauthorized, "invalid_request", "the secret header is missing or wrong")
		return
	case resource == "":
		bad(http.StatusBadRequest, "invalid_request", "resource is required")
		return
	case m.opts.Status != 0 && m.opts.Status != http.StatusOK:
		w.WriteHeader(m.opts.Status)
		_, _ = fmt.Fprint(w, m.opts.ErrorBody)
		return
	}
	tok := "msi-token-for-" + resource
	if m.opts.Token != nil {
		tok = m.opts.Token(resource)
	}
	exp := time.Now().Add(m.opts.Lifetime).Unix()
	b, _ := json.Marshal(map[string]any{
		"access_token": tok,
		"expires_on":   strconv.FormatInt(exp, 10),
		"resource":     resource,
		"token_type":   "Bearer",
	})
	_, _ = w.Write(b)
}

// OBO is a fake of the token endpoint of an Azure ML job submitted with
// `identity: type: user_identity`: GET OBO_ENDPOINT?resource=R, no secret
// header, a managed-identity style JSON answer. Plain HTTP on loopback.
type OBO struct {
	srv *httptest.Server
	// Status, when not 0 or 200, answers every request with it and
	// ErrorBody.
	status    int
	errorBody string

	mu         sync.Mutex
	token      string
	requests   map[string]int
	withSecret int
}

// IssueToken makes the endpoint issue tok for every resource.
func (o *OBO) IssueToken(tok string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.token = tok
}

// NewOBO starts a fake OBO endpoint that issues "obo-token-for-" + resource,
// or answers every request with status and errorBody when status is not 0.
func NewOBO(status int, errorBody string) *OBO {
	o := &OBO{status: status, errorBody: errorBody, requests: map[string]int{}}
	o.srv = httptest.NewServer(http.HandlerFunc(o.serve))
	return o
}

// Endpoint is the value for OBO_ENDPOINT.
func (o *OBO) Endpoint() string { return o.srv.URL + "/obo/token" }

// Close stops the endpoint.
func (o *OBO) Close() { o.srv.Close() }

// Requests is how many token requests arrived for resource.
func (o *OBO) Requests(resource string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.requests[resource]
}

// Total is how many token requests arrived in all.
func (o *OBO) Total() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, c := range o.requests {
		n += c
	}
	return n
}

// WithSecret is how many requests carried a "secret" header (none should).
func (o *OBO) WithSecret() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.withSecret
}

func (o *OBO) serve(w http.ResponseWriter, r *http.Request) {
	resource := r.URL.Query().Get("resource")
	o.mu.Lock()
	o.requests[resource]++
	if r.Header.Get("secret") != "" {
		o.withSecret++
	}
	tok := o.token
	o.mu.Unlock()
	if tok == "" {
		tok = "obo-token-for-" + resource
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method != http.MethodGet || resource == "":
		w.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprint(w, `{"error":"invalid_request","error_description":"GET with a resource parameter"}`)
		return
	case o.status != 0 && o.status != http.StatusOK:
		w.WriteHeader(o.status)
		_, _ = fmt.Fprint(w, o.errorBody)
		return
	}
	b, _ := json.Marshal(map[string]any{
		"access_token": tok,
		"expires_in":   3600,
		"token_type":   "Bearer",
		"resource":     resource,
	})
	_, _ = w.Write(b)
}
