// Command kvbench measures how keyvault.Keyvault behaves under load against
// the in-process Key Vault emulator (keyvaulttest.Server, 20 ms latency per
// request) and prints one table, every row measured in the same run:
//
//  1. batch: GetSecrets(64) time over one GetSecret time, for Keyvault (cache
//     off, so every name is a request) and for a plain loop of azsecrets
//     GetSecret calls. Both are warm (token fetched, connections open); each
//     time is the median of -runs rounds, and within a round the one and
//     the batch run in turn, so both see the same machine.
//     1b. the same batch ratio with a new Keyvault per call over the one
//     warm store (as a Keyvault per request handler has): the warm-up gate
//     belongs to the store, so the batch starts at once.
//
//  2. cache hit: GetSecret served from the cache, ns/op and allocs/op
//     (testing.Benchmark).
//
//  3. herd: 100 independent nodes (each its own Keyvault, azurevault Store,
//     azsecrets client, HTTP transport and cache) read the same 5 secrets at
//     once against a throttle of 200 requests per 1 s window. It reports the
//     nodes that got all 5 values, the wall time from start to the last
//     node done, and that time over the throttle floor
//     (ceil(reads/limit) - 1) x window, where reads = nodes x 5 are the
//     reads that have to get through the throttle. served, the GetSecret
//     requests the emulator answered 200 (its Stats, route GetSecret,
//     status 200), is printed beside it: it can be a little higher, when a
//     read was made again after its answer was lost on a dropped connection
//     (a big herd opens about 5,000 connections; the emulator keeps at most
//     kvemulator.DefaultMaxConns, 1,024). The floor does not count those
//     repeats. The 429s and 401 challenges it also received are printed
//     beside it, and the nodes' retries of failures other than 429 (a
//     dropped connection) with their longest wait. The nodes use
//     Keyvault's default retries (shared throttling); with
//     -independent-throttling each call waits out its own 429s instead.
//     Keyvault's retry layer is the only one that retries (azurevault
//     turns azcore's off). Each node's transport has the TLS settings of
//     azurevault.LoopbackTLSConfig and keyvaulttest's ClientOptions
//     (X25519, sessions resumed), as a herd built on keyvaulttest has:
//     every node's handshakes share this machine's CPUs,
//     where a real herd's nodes each have their own, and with Go's
//     default TLS settings they are most of the herd's CPU. -node-go-tls
//     gives the nodes Go's defaults instead (X25519MLKEM768, no session
//     resumption). It runs -herd-runs times; the median time is reported,
//     with every run's ratio beside it.
//     3b. the same with -big-nodes nodes (default 1,000), run -big-herd-runs
//     times (default 3), with the 429s per successful GET beside it
//     (medians of the runs; targets <= 1.15x the floor and <= 2 429s per
//     success). It is heavy (about 30 s a run): skip it with -skip 3b.
//
//  4. tokens: token requests made by one node's credential over a cold
//     GetSecrets(64) and the rest of its work (counted by wrapping the
//     credential); the herd's maximum per node is shown too.
//
//  6. GetSecrets(N) / GetSecret for N = 256 and 1,024 on the warm store,
//     against ceil(N/DefaultConcurrency) round trips (target <= 1.3x of
//     them).
//
//  7. cold process: a new azurevault Store (new transport, new credential)
//     reading GetSecrets(64) from a loopback emulator with its CA file,
//     against errgroup over a new raw azsecrets client (CA file beside the
//     system roots); alternate runs, medians; target <= 1.0x with one token
//     and one challenge.
//
//  8. cold `amlsecrets get NAME` as a new process against a loopback
//     emulator, against rawget (internal/cmd/kvbench/rawget, a hand-written
//     azsecrets program); kvbench builds both and runs them in pairs (at
//     least 9, the first pair discarded), each pair's order the reverse of
//     the last's; medians; target <= 0.8x.
//
//  9. uncached GetSecret client CPU (getrusage) and allocations
//     (testing.Benchmark) of Keyvault over azurevault against a raw
//     azsecrets client, on warm connections to an `amlsecrets serve` child
//     process, so the emulator's CPU is not counted; at least 9 rounds,
//     each measuring both in the reverse order of the last; medians;
//     targets <= 1.1x CPU and <= raw + 8 allocations.
//
// -skip takes a comma-separated list of rows (3, 3b, 5, 6, 7, 8, 9) to leave
// out; rows 1, 2 and 4 always run.
//
// Each row has a target; kvbench prints PASS or FAIL beside it and exits
// with status 1 when any target fails (2 on a setup error), so CI can run it.
//
// Usage:
//
//	go run ./internal/cmd/kvbench [-runs 5] [-nodes 100] [-herd-runs 3] [-big-nodes 1000] [-big-herd-runs 3] [-independent-throttling] [-node-go-tls] [-skip 3b,5] [-v]
package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/azurevault"
	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
)

