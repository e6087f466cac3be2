package kvemulator

// AcceptToken makes the server accept token as a bearer token from now on,
// beside the tokens of Credential (or any, with Options.AcceptAnyToken): for
// a client whose credential the test does not choose, such as this module's
// local credential for a loopback vault (azurevault.LocalCredential). An
// empty token is ignored.
func (s *Server) AcceptToken(token string) {
	if token != "" {
		s.accepted.Store(token, struct{}{})
	}
}
