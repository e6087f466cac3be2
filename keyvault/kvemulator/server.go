package kvemulator

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// DefaultVaultName is the vault name Start uses when Options.VaultName is empty.
const DefaultVaultName = "keyvaulttest"

// DefaultTenantID is the tenant the server names in its authentication challenge
// when Options.TenantID is empty.
const DefaultTenantID = "00000000-0000-0000-0000-000000000000"

// ChallengeResource is the resource the server names in its authentication challenge,
// as Azure Key Vault in the public cloud does.
const ChallengeResource = "https://vault.azure.net"

// DefaultPropagationDelay is Options.PropagationDelay's default: short, so
// that test suites stay fast, yet far longer than a request on loopback, so
// that code that forgets to poll fails here as it would on Azure.
const DefaultPropagationDelay = 100 * time.Millisecond

// MaxValueBytes is the largest secret value, in bytes, the server accepts (25 KiB, as Key Vault).
const MaxValueBytes = 25 * 1024

// Defaults of the server's bounds (Options).
const (
	// DefaultReadHeaderTimeout bounds the TLS handshake and the reading of a
	// request's headers.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout bounds the reading of a whole request, body included.
	DefaultReadTimeout = 30 * time.Second
	// DefaultIdleTimeout is how long a keep-alive connection may sit idle.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultMaxBodyBytes is the largest request body: a set at Key Vault's
	// limits (25 KiB value, 15 tags of 512 characters, JSON-escaped) with
	// ample headroom. A restore may send four times as much, for backups of
	// secrets with many versions.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultMaxConns caps open connections; idle ones are shed first.
	DefaultMaxConns = 1024
)

// Options configures a Server. The zero value is a well-behaved vault:
// no latency, no throttling, no faults.
type Options struct {
	// VaultName is the vault's name; VaultURL is https://VaultName.vault.azure.net/.
	// Default DefaultVaultName.
	VaultName string

	// Addr is the TCP address to listen on. Default "127.0.0.1:0" (a free loopback port).
	Addr string

	// TenantID is named in the authentication challenge. Default DefaultTenantID.
	TenantID string

	// AcceptAnyToken makes the server accept any well-formed bearer token
	// ("Authorization: Bearer <token>" with a non-empty token), not only the
	// tokens of Credential. The standalone `amlsecrets serve` sets it so that
	// other SDKs and tools work with any credential.
	AcceptAnyToken bool

	// Token, when set, is the one bearer token the server accepts (and
	// Credential issues) in place of a random one. AcceptAnyToken wins over
	// it. `amlsecrets serve --allow-remote` sets it from --token-file.
	Token string

	// Latency delays every request, challenges included, before it is answered.
	// A request whose context ends first (client gone, server closing) is abandoned.
	Latency time.Duration

	// ThrottleLimit, when positive, is the number of requests accepted per
	// ThrottleWindow; further requests in the same window get 429 Throttled.
	// Windows are fixed: a window opens with the first counted request and lasts
	// ThrottleWindow (default 1s). Unauthenticated requests answered with the 401
	// challenge are not counted and never throttled, as they carry no identity.
	ThrottleLimit  int
	ThrottleWindow time.Duration

	// ThrottleNoRetryAfter omits the Retry-After header from 429 responses,
	// as Key Vault sometimes does.
	ThrottleNoRetryAfter bool

	// RetryAfter, when positive, is the Retry-After sent with 429 responses
	// (rounded up to whole seconds). By default the server sends the time left
	// in the current window, rounded up to whole seconds (at least 1).
	RetryAfter time.Duration

	// ErrorRate is the fraction (0..1) of authenticated requests answered with
	// ErrorStatus instead of being served. Decisions are drawn from a generator
	// seeded with Seed, so a given sequence of requests fails the same way each run.
	ErrorRate float64

	// ErrorStatus is the status of injected errors. Default 503.
	ErrorStatus int

	// DropRate is the fraction (0..1) of authenticated requests whose connection
	// is closed without any response.
	DropRate float64

	// Seed seeds the generator behind ErrorRate and DropRate.
	Seed int64

	// StatePath, when set, persists the vault's contents to this file: loaded
	// at start (malformed content is refused), then every write is appended and
	// fsynced before it is applied and acknowledged; a write whose save fails
	// answers 500 and changes nothing. Concurrent writes share one fsync. The
	// file is compacted (rewritten atomically) at start, which checks that it
	// can be written, and whenever it has grown to twice the vault. Temporary
	// files a killed server left beside it are removed at start. The file holds
	// secret values; it is created with mode 0600.
	StatePath string

	// PropagationDelay is how long a delete, recover or purge takes to show, as
	// in Key Vault, where they propagate over seconds: after a delete,
	// /deletedsecrets/NAME answers 404 (and a set of the name 409) until the
	// delay has passed; after a recover, /secrets/NAME answers 404; after a
	// purge, a restore of the name answers 409. Clients must poll, as
	// the SDKs' pollers do. 0 means DefaultPropagationDelay; negative means
	// none, every change visible at once.
	PropagationDelay time.Duration

	// ReadHeaderTimeout, ReadTimeout and IdleTimeout bound how long a
	// connection may take to send a request's headers, a whole request, and
	// how long it may sit idle between requests. 0 means the Default...
	// constant; negative means no limit.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	IdleTimeout       time.Duration

	// MaxBodyBytes is the largest request body (4x for a restore); a larger one
	// gets 413 without being read. 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64

	// MaxConns caps open connections: past it, the longest-idle connection is
	// closed to let the new one in. 0 means DefaultMaxConns; negative, no cap.
	MaxConns int

	// Now is the server's clock, used for timestamps and throttle windows.
	// Default time.Now.
	Now func() time.Time
}