const (
	latency        = 20 * time.Millisecond
	batchSize      = 64
	herdSecrets    = 5
	throttleLimit  = 200
	throttleWindow = time.Second
)

func main() {
	runs := flag.Int("runs", 5, "rounds per timing in rows 1 and 1b (the one and the batch alternate; the medians are reported)")
	nodes := flag.Int("nodes", 100, "nodes in the herd (row 3)")
	herdRuns := flag.Int("herd-runs", 3, "herd runs per configuration in row 3 (the median time is reported)")
	flag.BoolVar(&emulatorOnly, "emulator", false, "measure only the emulator's rows (5)")
	flag.IntVar(&bigNodes, "big-nodes", 1000, "nodes in the big herd (row 3b; 0 skips it)")
	flag.IntVar(&bigHerdRuns, "big-herd-runs", 3, "runs of the big herd (row 3b; the medians are reported)")
	flag.BoolVar(&nodeGoTLS, "node-go-tls", false, "herd nodes use Go's default TLS settings (X25519MLKEM768, no session resumption) instead of azurevault.LoopbackTLSConfig's (rows 3 and 3b)")
	flag.BoolVar(&independentThrottling, "independent-throttling", false, "herd nodes use keyvault.RetryOptions.IndependentThrottling (rows 3 and 3b): each call waits out its own 429s")
	flag.StringVar(&skip, "skip", "", "comma-separated rows to skip, e.g. 3b,8")
	flag.BoolVar(&verbose, "v", false, "print the emulator's counters every 100 ms during each herd, on stderr")
	flag.Parse()
	ok, err := run(*runs, *nodes, *herdRuns)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kvbench:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

type row struct {
	name, measured, target string
	pass                   bool
}

func run(runs, nodes, herdRuns int) (bool, error) {
	ctx := context.Background()
	var rows []row
	loadNote := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			loadNote = ", load average " + f[0] + " at start"
		}
	}

	if emulatorOnly {
		rows, err := emulatorRows(ctx)
		if err != nil {
			return false, err
		}
		return report(rows, loadNote), nil
	}

	srv := keyvaulttest.NewServer(&keyvaulttest.ServerOptions{Latency: latency})
	defer srv.Close()

	// Row 4 first: a cold node, counted from its very first request.
	cred := &countingCredential{inner: srv.Credential()}
	store, err := azurevault.New(srv.VaultURL(), cred, &azurevault.Options{ClientOptions: nodeClientOptions(srv)})
	if err != nil {
		return false, err
	}
	kv := keyvault.New(store, &keyvault.Options{Cache: &keyvault.CacheOptions{Disabled: true}})
	names := make([]string, batchSize)
	secrets := map[string]string{}
	for i := range names {
		names[i] = fmt.Sprintf("bench-%02d", i)
		secrets[names[i]] = fmt.Sprintf("value-%02d", i)
	}
	if err := kv.SetSecrets(ctx, secrets); err != nil { // cold: 64 concurrent first requests
		return false, err
	}

	// Row 1: batch vs one, ours and a plain azsecrets loop, both warm.
	if _, err := kv.GetSecrets(ctx, names); err != nil {
		return false, err
	}
	// The one and the batch alternate, round by round, so that both
	// medians see the same machine (other load comes and goes).
	ours := medians(runs,
		func() error { _, err := kv.GetSecret(ctx, names[0]); return err },
		func() error {
			got, err := kv.GetSecrets(ctx, names)
			if err == nil && len(got) != batchSize {
				err = errors.New("short batch")
			}
			return err
		})
	oneOurs, batchOurs := ours[0], ours[1]
	plain, err := azsecrets.NewClient(srv.VaultURL(), srv.Credential(), &azsecrets.ClientOptions{ClientOptions: srv.ClientOptions()})
	if err != nil {
		return false, err
	}
	plainGet := func(name string) error {
		_, err := plain.GetSecret(ctx, name, "", nil)
		return err
	}
	if err := plainGet(names[0]); err != nil {
		return false, err
	}
	onePlain := median(runs, func() error { return plainGet(names[0]) })
	loopPlain := median(runs, func() error {
		for _, n := range names {
			if err := plainGet(n); err != nil {
				return err
			}
		}
		return nil
	})
	for _, d := range []time.Duration{oneOurs, batchOurs, onePlain, loopPlain} {
		if d < 0 {
			return false, errors.New("row 1: a request failed")
		}
	}
	rOurs := float64(batchOurs) / float64(oneOurs)
	rPlain := float64(loopPlain) / float64(onePlain)
	rows = append(rows,
		row{"1. GetSecrets(64) / GetSecret, Keyvault", fmt.Sprintf("%.2fx (%v / %v)", rOurs, ms(batchOurs), ms(oneOurs)), "<= 2x", rOurs <= 2},
		row{"1. 64 x GetSecret / GetSecret, plain azsecrets loop", fmt.Sprintf("%.1fx (%v / %v)", rPlain, ms(loopPlain), ms(onePlain)), "~64x (reference)", rPlain >= 32})

	// Row 1b: a new Keyvault per call (a Keyvault per request handler, say)
	// over the one warm store: the warm-up gate lives with the store, so
	// the batch starts at once.
	fresh := func() *keyvault.Keyvault {
		return keyvault.New(store, &keyvault.Options{Cache: &keyvault.CacheOptions{Disabled: true}})
	}
	perCall := medians(runs,
		func() error { _, err := fresh().GetSecret(ctx, names[0]); return err },
		func() error {
			got, err := fresh().GetSecrets(ctx, names)
			if err == nil && len(got) != batchSize {
				err = errors.New("short batch")
			}
			return err
		})
	oneNew, batchNew := perCall[0], perCall[1]
	if oneNew < 0 || batchNew < 0 {
		return false, errors.New("row 1b: a request failed")
	}
	rNew := float64(batchNew) / float64(oneNew)
	rows = append(rows, row{"1b. GetSecrets(64) / GetSecret, a new Keyvault per call over one warm store", fmt.Sprintf("%.2fx (%v / %v)", rNew, ms(batchNew), ms(oneNew)), "<= 1.5x", rNew <= 1.5})

	// Row 2: a cache hit.
	cached := keyvault.New(store, nil)
	if _, err := cached.GetSecret(ctx, names[0]); err != nil {
		return false, err
	}
	var benchErr error
	res := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cached.GetSecret(ctx, names[0]); err != nil {
				benchErr = err
				b.FailNow()
			}
		}
	})
	if benchErr != nil {
		return false, benchErr
	}
	nsop := float64(res.T.Nanoseconds()) / float64(res.N)
	rows = append(rows, row{"2. cache-hit GetSecret", fmt.Sprintf("%.1f ns/op, %d allocs/op", nsop, res.AllocsPerOp()), "<= 100 ns, 0 allocs", nsop <= 100 && res.AllocsPerOp() == 0})

	// Rows 3 and 3b: the herds.
	maxTokens := int64(0)
	type herdCase struct {
		label       string
		nodes, runs int
		limit       float64
	}
	cases := []herdCase{{"3", nodes, herdRuns, 1.3}}
	if bigNodes > 0 {
		cases = append(cases, herdCase{"3b", bigNodes, bigHerdRuns, 1.15})
	}
	for _, hc := range cases {
		if skipped(hc.label) {
			continue
		}
		// The median run by time; successes and tokens are the worst of
		// all runs.
		var hs []herdResult
		for range max(hc.runs, 1) {
			h, err := herd(ctx, hc.nodes)
			if err != nil {
				return false, err
			}
			hs = append(hs, h)
		}
		slices.SortFunc(hs, func(a, b herdResult) int { return cmp.Compare(a.elapsed, b.elapsed) })
		h := hs[len(hs)/2]
		for _, o := range hs {
			h.succeeded = min(h.succeeded, o.succeeded)
			h.maxTokens = max(h.maxTokens, o.maxTokens)
		}
		maxTokens = max(maxTokens, h.maxTokens)
		floor := time.Duration(math.Ceil(float64(hc.nodes*herdSecrets)/throttleLimit)-1) * throttleWindow
		ratio := float64(h.elapsed) / float64(floor)
		// 429s per success: the median over the runs, as for the time.
		var all, allPer []string
		var pers []float64
		for _, o := range hs {
			all = append(all, fmt.Sprintf("%.2f", float64(o.elapsed)/float64(floor)))
			pers = append(pers, float64(o.throttled)/float64(max(o.served, 1)))
		}
		slices.Sort(pers)
		per := pers[len(pers)/2]
		for _, p := range pers {
			allPer = append(allPer, fmt.Sprintf("%.2f", p))
		}
		pre := fmt.Sprintf("%s. herd of %d nodes x %d secrets vs %d/%v", hc.label, hc.nodes, herdSecrets, throttleLimit, throttleWindow)
		rows = append(rows,
			row{pre + ": successes", fmt.Sprintf("%d/%d nodes (worst of %d runs)", h.succeeded, hc.nodes, len(hs)), "100%", h.succeeded == hc.nodes},
			row{pre + ": time / floor",
				fmt.Sprintf("%.2fx median of [%s] (%v / %v; served %d GETs, %d challenges; load %s)", ratio, strings.Join(all, " "), ms(h.elapsed), floor, h.served, h.challenges, h.load),
				fmt.Sprintf("<= %.2fx", hc.limit), floor > 0 && ratio <= hc.limit})
		target, pass := "(reported)", true
		if hc.label == "3b" {
			target, pass = "<= 2", per <= 2
		}
		rows = append(rows, row{pre + ": 429s per successful GET", fmt.Sprintf("%.2f median of [%s] (median-time run: %d x 429; other retries %d, longest wait %v)", per, strings.Join(allPer, " "), h.throttled, h.otherRetries, ms(h.otherMaxWait)), target, pass})
	}

	// Rows 6 to 9.
	if !skipped("6") {
		rs, err := rowBigBatch(ctx, store, oneOurs, runs)
		if err != nil {
			return false, fmt.Errorf("row 6: %w", err)
		}
		rows = append(rows, rs...)
	}
	if !skipped("7") {
		rs, err := rowColdBatch(ctx, runs)
		if err != nil {
			return false, fmt.Errorf("row 7: %w", err)
		}
		rows = append(rows, rs...)
	}
	if !skipped("8") || !skipped("9") {
		bins, err := build(ctx)
		if err != nil {
			return false, err
		}
		defer os.RemoveAll(bins.dir)
		if !skipped("8") {
			rs, err := rowColdGet(ctx, bins, max(runs, 9))
			if err != nil {
				return false, fmt.Errorf("row 8: %w", err)
			}
			rows = append(rows, rs...)
		}
		if !skipped("9") {
			rs, err := rowUncached(ctx, bins, max(runs, 9))
			if err != nil {
				return false, fmt.Errorf("row 9: %w", err)
			}
			rows = append(rows, rs...)
		}
	}

	// Row 4.
	tok := cred.n.Load()
	rows = append(rows, row{"4. token requests per process (one node)", fmt.Sprintf("%d (herd: at most %d per node)", tok, maxTokens), "1", tok == 1 && maxTokens <= 1})

	// Row 5: the emulator itself.
	if !skipped("5") {
		emu, err := emulatorRows(ctx)
		if err != nil {
			return false, err
		}
		rows = append(rows, emu...)
	}
	return report(rows, loadNote), nil
}

