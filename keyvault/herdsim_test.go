package keyvault_test

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-azureml/secrets/keyvault"
)

// simVault throttles as kvemulator does (the vault behind kvbench's herds):
// a request is decided latency after it is sent; limit requests per fixed
// window, where a window opens with the first request after the previous one
// ended; a throttled request gets 429 with Retry-After the seconds left in
// the window, rounded up (at least 1).
type simVault struct {
	latency time.Duration
	limit   int
	window  time.Duration

	mu             sync.Mutex
	windowStart    time.Time
	count          int
	served         int
	throttled      int
	firstThrottled int // 429s of a node's first request of a name
	t0             time.Time
	trace          map[int][2]int // 100 ms bucket: served, throttled
}

// simNode is one node's view of the vault: it tells the vault which
// requests are first attempts.
type simNode struct {
	*simVault
	mu     sync.Mutex
	seen   map[string]bool
	events []string
}

func (n *simNode) GetSecret(ctx context.Context, name, version string) (keyvault.Secret, error) {
	n.mu.Lock()
	first := !n.seen[name]
	if n.seen == nil {
		n.seen = map[string]bool{}
	}
	n.seen[name] = true
	n.mu.Unlock()
	if !simTail {
		return n.get(ctx, name, first)
	}
	sent := time.Since(n.t0)
	sec, err := n.get(ctx, name, first)
	n.mu.Lock()
	st := "ok"
	if err != nil {
		st = "429"
	}
	n.events = append(n.events, fmt.Sprintf("%s@%.3f:%s", name[5:], sent.Seconds(), st))
	n.mu.Unlock()
	return sec, err
}

func (v *simVault) GetSecret(ctx context.Context, name, version string) (keyvault.Secret, error) {
	return v.get(ctx, name, false)
}

func (v *simVault) get(ctx context.Context, name string, first bool) (keyvault.Secret, error) {
	if err := keyvault.RealClock.Sleep(ctx, v.latency); err != nil {
		return keyvault.Secret{}, err
	}
	v.mu.Lock()
	now := time.Now()
	if v.windowStart.IsZero() || !now.Before(v.windowStart.Add(v.window)) {
		v.windowStart, v.count = now, 0
	}
	v.count++
	b := int(now.Sub(v.t0) / (100 * time.Millisecond))
	e := v.trace[b]
	if v.count > v.limit {
		e[1]++
		v.trace[b] = e
		v.throttled++
		if first {
			v.firstThrottled++
		}
		wait := v.windowStart.Add(v.window).Sub(now)
		v.mu.Unlock()
		secs := max((wait+time.Second-1)/time.Second, 1)
		se := keyvault.Classify(429, "Throttled", nil)
		se.RetryAfter = secs * time.Second
		return keyvault.Secret{}, se
	}
	e[0]++
	v.trace[b] = e
	v.served++
	v.mu.Unlock()
	return keyvault.Secret{Properties: keyvault.Properties{Name: name, Version: "v1"}, Value: keyvault.NewValue("v-" + name)}, nil
}

func (v *simVault) SetSecret(context.Context, string, string, *keyvault.SetSecretOptions) (keyvault.Properties, error) {
	return keyvault.Properties{}, nil
}
func (v *simVault) DeleteSecret(context.Context, string) error { return nil }
func (v *simVault) ListSecrets(context.Context) iter.Seq2[keyvault.Properties, error] {
	return func(func(keyvault.Properties, error) bool) {}
}

var simTail = os.Getenv("KVSIM_TAIL") == "1"

type simResult struct {
	nodes, succeeded  int
	elapsed           time.Duration
	served, throttled int
	retries           int64
	firstThrottled    int
}

func (r simResult) floor(limit int, window time.Duration) time.Duration {
	return time.Duration(math.Ceil(float64(r.served)/float64(limit))-1) * window
}

// simHerd runs nodes independent Keyvaults (one a node, as kvbench's herd
// has), each reading secrets names at once after a start-up delay drawn
// uniformly from [0, startSpread) (kvbench's nodes reach the vault over
// hundreds of milliseconds: TLS handshakes on a shared CPU), against one
// simVault. It runs inside the caller's synctest bubble.
func simHerd(nodes, secrets int, startSpread time.Duration, ro keyvault.RetryOptions) simResult {
	v := &simVault{latency: 20 * time.Millisecond, limit: 200, window: time.Second, t0: time.Now(), trace: map[int][2]int{}}
	names := make([]string, secrets)
	for i := range names {
		names[i] = fmt.Sprintf("herd-%d", i)
	}
	var retries atomic.Int64
	ro.OnRetry = func(string, error, time.Duration) { retries.Add(1) }
	var wg sync.WaitGroup
	var succeeded atomic.Int64
	t0 := time.Now()
	var last atomic.Int64
	var all []*simNode
	for range nodes {
		sn := &simNode{simVault: v}
		all = append(all, sn)
		kv := keyvault.New(sn, &keyvault.Options{Retry: &ro})
		delay := time.Duration(rand.Int64N(int64(startSpread) + 1))
		wg.Go(func() {
			time.Sleep(delay)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			got, err := kv.GetSecrets(ctx, names)
			if err == nil && len(got) == secrets {
				succeeded.Add(1)
			}
			d := int64(time.Since(t0))
			for {
				l := last.Load()
				if d <= l || last.CompareAndSwap(l, d) {
					break
				}
			}
		})
	}
	wg.Wait()
	if simTail {
		lastT := func(sn *simNode) float64 {
			e := sn.events[len(sn.events)-1]
			f, _ := strconv.ParseFloat(e[2:strings.LastIndexByte(e, ':')], 64)
			return f
		}
		slices.SortFunc(all, func(a, b *simNode) int { return cmp.Compare(lastT(a), lastT(b)) })
		for _, sn := range all[len(all)-8:] {
			fmt.Println(strings.Join(sn.events, " "))
		}
	}
	if os.Getenv("KVSIM_TRACE") == "1" {
		for b := range int(time.Since(t0)/(100*time.Millisecond)) + 1 {
			if e := v.trace[b]; e != [2]int{} {
				fmt.Printf("t=%.1fs served %d throttled %d\n", float64(b)/10, e[0], e[1])
			}
		}
	}
	return simResult{nodes: nodes, succeeded: int(succeeded.Load()), elapsed: time.Duration(last.Load()),
		served: v.served, throttled: v.throttled, retries: retries.Load(), firstThrottled: v.firstThrottled}
}