// Server is an in-process HTTPS emulator of the Azure Key Vault secrets API.
// It is safe for concurrent use. Create it with Start and stop it with Close.
type Server struct {
	opts      Options
	vaultName string
	vaultHost string
	now       func() time.Time

	ln        net.Listener
	http      *http.Server
	serveDone chan struct{}
	closing   chan struct{}
	closeOnce sync.Once
	inflight  sync.WaitGroup

	caPEM     []byte
	caCert    *x509.Certificate
	cert      tls.Certificate
	transport *http.Transport

	token         string
	tokenRequests atomic.Int64
	accepted      sync.Map // more bearer tokens accepted (AcceptToken)

	store *store
	conns *connTracker

	faultMu sync.Mutex
	faults  faultState

	statsMu sync.Mutex
	stats   Stats

	latencyHook atomic.Pointer[func()] // tests: called as a request starts waiting out its latency
}

// Start starts a Server on opts.Addr (default a free loopback port) and
// returns once it is listening. opts nil is a well-behaved vault. Callers must
// Close it.
func Start(opts *Options) (*Server, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.VaultName == "" {
		o.VaultName = DefaultVaultName
	}
	if !validName(o.VaultName) || len(o.VaultName) > 24 || strings.HasPrefix(o.VaultName, "-") {
		return nil, fmt.Errorf("invalid vault name %q", o.VaultName)
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.TenantID == "" {
		o.TenantID = DefaultTenantID
	}
	if o.ThrottleWindow <= 0 {
		o.ThrottleWindow = time.Second
	}
	if o.ErrorStatus == 0 {
		o.ErrorStatus = http.StatusServiceUnavailable
	}
	if o.ErrorRate < 0 || o.ErrorRate > 1 || o.DropRate < 0 || o.DropRate > 1 {
		return nil, errors.New("ErrorRate and DropRate must be within 0..1")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.ReadHeaderTimeout = orDefault(o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	o.ReadTimeout = orDefault(o.ReadTimeout, DefaultReadTimeout)
	o.IdleTimeout = orDefault(o.IdleTimeout, DefaultIdleTimeout)
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxConns == 0 {
		o.MaxConns = DefaultMaxConns
	}
	switch {
	case o.PropagationDelay == 0:
		o.PropagationDelay = DefaultPropagationDelay
	case o.PropagationDelay < 0:
		o.PropagationDelay = 0
	}

	s := &Server{
		opts:      o,
		vaultName: strings.ToLower(o.VaultName),
		now:       o.Now,
		serveDone: make(chan struct{}),
		closing:   make(chan struct{}),
		store:     newStore(o.PropagationDelay, o.Now),
	}
	s.vaultHost = s.vaultName + ".vault.azure.net"
	s.faults = newFaultState(&o)
	s.stats = newStats()

	var tok [16]byte
	_, _ = rand.Read(tok[:])
	s.token = "kvemulator." + hex.EncodeToString(tok[:])
	if o.Token != "" {
		s.token = o.Token
	}

	if o.StatePath != "" {
		l, err := openLog(o.StatePath, s.store.m, o.Now().UnixNano())
		if err != nil {
			return nil, err
		}
		s.store.log = l
	}

	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		s.store.log.close()
		return nil, err
	}
	if err := s.makeCertificates(ln.Addr()); err != nil {
		_ = ln.Close()
		s.store.log.close()
		return nil, err
	}
	s.ln = ln

	pool := x509.NewCertPool()
	pool.AddCert(s.caCert)
	listenAddr := ln.Addr().String()
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	s.transport = &http.Transport{
		// Sessions are resumed and X25519 preferred, as azurevault's
		// loopback transport does: a new connection costs about 0.5 ms of
		// CPU instead of 1.4 ms with X25519MLKEM768.
		TLSClientConfig: &tls.Config{
			RootCAs:            pool,
			MinVersion:         tls.VersionTLS12,
			ClientSessionCache: tls.NewLRUClientSessionCache(256),
			CurvePreferences:   []tls.CurveID{tls.X25519, tls.CurveP256},
		},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp", listenAddr)
		},
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     clientIdleTimeout(o.IdleTimeout), // before the server closes them
		TLSHandshakeTimeout: 10 * time.Second,
	}

	s.conns = newConnTracker(o.MaxConns)
	s.http = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ConnState:         s.conns.track,
		ErrorLog:          log.New(io.Discard, "", 0),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{s.cert},
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"http/1.1"}, // HTTP/1.1 only, so dropped connections are real drops
		},
	}
	tlsLn := tls.NewListener(ln, s.http.TLSConfig)
	go func() {
		defer close(s.serveDone)
		_ = s.http.Serve(tlsLn)
	}()
	return s, nil
}