// report prints the table and reports whether every row passed.
func report(rows []row, loadNote string) bool {
	fmt.Printf("kvbench: Keyvault vs the keyvaulttest emulator, %v latency per request, %d CPUs%s\n", latency, numCPU(), loadNote)
	fmt.Println("(the emulator and every node share this machine's CPUs: other load inflates rows 1 and 3)")
	fmt.Println()
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ROW\tMEASURED\tTARGET\tRESULT")
	all := true
	for _, r := range rows {
		result := "PASS"
		if !r.pass {
			result, all = "FAIL", false
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.name, r.measured, r.target, result)
	}
	_ = w.Flush()
	return all
}

type herdResult struct {
	succeeded                     int
	elapsed                       time.Duration
	served, throttled, challenges int
	maxTokens                     int64
	load                          string
	otherRetries                  int64         // retries of failures other than 429
	otherMaxWait                  time.Duration // the longest of their waits
}

// herd starts nodes independent clients at once, each reading the same
// secrets through its own Keyvault, against a throttled emulator.
func herd(ctx context.Context, nodes int) (herdResult, error) {
	srv := keyvaulttest.NewServer(&keyvaulttest.ServerOptions{Latency: latency})
	defer srv.Close()
	names := make([]string, herdSecrets)
	secrets := map[string]string{}
	for i := range names {
		names[i] = fmt.Sprintf("herd-%d", i)
		secrets[names[i]] = fmt.Sprintf("herd-value-%d", i)
	}
	setup, err := azurevault.New(srv.VaultURL(), srv.Credential(), &azurevault.Options{ClientOptions: srv.ClientOptions()})
	if err != nil {
		return herdResult{}, err
	}
	if err := keyvault.New(setup, nil).SetSecrets(ctx, secrets); err != nil {
		return herdResult{}, err
	}
	srv.SetThrottle(throttleLimit, throttleWindow)
	srv.ResetStats()

	type node struct {
		kv   *keyvault.Keyvault
		cred *countingCredential
		co   azcore.ClientOptions
	}
	var otherRetries, otherMaxWait atomic.Int64 // retries of failures other than 429
	ns := make([]node, nodes)
	for i := range ns {
		co := nodeClientOptions(srv)
		cred := &countingCredential{inner: srv.Credential()}
		st, err := azurevault.New(srv.VaultURL(), cred, &azurevault.Options{ClientOptions: co})
		if err != nil {
			return herdResult{}, err
		}
		ro := &keyvault.RetryOptions{IndependentThrottling: independentThrottling, OnRetry: func(_ string, err error, wait time.Duration) {
			if !errors.Is(err, keyvault.ErrThrottled) {
				otherRetries.Add(1)
				for {
					m := otherMaxWait.Load()
					if int64(wait) <= m || otherMaxWait.CompareAndSwap(m, int64(wait)) {
						break
					}
				}
			}
		}}
		ns[i] = node{kv: keyvault.New(st, &keyvault.Options{Retry: ro}), cred: cred, co: co}
	}
	defer func() {
		for _, n := range ns {
			n.co.Transport.(*http.Client).CloseIdleConnections()
		}
	}()

	var (
		wg        sync.WaitGroup
		succeeded atomic.Int64
		start     = make(chan struct{})
	)
	hctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, n := range ns {
		wg.Go(func() {
			<-start
			got, err := n.kv.GetSecrets(hctx, names)
			if err != nil {
				return
			}
			for k, v := range secrets {
				if got[k] != v {
					return
				}
			}
			succeeded.Add(1)
		})
	}
	t0 := time.Now()
	stopTrace := make(chan struct{})
	traced := make(chan struct{})
	go func() { // the timeline, with -v
		defer close(traced)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopTrace:
				return
			case <-tick.C:
				if verbose {
					st := srv.Stats()
					fmt.Fprintf(os.Stderr, "herd t=%-6v served=%d throttled=%d challenges=%d\n", time.Since(t0).Round(time.Millisecond),
						st.Count(keyvaulttest.RouteGetSecret, http.StatusOK), st.Count(keyvaulttest.RouteGetSecret, http.StatusTooManyRequests), st.Challenges)
				}
			}
		}
	}()
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	close(stopTrace)
	<-traced

	st := srv.Stats()
	h := herdResult{
		load:       loadAverage(),
		succeeded:  int(succeeded.Load()),
		elapsed:    elapsed,
		served:     st.Count(keyvaulttest.RouteGetSecret, http.StatusOK),
		throttled:  st.Count(keyvaulttest.RouteGetSecret, http.StatusTooManyRequests),
		challenges: st.Challenges,

		otherRetries: otherRetries.Load(),
		otherMaxWait: time.Duration(otherMaxWait.Load()),
	}
	for _, n := range ns {
		h.maxTokens = max(h.maxTokens, n.cred.n.Load())
	}
	return h, nil
}

