package keyvault_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/azurevault"
	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
	"github.com/go-azureml/secrets/keyvault/memvault"
)

func benchVault(b *testing.B, opts *keyvault.Options, n int) (*keyvault.Keyvault, []string) {
	b.Helper()
	kv := keyvault.New(memvault.New(), opts)
	names := make([]string, n)
	secrets := make(map[string]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("bench-secret-%02d", i)
		secrets[names[i]] = "value-" + names[i]
	}
	if err := kv.SetSecrets(context.Background(), secrets); err != nil {
		b.Fatal(err)
	}
	return kv, names
}

// BenchmarkGetSecretCacheHit is a GetSecret served from the cache: the target
// is at most 100 ns and 0 allocations per call.
func BenchmarkGetSecretCacheHit(b *testing.B) {
	for _, tc := range []struct{ label, name string }{
		{"lower", "bench-secret-00"},
		{"mixedcase", "Bench-Secret-00"},
	} {
		b.Run(tc.label, func(b *testing.B) {
			kv, _ := benchVault(b, nil, 1)
			ctx := context.Background()
			if _, err := kv.GetSecret(ctx, tc.name); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := kv.GetSecret(ctx, tc.name); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGetSecretCacheHitParallel is the cache hit from every CPU at once.
func BenchmarkGetSecretCacheHitParallel(b *testing.B) {
	kv, names := benchVault(b, nil, 1)
	ctx := context.Background()
	if _, err := kv.GetSecret(ctx, names[0]); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := kv.GetSecret(ctx, names[0]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkGetSecrets64 reads a batch of 64 names from memvault: uncached
// (every name a store call, concurrently) and cached (all hits).
func BenchmarkGetSecrets64(b *testing.B) {
	for _, tc := range []struct {
		label string
		opts  *keyvault.Options
	}{
		{"uncached", &keyvault.Options{Cache: &keyvault.CacheOptions{Disabled: true}}},
		{"cached", nil},
	} {
		b.Run(tc.label, func(b *testing.B) {
			kv, names := benchVault(b, tc.opts, 64)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				got, err := kv.GetSecrets(ctx, names)
				if err != nil || len(got) != len(names) {
					b.Fatal(len(got), err)
				}
			}
		})
	}
}

// BenchmarkNewKeyvaultPerCall measures a batch and a single read, each on a
// new Keyvault over one warm store (as a Keyvault per request handler does),
// against the emulator with 20 ms latency. Every iteration runs one
// GetSecret and then one GetSecrets(64), each on a new Keyvault, so both see
// the same machine; it reports the median of each (one-ms, batch-ms) and
// their ratio (batch/one), as kvbench row 1b does. The target is at most
// 1.5: one round trip each, plus the CPU to send 64 requests.
func BenchmarkNewKeyvaultPerCall(b *testing.B) {
	srv := keyvaulttest.NewServer(&keyvaulttest.ServerOptions{Latency: 20 * time.Millisecond})
	defer srv.Close()
	st, err := azurevault.New(srv.VaultURL(), srv.Credential(), &azurevault.Options{ClientOptions: srv.ClientOptions()})
	if err != nil {
		b.Fatal(err)
	}
	names := make([]string, 64)
	values := map[string]string{}
	for i := range names {
		names[i] = fmt.Sprintf("s%02d", i)
		values[names[i]] = names[i]
	}
	noCache := &keyvault.Options{Cache: &keyvault.CacheOptions{Disabled: true}}
	if err := keyvault.New(st, noCache).SetSecrets(b.Context(), values); err != nil {
		b.Fatal(err)
	}
	if _, err := keyvault.New(st, noCache).GetSecrets(b.Context(), names); err != nil { // warm every connection
		b.Fatal(err)
	}
	var ones, batches []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := keyvault.New(st, noCache).GetSecret(b.Context(), names[0]); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := keyvault.New(st, noCache).GetSecrets(b.Context(), names); err != nil {
			b.Fatal(err)
		}
		ones, batches = append(ones, t1.Sub(t0)), append(batches, time.Since(t1))
	}
	one, batch := medianOf(ones), medianOf(batches)
	b.ReportMetric(float64(one)/1e6, "one-ms")
	b.ReportMetric(float64(batch)/1e6, "batch-ms")
	b.ReportMetric(float64(batch)/float64(one), "batch/one")
}

func medianOf(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}