// orDefault maps 0 to def and a negative duration to 0 (no limit).
func orDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// clientIdleTimeout keeps the client side's idle connections for less than
// the server does, so clients never reuse a connection the server is closing.
func clientIdleTimeout(serverIdle time.Duration) time.Duration {
	if serverIdle <= 0 {
		return 90 * time.Second
	}
	return serverIdle / 2
}

// OpenConns is the number of connections the server holds open.
func (s *Server) OpenConns() int { return s.conns.open() }

// VaultURL is the vault's URL, https://NAME.vault.azure.net/. Clients reach it
// through ClientOptions, whose Transport dials the server's listener.
func (s *Server) VaultURL() string { return "https://" + s.vaultHost + "/" }

// VaultName is the vault's name, in lower case.
func (s *Server) VaultName() string { return s.vaultName }

// ListenURL is the URL of the listener itself, https://127.0.0.1:PORT/, which
// any HTTPS client trusting CACertPEM can use directly. Clients of this URL must
// disable the SDK's challenge-resource verification.
func (s *Server) ListenURL() string {
	addr := s.ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "https://" + net.JoinHostPort(host, fmt.Sprint(addr.Port)) + "/"
}

// Addr is the listener's network address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// CACertPEM is the PEM encoding of the certificate authority that signed the
// server's certificate.
func (s *Server) CACertPEM() []byte { return append([]byte(nil), s.caPEM...) }

// Certificate is the certificate authority that signed the server's certificate.
func (s *Server) Certificate() *x509.Certificate { return s.caCert }

// ClientOptions returns options for an Azure SDK client of this vault: its
// Transport trusts the server's CA and dials every address to the server's
// listener, so requests for VaultURL reach the server with their real host name
// and the SDK's challenge-resource verification stays on. It resumes TLS
// sessions and prefers X25519 key exchange. Retries keep azcore's
// defaults; set Retry.MaxRetries = -1 to see faults unretried. All clients share
// one connection pool, closed by Close.
func (s *Server) ClientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{Transport: &http.Client{Transport: s.transport}}
}

// HTTPClient returns an *http.Client with the same Transport as ClientOptions,
// for raw requests to VaultURL or ListenURL.
func (s *Server) HTTPClient() *http.Client { return &http.Client{Transport: s.transport} }

// Credential returns a fake azcore.TokenCredential. Its tokens, issued for any
// scope and valid for an hour, are accepted by this server only.
func (s *Server) Credential() azcore.TokenCredential { return fakeCredential{s} }

// Token is the bearer token Credential issues, for raw HTTP requests.
func (s *Server) Token() string { return s.token }

// TokenRequests is how many times Credential's GetToken has been called.
func (s *Server) TokenRequests() int64 { return s.tokenRequests.Load() }

type fakeCredential struct{ s *Server }

func (c fakeCredential) GetToken(ctx context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if err := ctx.Err(); err != nil {
		return azcore.AccessToken{}, err
	}
	c.s.tokenRequests.Add(1)
	return azcore.AccessToken{Token: c.s.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// Close stops the server: it closes the listener and every connection, waits
// for in-flight handlers, and closes the idle connections of ClientOptions'
// Transport. Close is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		_ = s.http.Close()
		<-s.serveDone
		s.inflight.Wait()
		// Connections answered with "Connection: close" linger briefly in
		// net/http after Close; let them finish, within a bound.
		t := time.NewTimer(2 * time.Second)
		select {
		case <-s.conns.drained():
		case <-t.C:
		}
		t.Stop()
		s.transport.CloseIdleConnections()
		s.store.log.close()
	})
}

// Shutdown stops the server gracefully: it stops accepting connections and
// waits for in-flight requests to finish, or for ctx to end, then closes it.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	s.Close()
	return err
}
