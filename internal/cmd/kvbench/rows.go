package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"golang.org/x/sync/errgroup"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/azurevault"
	"github.com/go-azureml/secrets/keyvault/kvemulator"
)

// loopback is an emulator reached the way `amlsecrets serve` is: at its
// https://127.0.0.1:PORT/ URL, trusting a CA file.
type loopback struct {
	srv    *kvemulator.Server
	caFile string
	dir    string
}

func startLoopback(lat time.Duration, anyToken bool) (*loopback, error) {
	srv, err := kvemulator.Start(&kvemulator.Options{Latency: lat, AcceptAnyToken: anyToken})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kvbench-*")
	if err != nil {
		srv.Close()
		return nil, err
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o600); err != nil {
		srv.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	return &loopback{srv: srv, caFile: ca, dir: dir}, nil
}

func (l *loopback) Close() { l.srv.Close(); os.RemoveAll(l.dir) }

// rawTransport is what a hand-written client of the loopback vault uses: the
// default transport, trusting the CA file beside the system roots (as
// kvbench/rawget does).
func rawTransport(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	pool.AppendCertsFromPEM(pem)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool}
	return &http.Client{Transport: t}, nil
}

func rawClient(vaultURL string, cred azcore.TokenCredential, t *http.Client) (*azsecrets.Client, error) {
	return azsecrets.NewClient(vaultURL, cred, &azsecrets.ClientOptions{
		ClientOptions:                        azcore.ClientOptions{Transport: t},
		DisableChallengeResourceVerification: true,
	})
}

// rowBigBatch (row 6): GetSecrets(N) over one GetSecret for N = 256 and 1024 on the
// warm store, against ceil(N/Concurrency) round trips.
func rowBigBatch(ctx context.Context, store keyvault.Store, oneOurs time.Duration, runs int) ([]row, error) {
	kv := keyvault.New(store, &keyvault.Options{Cache: &keyvault.CacheOptions{Disabled: true}})
	names := make([]string, 1024)
	secrets := map[string]string{}
	for i := range names {
		names[i] = fmt.Sprintf("big-%04d", i)
		secrets[names[i]] = "v-" + names[i]
	}
	if err := kv.SetSecrets(ctx, secrets); err != nil {
		return nil, err
	}
	var rows []row
	for _, n := range []int{256, 1024} {
		d := median(runs, func() error {
			got, err := kv.GetSecrets(ctx, names[:n])
			if err == nil && len(got) != n {
				err = errors.New("short batch")
			}
			return err
		})
		if d < 0 {
			return nil, fmt.Errorf("GetSecrets(%d) failed", n)
		}
		trips := (n + keyvault.DefaultConcurrency - 1) / keyvault.DefaultConcurrency
		r := float64(d) / float64(oneOurs)
		limit := 1.3 * float64(trips)
		rows = append(rows, row{fmt.Sprintf("6. GetSecrets(%d) / GetSecret (%d round trips at concurrency %d)", n, trips, keyvault.DefaultConcurrency),
			fmt.Sprintf("%.2fx (%v / %v) = %.2fx of %d round trips", r, ms(d), ms(oneOurs), r/float64(trips), trips),
			fmt.Sprintf("<= %.1fx (1.3 x %d)", limit, trips), r <= limit})
	}
	return rows, nil
}

