package kvemulator

import (
	"maps"
	"math/rand/v2"
	"net/http"
	"time"
)

// fault is what the fault injector decided for one request.
type fault int

const (
	faultNone fault = iota
	faultError
	faultDrop
	faultTruncate
)

type faultState struct {
	rng        *rand.Rand
	latency    time.Duration
	errorRate  float64
	errStatus  int
	dropRate   float64
	failNext   int
	failStatus int
	dropNext   int
	truncNext  int

	throttleLimit  int
	throttleWindow time.Duration
	noRetryAfter   bool
	retryAfter     time.Duration
	windowStart    time.Time
	windowCount    int
}

func newFaultState(o *Options) faultState {
	seed := uint64(o.Seed)
	return faultState{
		rng:            rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		latency:        o.Latency,
		errorRate:      o.ErrorRate,
		errStatus:      o.ErrorStatus,
		dropRate:       o.DropRate,
		throttleLimit:  o.ThrottleLimit,
		throttleWindow: o.ThrottleWindow,
		noRetryAfter:   o.ThrottleNoRetryAfter,
		retryAfter:     o.RetryAfter,
	}
}

// FailNext makes the next n authenticated requests fail with status (a 4xx or
// 5xx; 0 means 503), before they are served. It replaces any earlier FailNext.
func (s *Server) FailNext(n int, status int) {
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults.failNext, s.faults.failStatus = n, status
}

// DropNext makes the server close the connection of the next n authenticated
// requests without answering them. Go's http.Transport transparently resends
// an idempotent request (GET) dropped on a reused connection, so the client may
// see the drop only in Stats; a PUT, PATCH, POST or DELETE always surfaces it.
func (s *Server) DropNext(n int) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults.dropNext = n
}

// TruncateNext makes the server serve the next n authenticated requests but
// cut each response body short (half of it, announced at full length) and
// close the connection. The request takes effect: a truncated write is stored.
func (s *Server) TruncateNext(n int) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults.truncNext = n
}

// SetLatency changes the delay added to every request.
func (s *Server) SetLatency(d time.Duration) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults.latency = d
}

// SetThrottle changes throttling: limit requests per window (limit <= 0
// disables it; window <= 0 means 1s). The current window starts afresh.
func (s *Server) SetThrottle(limit int, window time.Duration) {
	if window <= 0 {
		window = time.Second
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults.throttleLimit, s.faults.throttleWindow = limit, window
	s.faults.windowStart, s.faults.windowCount = time.Time{}, 0
}

// SetFaultRates changes ErrorRate (with its status; 0 means 503) and DropRate.
func (s *Server) SetFaultRates(errorRate float64, errorStatus int, dropRate float64) {
	if errorStatus == 0 {
		errorStatus = http.StatusServiceUnavailable
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults.errorRate, s.faults.errStatus, s.faults.dropRate = errorRate, errorStatus, dropRate
}

func (s *Server) latency() time.Duration {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.faults.latency
}

// throttle counts the request against the current window and reports whether
// it is throttled and, if so, the Retry-After value to send ("" for none).
func (s *Server) throttle() (bool, string) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	f := &s.faults
	if f.throttleLimit <= 0 {
		return false, ""
	}
	now := s.now()
	if f.windowStart.IsZero() || !now.Before(f.windowStart.Add(f.throttleWindow)) {
		f.windowStart, f.windowCount = now, 0
	}
	f.windowCount++
	if f.windowCount <= f.throttleLimit {
		return false, ""
	}
	if f.noRetryAfter {
		return true, ""
	}
	wait := f.retryAfter
	if wait <= 0 {
		wait = f.windowStart.Add(f.throttleWindow).Sub(now)
	}
	secs := int64((wait + time.Second - 1) / time.Second)
	secs = max(secs, 1)
	return true, itoa(secs)
}

// nextFault decides the fault for an authenticated, unthrottled request:
// first the "next N" knobs (drop, then error, then truncate), then the rates.
func (s *Server) nextFault() (fault, int) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	f := &s.faults
	switch {
	case f.dropNext > 0:
		f.dropNext--
		return faultDrop, 0
	case f.failNext > 0:
		f.failNext--
		return faultError, f.failStatus
	case f.truncNext > 0:
		f.truncNext--
		return faultTruncate, 0
	}
	if f.dropRate > 0 && f.rng.Float64() < f.dropRate {
		return faultDrop, 0
	}
	if f.errorRate > 0 && f.rng.Float64() < f.errorRate {
		return faultError, f.errStatus
	}
	return faultNone, 0
}

// Stats counts what the server has seen since it started or since ResetStats.
type Stats struct {
	// Requests is the number of requests received, of any kind.
	Requests int
	// Challenges is the number of 401 challenges sent.
	Challenges int
	// Throttled is the number of 429 responses sent by throttling.
	Throttled int
	// Faults is the number of injected 4xx/5xx responses.
	Faults int
	// Dropped is the number of connections dropped by DropNext or DropRate.
	Dropped int
	// Truncated is the number of responses cut short by TruncateNext.
	Truncated int
	// ByStatus counts responses by status code; dropped requests count as 0.
	ByStatus map[int]int
	// ByRoute counts responses by route, then status. Routes are the operation
	// names of the REST API: "SetSecret", "GetSecret", "UpdateSecret",
	// "DeleteSecret", "GetSecrets", "GetSecretVersions", "GetDeletedSecrets",
	// "GetDeletedSecret", "PurgeDeletedSecret", "RecoverDeletedSecret",
	// "BackupSecret", "RestoreSecret", and "Unknown" for anything else.
	ByRoute map[string]map[int]int
}

func newStats() Stats {
	return Stats{ByStatus: map[int]int{}, ByRoute: map[string]map[int]int{}}
}

// Stats returns a copy of the server's counters.
func (s *Server) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	out := s.stats
	out.ByStatus = maps.Clone(s.stats.ByStatus)
	out.ByRoute = make(map[string]map[int]int, len(s.stats.ByRoute))
	for r, m := range s.stats.ByRoute {
		out.ByRoute[r] = maps.Clone(m)
	}
	return out
}

// ResetStats sets every counter of Stats to zero. TokenRequests is not reset.
func (s *Server) ResetStats() {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	s.stats = newStats()
}

// Count returns how many responses with status the route got; status 0 means any.
func (st Stats) Count(route string, status int) int {
	if status != 0 {
		return st.ByRoute[route][status]
	}
	n := 0
	for _, c := range st.ByRoute[route] {
		n += c
	}
	return n
}

func (s *Server) record(route string, status int, update func(*Stats)) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	s.stats.Requests++
	s.stats.ByStatus[status]++
	m := s.stats.ByRoute[route]
	if m == nil {
		m = map[int]int{}
		s.stats.ByRoute[route] = m
	}
	m[status]++
	if update != nil {
		update(&s.stats)
	}
}