// nodeClientOptions gives a node its own HTTP transport (its own connection
// pool and TLS session cache, as a separate machine has) that trusts the
// emulator's CA and dials its listener for the vault's host name.
func nodeClientOptions(srv *keyvaulttest.Server) azcore.ClientOptions {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CACertPEM())
	addr := srv.Addr().String()
	var d net.Dialer
	tc := azurevault.LoopbackTLSConfig(pool)
	if nodeGoTLS {
		tc = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	t := &http.Transport{
		TLSClientConfig: tc,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		},
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     time.Minute,
	}
	return azcore.ClientOptions{Transport: &http.Client{Transport: t}}
}

// countingCredential counts GetToken calls: azcore's bearer-token policy
// should make one per scope per client, however many requests follow.
type countingCredential struct {
	inner azcore.TokenCredential
	n     atomic.Int64
}

func (c *countingCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.n.Add(1)
	return c.inner.GetToken(ctx, o)
}

// median runs f runs times and returns the median duration, or -1 if any
// run failed.
func median(runs int, f func() error) time.Duration {
	ds := make([]time.Duration, 0, runs)
	for range max(runs, 1) {
		t0 := time.Now()
		if err := f(); err != nil {
			return -1
		}
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// medians runs every f once per round, in turn, for runs rounds, and
// returns the median time of each; an error makes that median -1.
func medians(runs int, fs ...func() error) []time.Duration {
	ds := make([][]time.Duration, len(fs))
	out := make([]time.Duration, len(fs))
	for range max(runs, 1) {
		for i, f := range fs {
			if out[i] < 0 {
				continue
			}
			t0 := time.Now()
			if err := f(); err != nil {
				out[i] = -1
				continue
			}
			ds[i] = append(ds[i], time.Since(t0))
		}
	}
	for i := range fs {
		if out[i] == 0 {
			slices.Sort(ds[i])
			out[i] = ds[i][len(ds[i])/2]
		}
	}
	return out
}

func ms(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

func numCPU() int { return runtime.NumCPU() }

var (
	verbose, emulatorOnly bool
	bigNodes, bigHerdRuns int
	skip                  string
	independentThrottling bool
	nodeGoTLS             bool
)

func skipped(r string) bool {
	for _, s := range strings.Split(skip, ",") {
		if strings.TrimSpace(s) == r {
			return true
		}
	}
	return false
}