// rowColdBatch (row 7): a cold process's GetSecrets(64) (new transport, new
// credential, nothing known) against raw errgroup over azsecrets, both on
// the loopback path.
func rowColdBatch(ctx context.Context, runs int) ([]row, error) {
	lb, err := startLoopback(latency, false)
	if err != nil {
		return nil, err
	}
	defer lb.Close()
	url := lb.srv.ListenURL()
	names := make([]string, batchSize)
	secrets := map[string]string{}
	for i := range names {
		names[i] = fmt.Sprintf("cold-%02d", i)
		secrets[names[i]] = "value-" + names[i]
	}
	setup, err := azurevault.New(url, lb.srv.Credential(), &azurevault.Options{CAFile: lb.caFile})
	if err != nil {
		return nil, err
	}
	if err := keyvault.New(setup, nil).SetSecrets(ctx, secrets); err != nil {
		return nil, err
	}
	var ours, raw []time.Duration
	maxTok, maxChal := int64(0), 0
	for range max(runs, 1) {
		cred := &countingCredential{inner: lb.srv.Credential()}
		before := lb.srv.Stats().Challenges
		t0 := time.Now()
		st, err := azurevault.New(url, cred, &azurevault.Options{CAFile: lb.caFile})
		if err != nil {
			return nil, err
		}
		got, err := keyvault.New(st, &keyvault.Options{Cache: &keyvault.CacheOptions{Disabled: true}}).GetSecrets(ctx, names)
		if err != nil || len(got) != batchSize {
			return nil, fmt.Errorf("cold GetSecrets(64): %v", err)
		}
		ours = append(ours, time.Since(t0))
		maxTok = max(maxTok, cred.n.Load())
		maxChal = max(maxChal, lb.srv.Stats().Challenges-before)

		t0 = time.Now()
		t, err := rawTransport(lb.caFile)
		if err != nil {
			return nil, err
		}
		c, err := rawClient(url, lb.srv.Credential(), t)
		if err != nil {
			return nil, err
		}
		var g errgroup.Group
		vals := make([]string, len(names))
		for i, n := range names {
			g.Go(func() error {
				resp, err := c.GetSecret(ctx, n, "", nil)
				if err == nil {
					vals[i] = *resp.Value
				}
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, fmt.Errorf("raw cold errgroup: %v", err)
		}
		raw = append(raw, time.Since(t0))
		t.CloseIdleConnections()
	}
	mo, mr := med(ours), med(raw)
	r := float64(mo) / float64(mr)
	return []row{{"7. cold-process GetSecrets(64) / raw errgroup cold",
		fmt.Sprintf("%.2fx (%v / %v; %d token, %d challenge)", r, ms(mo), ms(mr), maxTok, maxChal),
		"<= 1.0x, 1 token, 1 challenge", r <= 1.0 && maxTok == 1 && maxChal == 1}}, nil
}

// rowColdGet (row 8): `amlsecrets get NAME` as a new process against a loopback
// vault, against kvbench/rawget (a hand-written azsecrets program), both
// built by kvbench and run alternately.
func rowColdGet(ctx context.Context, bins *binaries, runs int) ([]row, error) {
	lb, err := startLoopback(latency, true)
	if err != nil {
		return nil, err
	}
	defer lb.Close()
	url := lb.srv.ListenURL()
	st, err := azurevault.New(url, nil, &azurevault.Options{CAFile: lb.caFile})
	if err != nil {
		return nil, err
	}
	if _, err := keyvault.New(st, nil).SetSecret(ctx, "cold-get", "cold-get-value", nil); err != nil {
		return nil, err
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AMLSECRETS_") && !strings.HasPrefix(kv, "AZURE") {
			env = append(env, kv)
		}
	}
	env = append(env, azurevault.EnvKeyvaultURL+"="+url, azurevault.EnvCAFile+"="+lb.caFile)
	runOnce := func(bin string, args ...string) (time.Duration, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		t0 := time.Now()
		out, err := cmd.Output()
		d := time.Since(t0)
		if err != nil || strings.TrimSpace(string(out)) != "cold-get-value" {
			return 0, fmt.Errorf("%s: %v", filepath.Base(bin), err)
		}
		return d, nil
	}
	var ours, raw []time.Duration
	for i := range max(runs, 1) + 1 {
		// The pair's order alternates (ours first, then raw first), so
		// that neither always runs right after the other.
		var a, b time.Duration
		for j := range 2 {
			var err error
			if (i+j)%2 == 0 {
				a, err = runOnce(bins.amlsecrets, "get", "cold-get")
			} else {
				b, err = runOnce(bins.rawget, "cold-get")
			}
			if err != nil {
				return nil, err
			}
		}
		if i > 0 { // the first pair warms the page cache
			ours, raw = append(ours, a), append(raw, b)
		}
	}
	mo, mr := med(ours), med(raw)
	r := float64(mo) / float64(mr)
	return []row{{"8. cold-process `amlsecrets get` / raw azsecrets program",
		fmt.Sprintf("%.2fx (%v / %v)", r, ms(mo), ms(mr)), "<= 0.8x", r <= 0.8}}, nil
}

// rowUncached (row 9): the client CPU and allocations of one uncached GetSecret,
// Keyvault (cache off) over azurevault against a raw azsecrets client, on
// warm connections to an `amlsecrets serve` child process (so the
// emulator's CPU is not in this process). Each round measures both, in an
// order that alternates from round to round; medians.
func rowUncached(ctx context.Context, bins *binaries, rounds int) ([]row, error) {
	srv, stop, err := startServe(ctx, bins.amlsecrets)
	if err != nil {
		return nil, err
	}
	defer stop()
	st, err := azurevault.New(srv.url, nil, &azurevault.Options{CAFile: srv.caFile})
	if err != nil {
		return nil, err
	}
	kv := keyvault.New(st, &keyvault.Options{Cache: &keyvault.CacheOptions{Disabled: true}})
	if _, err := kv.SetSecret(ctx, "uncached", "uncached-value", nil); err != nil {
		return nil, err
	}
	t, err := rawTransport(srv.caFile)
	if err != nil {
		return nil, err
	}
	c, err := rawClient(srv.url, azurevault.LocalCredential(), t)
	if err != nil {
		return nil, err
	}
	ourGet := func() error { _, err := kv.GetSecret(ctx, "uncached"); return err }
	rawGet := func() error {
		resp, err := c.GetSecret(ctx, "uncached", "", nil)
		if err == nil && *resp.Value != "uncached-value" {
			err = errors.New("wrong value")
		}
		return err
	}
	for _, f := range []func() error{ourGet, rawGet} {
		if err := f(); err != nil {
			return nil, err
		}
	}
	var oCPU, rCPU []time.Duration
	var oAllocs, rAllocs []int64
	for r := range max(rounds, 1) {
		fs := []func() error{ourGet, rawGet}
		for j := range 2 {
			// The order alternates by round (ours first, then raw first).
			i := (r + j) % 2
			cpu, allocs, err := cpuAndAllocs(fs[i])
			if err != nil {
				return nil, err
			}
			if i == 0 {
				oCPU, oAllocs = append(oCPU, cpu), append(oAllocs, allocs)
			} else {
				rCPU, rAllocs = append(rCPU, cpu), append(rAllocs, allocs)
			}
		}
	}
	mo, mr := med(oCPU), med(rCPU)
	slices.Sort(oAllocs)
	slices.Sort(rAllocs)
	ao, ar := oAllocs[len(oAllocs)/2], rAllocs[len(rAllocs)/2]
	r := float64(mo) / float64(mr)
	return []row{
		{"9. uncached GetSecret client CPU / raw azsecrets", fmt.Sprintf("%.2fx (%.1f us / %.1f us per call)", r, us(mo), us(mr)), "<= 1.1x", r <= 1.1},
		{"9. uncached GetSecret allocations vs raw azsecrets", fmt.Sprintf("%d vs %d allocs/op (+%d)", ao, ar, ao-ar), "<= raw + 8", ao <= ar+8},
	}, nil
}

// cpuAndAllocs runs f under testing.Benchmark and returns the process CPU
// time (getrusage: user + system) and allocations per call of its final
// round.
func cpuAndAllocs(f func() error) (time.Duration, int64, error) {
	var (
		ferr error
		cpu  time.Duration
	)
	res := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		c0 := processCPU()
		n := 0
		for b.Loop() {
			if err := f(); err != nil {
				ferr = err
				b.FailNow()
			}
			n++
		}
		cpu = (processCPU() - c0) / time.Duration(max(n, 1))
	})
	if ferr != nil {
		return 0, 0, ferr
	}
	return cpu, res.AllocsPerOp(), nil
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type serveProc struct{ url, caFile string }

