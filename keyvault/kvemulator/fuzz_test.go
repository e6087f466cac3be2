package kvemulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// FuzzServeHTTP feeds the emulator's request handling arbitrary methods,
// paths, queries and bodies. It must never panic, must answer every error
// in Key Vault's error shape, every success with valid JSON, and must keep
// serving: a set and get of a fresh secret works after every input. Seeds:
// testdata/fuzz/FuzzServeHTTP.
func FuzzServeHTTP(f *testing.F) {
	seeds := []struct {
		method, path, query, body string
		auth                      bool
	}{
		{"PUT", "/secrets/a", "api-version=2026-04-01", `{"value":"v"}`, true},
		{"PUT", "/secrets/a", "api-version=2026-04-01", `{"value":`, true},
		{"PUT", "/secrets/a_b", "api-version=2026-04-01", `{"value":"v","attributes":{"exp":"x"}}`, true},
		{"GET", "/secrets/a/", "api-version=2026-04-01", "", true},
		{"GET", "/secrets", "api-version=2026-04-01&maxresults=0", "", true},
		{"GET", "/secrets", "api-version=2026-04-01&$skiptoken=%%%", "", true},
		{"PATCH", "/secrets/a/0123", "api-version=2026-04-01", `{"attributes":{"enabled":false}}`, true},
		{"POST", "/secrets/restore", "api-version=2026-04-01", `{"value":"!!!"}`, true},
		{"DELETE", "/deletedsecrets/a", "", "", true},
		{"GET", "/secrets/%2e%2e/", "api-version=1", "", false},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, []byte(s.body), s.auth)
	}
	srv, err := Start(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(srv.Close)
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, method, path, query string, body []byte, auth bool) {
		if method == "" || strings.ContainsAny(method, " \t\r\n()<>@,;:\\\"/[]?={}") {
			method = "GET"
		}
		req := &http.Request{
			Method:     method,
			URL:        &url.URL{Scheme: "https", Host: srv.vaultHost, Path: path, RawQuery: query},
			Host:       srv.vaultHost,
			Header:     http.Header{},
			Body:       io.NopCloser(bytes.NewReader(body)),
			Proto:      "HTTP/1.1",
			ProtoMajor: 1, ProtoMinor: 1,
			RequestURI: path,
		}
		req = req.WithContext(t.Context())
		if auth {
			req.Header.Set("Authorization", "Bearer "+srv.Token())
		}
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		srv.serveHTTP(rec, req)
		checkResponse(t, rec)

		// The server keeps serving.
		name := fmt.Sprintf("fuzz-probe-%d", n.Add(1))
		put := httptest.NewRequestWithContext(t.Context(), "PUT", "https://"+srv.vaultHost+"/secrets/"+name+"?api-version=2026-04-01", strings.NewReader(`{"value":"probe"}`))
		put.Header.Set("Authorization", "Bearer "+srv.Token())
		rec = httptest.NewRecorder()
		srv.serveHTTP(rec, put)
		if rec.Code != 200 {
			t.Fatalf("set after fuzz input: status %d: %s", rec.Code, rec.Body)
		}
		get := httptest.NewRequestWithContext(t.Context(), "GET", "https://"+srv.vaultHost+"/secrets/"+name+"/?api-version=2026-04-01", nil)
		get.Header.Set("Authorization", "Bearer "+srv.Token())
		rec = httptest.NewRecorder()
		srv.serveHTTP(rec, get)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"value":"probe"`) {
			t.Fatalf("get after fuzz input: status %d: %s", rec.Code, rec.Body)
		}
	})
}

func checkResponse(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code < 200 || rec.Code > 599 {
		t.Fatalf("status %d", rec.Code)
	}
	b := rec.Body.Bytes()
	if rec.Code == http.StatusNoContent {
		if len(b) != 0 {
			t.Fatalf("204 with a body: %q", b)
		}
		return
	}
	if rec.Code >= 400 {
		var e struct {
			Error *struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(b, &e); err != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Fatalf("status %d without Key Vault's error shape: %q", rec.Code, b)
		}
		if rec.Code == 401 && rec.Header().Get("WWW-Authenticate") == "" {
			t.Fatalf("401 without a challenge")
		}
		return
	}
	if !json.Valid(b) {
		t.Fatalf("status %d with invalid JSON: %q", rec.Code, b)
	}
}