// TestHerdSimulation runs kvbench's herds (rows 3 and 3b: 100 and 1,000
// nodes x 5 secrets against 200 GETs per 1 s window, 20 ms a request) on a
// fake clock, with shared throttling (the default), and checks them against the targets
// of rows 3 and 3b with some room for chance: the simulation has no CPU
// contention, so the real herds take somewhat longer. KVSIM_RUNS (default
// 1) repeats each and reports medians; KVSIM_SPREAD sets the start-up
// spread; KVSIM_BIG the big herd's size; KVSIM_TABLE the spread ranges
// (lo,hi,lo,hi,... in half Retry-Afters); KVSIM_INDEPENDENT=1 measures
// RetryOptions.IndependentThrottling instead (no targets); KVSIM_TRACE=1 prints the vault's
// answers every 100 ms and KVSIM_TAIL=1 the last nodes' requests.
func TestHerdSimulation(t *testing.T) {
	runs := 1
	if s := os.Getenv("KVSIM_RUNS"); s != "" {
		runs, _ = strconv.Atoi(s)
	}
	if s := os.Getenv("KVSIM_TABLE"); s != "" {
		var halves []int
		for _, f := range strings.Split(s, ",") {
			n, _ := strconv.Atoi(f)
			halves = append(halves, n)
		}
		defer keyvault.SetThrottleSpread(halves)()
	}
	independent := os.Getenv("KVSIM_INDEPENDENT") == "1"
	ro := keyvault.RetryOptions{IndependentThrottling: independent}
	for _, hc := range []struct {
		nodes      int
		spread     time.Duration
		maxRatio   float64
		maxPerGood float64
	}{{100, 300 * time.Millisecond, 1.3, 1}, {1000, 3 * time.Second, 1.25, 2}} {
		if s := os.Getenv("KVSIM_BIG"); s != "" && hc.nodes == 1000 {
			hc.nodes, _ = strconv.Atoi(s)
			hc.spread = time.Duration(hc.nodes) * 3 * time.Millisecond
		}
		if s := os.Getenv("KVSIM_SPREAD"); s != "" {
			hc.spread, _ = time.ParseDuration(s)
		}
		if hc.nodes > 100 && testing.Short() {
			continue
		}
		var ratios, pers []float64
		for range max(runs, 1) {
			var r simResult
			synctest.Test(t, func(t *testing.T) { r = simHerd(hc.nodes, 5, hc.spread, ro) })
			fl := r.floor(200, time.Second)
			ratio := float64(r.elapsed) / float64(fl)
			per := float64(r.throttled) / float64(r.served)
			ratios, pers = append(ratios, ratio), append(pers, per)
			t.Logf("%d nodes: %d/%d ok, %v / floor %v = %.2fx, %d served, %d x 429 (%.2f per success; %d of first attempts), retries %d",
				hc.nodes, r.succeeded, r.nodes, r.elapsed.Round(time.Millisecond), fl, ratio, r.served, r.throttled, per, r.firstThrottled, r.retries)
			if r.succeeded != r.nodes {
				t.Errorf("%d nodes: %d succeeded", hc.nodes, r.succeeded)
			}
			if int64(r.throttled) != r.retries {
				t.Errorf("%d nodes: %d x 429 but %d retries reported: every retry is reported", hc.nodes, r.throttled, r.retries)
			}
		}
		slices.Sort(ratios)
		slices.Sort(pers)
		ratio, per := ratios[len(ratios)/2], pers[len(pers)/2]
		t.Logf("%d nodes: median %.2fx floor, %.2f 429s per success (range %.2f-%.2f, %.2f-%.2f)", hc.nodes, ratio, per,
			ratios[0], ratios[len(ratios)-1], pers[0], pers[len(pers)-1])
		if !independent && (hc.nodes == 100 || hc.nodes == 1000) {
			if ratio > hc.maxRatio {
				t.Errorf("%d nodes: %.2fx the floor, want <= %.2fx", hc.nodes, ratio, hc.maxRatio)
			}
			if per > hc.maxPerGood {
				t.Errorf("%d nodes: %.2f 429s per successful GET, want <= %.2f", hc.nodes, per, hc.maxPerGood)
			}
		}
	}
}