// startServe runs `amlsecrets serve` and reads the two variables it prints.
func startServe(ctx context.Context, bin string) (serveProc, func(), error) {
	dir, err := os.MkdirTemp("", "kvbench-serve-*")
	if err != nil {
		return serveProc{}, nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "serve", "--ca-out", filepath.Join(dir, "ca.pem"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return serveProc{}, nil, err
	}
	if err := cmd.Start(); err != nil {
		return serveProc{}, nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
	var p serveProc
	sc := bufio.NewScanner(out)
	for (p.url == "" || p.caFile == "") && sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		v = strings.Trim(v, "'")
		switch k {
		case azurevault.EnvKeyvaultURL:
			p.url = v
		case azurevault.EnvCAFile:
			p.caFile = v
		}
	}
	if p.url == "" || p.caFile == "" {
		stop()
		return serveProc{}, nil, errors.New("amlsecrets serve printed no vault URL and CA file")
	}
	go func() { _, _ = bufio.NewReader(out).WriteTo(discard{}) }()
	return p, stop, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

type binaries struct{ amlsecrets, rawget, dir string }

// build builds the amlsecrets CLI and kvbench/rawget into a temporary folder.
func build(ctx context.Context) (*binaries, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	dir, err := os.MkdirTemp("", "kvbench-bin-*")
	if err != nil {
		return nil, err
	}
	b := &binaries{amlsecrets: filepath.Join(dir, "amlsecrets"), rawget: filepath.Join(dir, "rawget"), dir: dir}
	for bin, pkg := range map[string]string{b.amlsecrets: "./cmd/amlsecrets", b.rawget: "./internal/cmd/kvbench/rawget"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("go build %s: %v: %s", pkg, err, msg)
		}
	}
	return b, nil
}

func med(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
