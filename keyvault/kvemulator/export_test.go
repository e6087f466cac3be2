package kvemulator

// OnLatencyWait makes every request of s call f as it starts waiting out
// Options.Latency, so that a test knows a request has reached the server.
func OnLatencyWait(s *Server, f func()) { s.latencyHook.Store(&f) }
