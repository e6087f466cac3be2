//go:build unix

package kvemulator

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

const benchSecrets = 10_000

// benchServer starts a server holding benchSecrets secrets, seeded through
// the store (no HTTP).
func benchServer(b *testing.B) *Server {
	b.Helper()
	srv, err := Start(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	now := srv.now()
	for i := range benchSecrets {
		v := fmt.Sprintf("value-%d", i)
		if _, err := srv.store.set(fmt.Sprintf("seed-%05d", i), &setParams{Value: &v}, now, srv.vaultHost); err != nil {
			b.Fatal(err)
		}
	}
	return srv
}

// BenchmarkListAll lists every secret through the azsecrets pager over
// HTTPS: 400 pages of 25.
func BenchmarkListAll(b *testing.B) {
	srv := benchServer(b)
	ctx := context.Background()
	client, err := azsecrets.NewClient(srv.VaultURL(), srv.Credential(), &azsecrets.ClientOptions{ClientOptions: srv.ClientOptions()})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := client.GetSecret(ctx, "seed-00000", "", nil); err != nil {
		b.Fatal(err)
	}
	cpu0 := processCPU()
	for b.Loop() {
		n := 0
		for pager := client.NewListSecretPropertiesPager(nil); pager.More(); {
			page, err := pager.NextPage(ctx)
			if err != nil {
				b.Fatal(err)
			}
			n += len(page.Value)
		}
		if n != benchSecrets {
			b.Fatalf("listed %d", n)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the CPU time the process has used, client, server and
// garbage collector together: steadier than wall time on a loaded machine.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkListPageHandler serves one list page of 25 in the handler alone
// (no TLS, no client), following nextLinks through the vault.
func BenchmarkListPageHandler(b *testing.B) {
	srv := benchServer(b)
	first := "https://" + srv.vaultHost + "/secrets?api-version=2026-04-01"
	next := first
	for b.Loop() {
		req := httptest.NewRequest("GET", next, nil)
		req.Header.Set("Authorization", "Bearer "+srv.Token())
		rec := httptest.NewRecorder()
		srv.serveHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body.String())
		}
		next = nextLinkOf(rec.Body.Bytes())
		if next == "" {
			next = first
		}
	}
}

// nextLinkOf finds a page's nextLink without decoding the page.
func nextLinkOf(body []byte) string {
	_, after, ok := bytes.Cut(body, []byte(`"nextLink":"`))
	if !ok {
		return ""
	}
	link, _, _ := bytes.Cut(after, []byte(`"`))
	return strings.ReplaceAll(string(link), `\u0026`, "&")
}

// BenchmarkGetHandler serves one GET of a secret's latest version in the
// handler alone (no TLS, no client).
func BenchmarkGetHandler(b *testing.B) {
	srv := benchServer(b)
	urls := make([]string, 64)
	for i := range urls {
		urls[i] = fmt.Sprintf("https://%s/secrets/seed-%05d?api-version=2026-04-01", srv.vaultHost, i*97)
	}
	i := 0
	for b.Loop() {
		req := httptest.NewRequest("GET", urls[i%len(urls)], nil)
		req.Header.Set("Authorization", "Bearer "+srv.Token())
		rec := httptest.NewRecorder()
		srv.serveHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body.String())
		}
		i++
	}
}
