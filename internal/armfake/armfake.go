// Package armfake holds loopback fakes of the Azure services the workspace
// and credential packages talk to, for tests only: a TLS Azure Resource
// Manager server (workspace GET, connections listsecrets), an Azure ML
// managed identity endpoint (MSI_ENDPOINT protocol) and a Transport that
// routes requests by host, so that one azcore.ClientOptions reaches the fake
// ARM server, the Key Vault emulator and anything else.
package armfake

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// APIVersion is the api-version the fake ARM server accepts.
const APIVersion = "2024-04-01"

// Audience is the token audience of the fake cloud's Resource Manager.
const Audience = "https://management.azure.com"

// Request is one request the fake ARM server received.
type Request struct {
	Method string
	Path   string
	// Authorized reports whether it carried "Authorization: Bearer <token>"
	// with the token the server expects (any non-empty one when none is set).
	Authorized bool
}

// Response is a canned answer.
type Response struct {
	Status int
	Body   string
}

// Server is a fake Azure Resource Manager over TLS on a loopback port.
type Server struct {
	srv *httptest.Server

	mu        sync.Mutex
	token     string
	resources map[string]Response // lower-cased path -> answer
	requests  []Request
}

// NewServer starts a fake ARM server. Close it when done.
func NewServer() *Server { return NewServerWithCert(nil) }

// NewServerWithCert starts a fake ARM server that presents cert (nil: the
// httptest certificate). Close it when done.
func NewServerWithCert(cert *tls.Certificate) *Server {
	s := &Server{resources: map[string]Response{}}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	if cert != nil {
		s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
	}
	s.srv.StartTLS()
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// URL is the server's base URL, https://127.0.0.1:PORT.
func (s *Server) URL() string { return s.srv.URL }

// Host is the server's host:port.
func (s *Server) Host() string { u, _ := url.Parse(s.srv.URL); return u.Host }

// Transport is a Transporter that trusts the server's certificate.
func (s *Server) Transport() policy.Transporter { return s.srv.Client() }

// Cloud is a cloud configuration whose Resource Manager is this server, with
// the public cloud's authority host.
func (s *Server) Cloud() cloud.Configuration {
	return cloud.Configuration{
		ActiveDirectoryAuthorityHost: cloud.AzurePublic.ActiveDirectoryAuthorityHost,
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: s.srv.URL, Audience: Audience},
		},
	}
}

// ClientOptions reach this server only.
func (s *Server) ClientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{Cloud: s.Cloud(), Transport: s.Transport()}
}

// RequireToken makes the server answer 401 to requests without this bearer
// token. "" (the default) accepts any non-empty token.
func (s *Server) RequireToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// WorkspacePath is the resource path of a workspace.
func WorkspacePath(sub, rg, name string) string {
	return "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.MachineLearningServices/workspaces/" + name
}

// VaultID is the resource id of a Key Vault.
func VaultID(sub, rg, name string) string {
	return "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.KeyVault/vaults/" + name
}

// AddWorkspace serves GET of the workspace with properties.keyVault set to
// keyVaultID.
func (s *Server) AddWorkspace(sub, rg, name, keyVaultID string) {
	p := WorkspacePath(sub, rg, name)
	body, _ := json.Marshal(map[string]any{
		"id":       p,
		"name":     name,
		"type":     "Microsoft.MachineLearningServices/workspaces",
		"location": "westeurope",
		"properties": map[string]any{
			"keyVault":       keyVaultID,
			"storageAccount": "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Storage/storageAccounts/st",
			"friendlyName":   name,
		},
	})
	s.Set(http.MethodGet, p, Response{Status: http.StatusOK, Body: string(body)})
}

// AddConnection serves POST .../connections/NAME/listsecrets with the given
// properties (authType, category, target, credentials, metadata).
func (s *Server) AddConnection(sub, rg, ws, name string, properties map[string]any) {
	body, _ := json.Marshal(map[string]any{
		"id":         WorkspacePath(sub, rg, ws) + "/connections/" + name,
		"name":       name,
		"type":       "Microsoft.MachineLearningServices/workspaces/connections",
		"properties": properties,
		"systemData": map[string]any{"createdAt": "2024-05-01T10:00:00Z", "createdBy": "someone@example.com", "createdByType": "User"},
	})
	s.SetConnection(sub, rg, ws, name, string(body))
}

// SetConnection serves POST .../connections/NAME/listsecrets with document
// as the body, verbatim.
func (s *Server) SetConnection(sub, rg, ws, name, document string) {
	p := WorkspacePath(sub, rg, ws) + "/connections/" + name + "/listsecrets"
	s.Set(http.MethodPost, p, Response{Status: http.StatusOK, Body: document})
}

// Set serves a canned answer for method and path (matched
// case-insensitively), replacing any earlier one.
func (s *Server) Set(method, path string, r Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resources[method+" "+strings.ToLower(path)] = r
}

// Answer returns the canned answer for method and path.
func (s *Server) Answer(method, path string) (Response, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.resources[method+" "+strings.ToLower(path)]
	return r, ok
}

// Count is how many requests with method arrived at path (matched
// case-insensitively).
func (s *Server) Count(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Method == method && strings.EqualFold(r.Path, path) {
			n++
		}
	}
	return n
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ErrorBody is an ARM error body.
func ErrorBody(code, message string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": message}})
	return string(b)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	want := s.token
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	authorized := ok && tok != "" && (want == "" || tok == want)
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Authorized: authorized})
	resp, found := s.resources[r.Method+" "+strings.ToLower(r.URL.Path)]
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("x-ms-request-id", "00000000-0000-0000-0000-000000000001")
	switch {
	case !authorized:
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, ErrorBody("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing or invalid."))
	case r.URL.Query().Get("api-version") != APIVersion:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, ErrorBody("InvalidApiVersionParameter", "The api-version '"+r.URL.Query().Get("api-version")+"' is invalid."))
	case !found:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, ErrorBody("ResourceNotFound", "The Resource '"+r.URL.Path+"' was not found."))
	default:
		w.WriteHeader(resp.Status)
		fmt.Fprint(w, resp.Body)
	}
}

// Router is a Transporter that sends each request to the Transporter of its
// host (host:port as in the URL), else to Default (nil = http.DefaultClient).
type Router struct {
	Routes  map[string]policy.Transporter
	Default policy.Transporter
}

// Do implements policy.Transporter.
func (rt *Router) Do(req *http.Request) (*http.Response, error) {
	if t, ok := rt.Routes[req.URL.Host]; ok {
		return t.Do(req)
	}
	if rt.Default != nil {
		return rt.Default.Do(req)
	}
	return http.DefaultClient.Do(req)
}
