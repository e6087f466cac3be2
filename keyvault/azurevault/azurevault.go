// Package azurevault is a keyvault.Store over the Azure SDK's
// azsecrets.Client: the real Azure Key Vault. It is the only package of this
// module that imports azsecrets.
//
// It lists through the SDK's pager, classifies every failure with the
// keyvault sentinels (errors.As still reaches *azcore.ResponseError), and
// never turns on body logging, so azcore's logger cannot write a value.
// Logging and tracing are azcore's, configured through Options.ClientOptions.
//
// A Store does not retry: azcore's retry policy is turned off (a per-try
// timeout, Retry.TryTimeout, is kept), so that the one retry layer of the
// request path, keyvault.RetryStore under keyvault.Keyvault, sees and counts
// every attempt. Use a Store through keyvault.New, which adds it.
//
// A Store sends its first request alone, until the vault's authentication
// challenge is known (the first token request) or the vault has answered:
// so a cold batch fetches one token, not one per request.
//
// # Environment
//
// NewFromEnv picks the vault from the environment:
//
//	AMLSECRETS_KEYVAULT_URL  the vault URL (EnvKeyvaultURL)
//	AMLSECRETS_CA_FILE       a PEM CA, the only one trusted for a loopback
//	                         vault (EnvCAFile); unused for any other host
//
// For a loopback vault host (127.0.0.0/8, ::1, localhost), as printed by
// `amlsecrets serve`, the CA file is trusted, the SDK's challenge-resource
// verification is relaxed and, when no credential is given, a local static
// credential is used. None of this applies to any other host, and an http://
// URL is always refused.
//
// # Errors
//
// Errors wrap keyvault.ErrNotFound, ErrPermission, ErrDisabled,
// ErrThrottled, ErrConflict or ErrUnavailable as the service answered (see
// keyvault.Classify); context errors come back unchanged.
package azurevault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/go-azureml/secrets/internal/errmap"
	"github.com/go-azureml/secrets/internal/hosts"
	"github.com/go-azureml/secrets/internal/safefile"
	"github.com/go-azureml/secrets/internal/safetext"
	"github.com/go-azureml/secrets/keyvault"

	"github.com/go-azureml/secrets/internal/safeopts"
)

var (
	_ keyvault.Store             = (*Store)(nil)
	_ keyvault.VersionLister     = (*Store)(nil)
	_ keyvault.PropertiesUpdater = (*Store)(nil)
	_ keyvault.DeletedLister     = (*Store)(nil)
	_ keyvault.Recoverer         = (*Store)(nil)
	_ keyvault.Purger            = (*Store)(nil)
)

// Environment variables NewFromEnv reads.
const (
	// EnvKeyvaultURL names the vault to use, e.g. the URL `amlsecrets serve`
	// prints.
	EnvKeyvaultURL = "AMLSECRETS_KEYVAULT_URL"
	// EnvCAFile names a PEM file of CA certificates, the only ones trusted
	// for a loopback vault (no public CA issues certificates for a loopback
	// address).
	EnvCAFile = "AMLSECRETS_CA_FILE"
)

// DefaultRetryStatusCodes are the HTTP statuses other than 429 that
// keyvault.RetryStore retries for reads (through keyvault.ErrUnavailable).
//
// Deprecated: a Store no longer has azcore retry anything, so
// ClientOptions.Retry.StatusCodes has no effect; see the package doc.
func DefaultRetryStatusCodes() []int {
	return []int{
		http.StatusRequestTimeout,      // 408
		http.StatusInternalServerError, // 500
		http.StatusBadGateway,          // 502
		http.StatusServiceUnavailable,  // 503
		http.StatusGatewayTimeout,      // 504
	}
}

// ErrNoVaultURL is returned by NewFromEnv when AMLSECRETS_KEYVAULT_URL is not
// set.
var ErrNoVaultURL = errors.New("azurevault: " + EnvKeyvaultURL + " is not set")

// Options configure a Store. A nil *Options means defaults.
type Options struct {
	// ClientOptions configure the azcore pipeline: Cloud, Transport,
	// Logging, Telemetry, Retry.TryTimeout. azcore's retries are always
	// off (Retry.MaxRetries is set to -1): keyvault.RetryStore is the one
	// layer that retries. Logging.IncludeBody is always forced off, since bodies carry secret
	// values, and Authorization and other credential headers are never let
	// through azcore's log redaction.
	ClientOptions azcore.ClientOptions
	// CAFile is a PEM file of CA certificates (the emulator's, as
	// `amlsecrets serve` writes it). It is used only for a loopback vault
	// host and only when ClientOptions.Transport is nil, and it is then the
	// only trust: the system roots are not loaded, since no public CA issues
	// certificates for a loopback address. The transport resumes TLS
	// sessions and prefers X25519 (LoopbackTLSConfig). A real vault's
	// transport is unchanged.
	CAFile string
	// DisableChallengeResourceVerification turns off the SDK's check that
	// the vault's authentication challenge names a Key Vault resource. It is
	// turned off by itself for a loopback host; leave this false otherwise.
	DisableChallengeResourceVerification bool
	// Getenv reads the environment for NewFromEnv; nil means os.Getenv.
	Getenv func(string) string
}

// Store is a keyvault.Store over one Azure Key Vault. Keep one per vault per
// process: its client caches the bearer token, so every request after the
// first reuses it.
type Store struct {
	client   *azsecrets.Client
	vaultURL string
	host     string
	loopback bool
	gate     *gate
}

// New returns a Store for the vault at vaultURL (https://NAME.vault.azure.net/).
// cred authenticates requests; it may be nil only for a loopback vault, which
// gets a local static credential. An http:// URL is refused: it would send
// the bearer token and every value in clear text.
func New(vaultURL string, cred azcore.TokenCredential, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	u, err := url.Parse(vaultURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("azurevault: vault URL %q is not a URL like https://NAME.vault.azure.net/", vaultURL)
	}
	if u.Scheme != "https" {
		return nil, fmt.Errorf("azurevault: vault URL %q must use https: Key Vault requests carry a bearer token and secret values, which must not travel in clear text", vaultURL)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("azurevault: vault URL %q has a path or query: it must be the vault's root, like https://%s/", vaultURL, u.Host)
	}
	loopback := IsLoopback(u.Hostname())
	co := safeopts.Client(opts.ClientOptions)
	// One owner per retry: keyvault.RetryStore. azcore's policy keeps only
	// its per-try timeout.
	co.Retry.MaxRetries = -1
	if loopback && co.Transport == nil && opts.CAFile != "" {
		t, err := transportWithCA(opts.CAFile)
		if err != nil {
			return nil, err
		}
		co.Transport = t
	}
	switch {
	case cred == nil && !loopback:
		return nil, fmt.Errorf("azurevault: no credential for vault %s: pass one (credential.New picks the right one for where the code runs)", u.Host)
	case cred == nil:
		cred = LocalCredential()
	case loopback:
		// Challenge verification is off for a loopback host, so the
		// listener names the token's audience: hand out a token for the
		// cloud's Key Vault audience only, never one for ARM, Graph or
		// Storage.
		if _, local := cred.(localCredential); !local {
			cred = vaultOnly{cred: cred, host: u.Host, aud: hosts.VaultAudience(co.Cloud)}
		}
	}
	g := newGate()
	c, err := azsecrets.NewClient(vaultURL, gatedCredential{cred: cred, g: g}, &azsecrets.ClientOptions{
		ClientOptions:                        co,
		DisableChallengeResourceVerification: loopback || opts.DisableChallengeResourceVerification,
	})
	if err != nil {
		return nil, fmt.Errorf("azurevault: %w", err)
	}
	return &Store{client: c, vaultURL: vaultURL, host: u.Host, loopback: loopback, gate: g}, nil
}

// NewFromEnv returns a Store for the vault named by AMLSECRETS_KEYVAULT_URL,
// trusting AMLSECRETS_CA_FILE for a loopback vault (unless opts.CAFile is
// set). It returns ErrNoVaultURL when the variable is unset.
func NewFromEnv(cred azcore.TokenCredential, opts *Options) (*Store, error) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	vaultURL := strings.TrimSpace(getenv(EnvKeyvaultURL))
	if vaultURL == "" {
		return nil, ErrNoVaultURL
	}
	if o.CAFile == "" {
		o.CAFile = getenv(EnvCAFile)
	}
	return New(vaultURL, cred, &o)
}

// VaultURL returns the vault's URL.
func (s *Store) VaultURL() string { return s.vaultURL }

// String names the vault; it shows no credential.
func (s *Store) String() string { return "Azure Key Vault " + s.vaultURL }

// Client returns the underlying azsecrets client, for what this package does
// not cover (backup and restore, for example).
func (s *Store) Client() *azsecrets.Client { return s.client }

// IsLoopbackURL reports whether vaultURL names a loopback host (see
// IsLoopback), as the URL `amlsecrets serve` prints does. An unparsable URL is
// not loopback.
func IsLoopbackURL(vaultURL string) bool { return hosts.IsLoopbackURL(vaultURL) }

// IsLoopback reports whether host (without port; brackets allowed) is
// "localhost" or a loopback IP address (127.0.0.0/8, ::1). It is the one
// loopback rule of this module: the CLI, run, workspace and secret references
// all use it.
func IsLoopback(host string) bool { return hosts.IsLoopback(host) }

// MaxCAFileBytes bounds the CA file read from AMLSECRETS_CA_FILE.
const MaxCAFileBytes = 1 << 20

// caFix is what to do about a CA file that cannot be used: most often it is
// left over from an `amlsecrets serve` that has exited.
const caFix = "if it is left over from an earlier 'amlsecrets serve', restart 'amlsecrets serve > amlsecrets.env' and reload its output ('set -a; . ./amlsecrets.env; set +a'), or unset " + EnvCAFile

// transportWithCA trusts the CA in file, which must be the user's own (a
// regular file owned by the current user or root, not writable by group or
// others): a CA planted by another user at a path the shell still exports
// would let that user read every value sent.
func transportWithCA(file string) (*http.Client, error) {
	pem, err := safefile.ReadTrusted(file, MaxCAFileBytes, "CA file ("+EnvCAFile+")")
	if errors.Is(err, fs.ErrNotExist) {
		// `amlsecrets serve` writes a fresh CA file at each start and
		// removes it on exit: a shell that loaded an old amlsecrets.env
		// points at a file that is gone.
		return nil, fmt.Errorf("azurevault: read CA file (%s): %w; if 'amlsecrets serve' was restarted, load the amlsecrets.env it printed again (set -a; . ./amlsecrets.env; set +a), else restart 'amlsecrets serve'", EnvCAFile, err)
	}
	if err != nil {
		if errors.Is(err, safefile.ErrUntrusted) || errors.Is(err, safefile.ErrTooLarge) {
			return nil, fmt.Errorf("azurevault: %w; %s", err, caFix)
		}
		return nil, fmt.Errorf("azurevault: CA file (%s): %w; %s", EnvCAFile, err, caFix)
	}
	// Only the emulator's CA: no public CA issues certificates for a
	// loopback address, so the system roots (about 17 ms to load, 149
	// file opens) could never verify this vault.
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("azurevault: CA file %s holds no PEM certificate", file)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = LoopbackTLSConfig(pool)
	// Keep a batch's connections: keyvault.DefaultConcurrency requests may
	// be in flight at once, and each new connection is a TLS handshake.
	t.MaxIdleConnsPerHost = keyvault.DefaultConcurrency
	return &http.Client{Transport: t}, nil
}

// LoopbackTLSConfig returns the client TLS configuration for a loopback
// vault, trusting roots only (the emulator's CA): TLS 1.2 or later, sessions resumed from a cache (a resumed handshake skips the
// certificate chain check), and X25519 key exchange (about 0.5 ms of CPU per
// new connection instead of 1.4 ms with Go's default post-quantum
// X25519MLKEM768, which protects against recording traffic for later
// decryption, a threat that does not apply to a loopback connection). It is
// used only for loopback vaults: the transport of a real vault keeps Go's and
// azcore's defaults.
func LoopbackTLSConfig(roots *x509.CertPool) *tls.Config {
	return &tls.Config{
		RootCAs:            roots,
		MinVersion:         tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(keyvault.DefaultConcurrency),
		CurvePreferences:   []tls.CurveID{tls.X25519, tls.CurveP256},
	}
}

// LocalCredential returns the static credential used for a loopback
// emulator: a fixed, well-formed bearer token valid for a day, which
// `amlsecrets serve` accepts. It is never used for any other host.
func LocalCredential() azcore.TokenCredential { return localCredential{} }

type localCredential struct{}

func (localCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "amlsecrets-local-emulator", ExpiresOn: time.Now().Add(24 * time.Hour)}, nil
}

// call sends one request through the warm-up gate and classifies its error.
func (s *Store) call(ctx context.Context, fn func(context.Context) error) (err error) {
	leave, err := s.gate.enter(ctx)
	if err != nil {
		return err
	}
	defer func() { leave(err) }()
	return s.classify(fn(ctx))
}

// classify maps an SDK error to the keyvault sentinels (errmap.FromAzure)
// and marks a refused connection to a loopback vault as final, with what to
// do: nothing listens there, so retrying for minutes would only hide that.
func (s *Store) classify(err error) error {
	out := errmap.FromAzure(err)
	if !s.loopback || !errors.Is(err, syscall.ECONNREFUSED) {
		return out
	}
	var se *keyvault.ServiceError
	if errors.As(out, &se) {
		se.Permanent = true
		se.Hint = LoopbackRefusedHint(s.host)
	}
	return out
}

// LoopbackRefusedHint says what to do when nothing listens at a loopback
// vault's host:port.
func LoopbackRefusedHint(host string) string {
	return "nothing is listening at " + host + ": start 'amlsecrets serve' (with the same --addr), or, if it was restarted, reload amlsecrets.env: a restart without --addr changes the port and the CA file"
}

// ErrForeignAudience is wrapped by the error a request to a loopback vault
// fails with when the vault's challenge asks for a token of any audience but
// the cloud's Key Vault one (a listener that is not the emulator, fishing for
// an ARM, Graph or Storage token). No token is requested or sent.
var ErrForeignAudience = errors.New("azurevault: a loopback vault asked for a token that is not for Key Vault")

// vaultOnly hands out cred's tokens only for the Key Vault audience aud.
type vaultOnly struct {
	cred azcore.TokenCredential
	host string
	aud  string
}

func (v vaultOnly) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(opts.Scopes) == 0 {
		return azcore.AccessToken{}, fmt.Errorf("%w: no scope; no token sent to %s", ErrForeignAudience, v.host)
	}
	for _, sc := range opts.Scopes {
		if !hosts.IsVaultScope(sc, v.aud) {
			return azcore.AccessToken{}, fmt.Errorf("%w: %s asked for %s, not %s; no token sent (is %s the vault 'amlsecrets serve' printed?)",
				ErrForeignAudience, v.host, safetext.Quote(sc, 120), v.aud, v.host)
		}
	}
	return v.cred.GetToken(ctx, opts)
}

func validate(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return keyvault.ValidateName(name)
}

// GetSecret gets a version of the named secret ("" = latest).
func (s *Store) GetSecret(ctx context.Context, name, version string) (keyvault.Secret, error) {
	if err := validate(ctx, name); err != nil {
		return keyvault.Secret{}, err
	}
	var resp azsecrets.GetSecretResponse
	err := s.call(ctx, func(ctx context.Context) (err error) {
		resp, err = s.client.GetSecret(ctx, name, version, nil)
		return err
	})
	if err != nil {
		return keyvault.Secret{}, err
	}
	if resp.ID == nil || resp.Value == nil {
		return keyvault.Secret{}, errmap.BadResponse("NotASecret", "the answer holds no secret")
	}
	p := props(resp.ID, resp.Attributes, resp.ContentType, resp.Tags, name)
	if p.Version == "" {
		p.Version = version
	}
	return keyvault.Secret{Properties: p, Value: keyvault.NewValue(deref(resp.Value))}, nil
}

// SetSecret sets a new version of the named secret.
func (s *Store) SetSecret(ctx context.Context, name, value string, opts *keyvault.SetSecretOptions) (keyvault.Properties, error) {
	if err := validate(ctx, name); err != nil {
		return keyvault.Properties{}, err
	}
	if err := keyvault.ValidateValue(value); err != nil {
		return keyvault.Properties{}, err
	}
	params := azsecrets.SetSecretParameters{Value: &value}
	if opts != nil {
		if opts.ContentType != "" {
			params.ContentType = &opts.ContentType
		}
		params.Tags = tagsOut(opts.Tags)
		attrs := &azsecrets.SecretAttributes{Enabled: opts.Enabled}
		if !opts.Expires.IsZero() {
			attrs.Expires = to.Ptr(opts.Expires)
		}
		if !opts.NotBefore.IsZero() {
			attrs.NotBefore = to.Ptr(opts.NotBefore)
		}
		if attrs.Enabled != nil || attrs.Expires != nil || attrs.NotBefore != nil {
			params.SecretAttributes = attrs
		}
	}
	var resp azsecrets.SetSecretResponse
	err := s.call(ctx, func(ctx context.Context) (err error) {
		resp, err = s.client.SetSecret(ctx, name, params, nil)
		return err
	})
	if err != nil {
		return keyvault.Properties{}, err
	}
	return props(resp.ID, resp.Attributes, resp.ContentType, resp.Tags, name), nil
}

// DeleteSecret deletes the named secret (a soft delete where the vault has
// it on, as every new vault does).
func (s *Store) DeleteSecret(ctx context.Context, name string) error {
	if err := validate(ctx, name); err != nil {
		return err
	}
	return s.call(ctx, func(ctx context.Context) error {
		_, err := s.client.DeleteSecret(ctx, name, nil)
		return err
	})
}

// ListSecrets yields the properties of every secret, page by page.
func (s *Store) ListSecrets(ctx context.Context) iter.Seq2[keyvault.Properties, error] {
	return pages(ctx, s, func() *runtime.Pager[azsecrets.ListSecretPropertiesResponse] {
		return s.client.NewListSecretPropertiesPager(nil)
	}, func(r azsecrets.ListSecretPropertiesResponse) []*azsecrets.SecretProperties { return r.Value },
		func(it *azsecrets.SecretProperties) keyvault.Properties {
			return props(it.ID, it.Attributes, it.ContentType, it.Tags, "")
		})
}

// ListSecretVersions yields the properties of every version of a secret.
func (s *Store) ListSecretVersions(ctx context.Context, name string) iter.Seq2[keyvault.Properties, error] {
	if err := validate(ctx, name); err != nil {
		return func(yield func(keyvault.Properties, error) bool) { yield(keyvault.Properties{}, err) }
	}
	return pages(ctx, s, func() *runtime.Pager[azsecrets.ListSecretPropertiesVersionsResponse] {
		return s.client.NewListSecretPropertiesVersionsPager(name, nil)
	}, func(r azsecrets.ListSecretPropertiesVersionsResponse) []*azsecrets.SecretProperties { return r.Value },
		func(it *azsecrets.SecretProperties) keyvault.Properties {
			return props(it.ID, it.Attributes, it.ContentType, it.Tags, name)
		})
}

// pages yields conv(item) for the items of every page of a new pager,
// skipping items without an id (they cannot be named), and ends at the first
// error. Each iteration starts a new pager, so the sequence can be ranged
// over more than once.
func pages[R, T, V any](ctx context.Context, s *Store, newPager func() *runtime.Pager[R], items func(R) []*T, conv func(*T) V) iter.Seq2[V, error] {
	return func(yield func(V, error) bool) {
		pager := newPager()
		for pager.More() {
			var page R
			err := s.call(ctx, func(ctx context.Context) (err error) {
				page, err = pager.NextPage(ctx)
				return err
			})
			if err != nil {
				var zero V
				yield(zero, err)
				return
			}
			for _, it := range items(page) {
				if it == nil || !hasID(it) {
					continue
				}
				if !yield(conv(it), nil) {
					return
				}
			}
		}
	}
}

// hasID reports whether a list item carries an id.
func hasID(item any) bool {
	switch it := item.(type) {
	case *azsecrets.SecretProperties:
		return it.ID != nil
	case *azsecrets.DeletedSecretProperties:
		return it.ID != nil
	}
	return false
}

// UpdateSecretProperties changes a version's metadata ("" = latest).
func (s *Store) UpdateSecretProperties(ctx context.Context, name, version string, opts *keyvault.UpdateSecretPropertiesOptions) (keyvault.Properties, error) {
	if err := validate(ctx, name); err != nil {
		return keyvault.Properties{}, err
	}
	var params azsecrets.UpdateSecretPropertiesParameters
	if opts != nil {
		params.ContentType = opts.ContentType
		if opts.Tags != nil {
			params.Tags = tagsOut(opts.Tags)
			if params.Tags == nil {
				params.Tags = map[string]*string{}
			}
		}
		attrs := &azsecrets.SecretAttributes{Enabled: opts.Enabled}
		if opts.Expires != nil {
			attrs.Expires = timeOrNil(*opts.Expires)
		}
		if opts.NotBefore != nil {
			attrs.NotBefore = timeOrNil(*opts.NotBefore)
		}
		params.SecretAttributes = attrs
	}
	var resp azsecrets.UpdateSecretPropertiesResponse
	err := s.call(ctx, func(ctx context.Context) (err error) {
		resp, err = s.client.UpdateSecretProperties(ctx, name, version, params, nil)
		return err
	})
	if err != nil {
		return keyvault.Properties{}, err
	}
	return props(resp.ID, resp.Attributes, resp.ContentType, resp.Tags, name), nil
}

// ListDeletedSecrets yields the deleted secrets that can be recovered.
func (s *Store) ListDeletedSecrets(ctx context.Context) iter.Seq2[keyvault.DeletedSecret, error] {
	return pages(ctx, s, func() *runtime.Pager[azsecrets.ListDeletedSecretPropertiesResponse] {
		return s.client.NewListDeletedSecretPropertiesPager(nil)
	}, func(r azsecrets.ListDeletedSecretPropertiesResponse) []*azsecrets.DeletedSecretProperties {
		return r.Value
	},
		func(it *azsecrets.DeletedSecretProperties) keyvault.DeletedSecret {
			return keyvault.DeletedSecret{
				Properties:         props(it.ID, it.Attributes, it.ContentType, it.Tags, ""),
				RecoveryID:         deref(it.RecoveryID),
				DeletedDate:        timeOf(it.DeletedDate),
				ScheduledPurgeDate: timeOf(it.ScheduledPurgeDate),
			}
		})
}

// RecoverDeletedSecret recovers a deleted secret.
func (s *Store) RecoverDeletedSecret(ctx context.Context, name string) (keyvault.Properties, error) {
	if err := validate(ctx, name); err != nil {
		return keyvault.Properties{}, err
	}
	var resp azsecrets.RecoverDeletedSecretResponse
	err := s.call(ctx, func(ctx context.Context) (err error) {
		resp, err = s.client.RecoverDeletedSecret(ctx, name, nil)
		return err
	})
	if err != nil {
		return keyvault.Properties{}, err
	}
	return props(resp.ID, resp.Attributes, resp.ContentType, resp.Tags, name), nil
}

// PurgeDeletedSecret purges a deleted secret for good.
func (s *Store) PurgeDeletedSecret(ctx context.Context, name string) error {
	if err := validate(ctx, name); err != nil {
		return err
	}
	return s.call(ctx, func(ctx context.Context) error {
		_, err := s.client.PurgeDeletedSecret(ctx, name, nil)
		return err
	})
}

// props converts the SDK's fields; fallback names the secret when id is
// missing or unparsable.
func props(id *azsecrets.ID, a *azsecrets.SecretAttributes, contentType *string, tags map[string]*string, fallback string) keyvault.Properties {
	p := keyvault.Properties{Name: fallback, ContentType: deref(contentType), Enabled: true}
	if id != nil && *id != "" {
		segs, n := idSegments(string(*id)) // parsed once, without trusting it
		if n >= 2 && segs[1] != "" {
			p.Name = segs[1]
		}
		if n >= 3 {
			p.Version = segs[2]
		}
	}
	if len(tags) > 0 {
		p.Tags = make(map[string]string, len(tags))
		for k, v := range tags {
			p.Tags[k] = deref(v)
		}
	}
	if a != nil {
		if a.Enabled != nil {
			p.Enabled = *a.Enabled
		}
		p.Created = timeOf(a.Created)
		p.Updated = timeOf(a.Updated)
		p.Expires = timeOf(a.Expires)
		p.NotBefore = timeOf(a.NotBefore)
	}
	return p
}

// idSegments parses an id without trusting it (the SDK's ID methods panic
// on some malformed ids) and without allocating for a well-formed one: it
// returns the first three non-empty path segments of
// SCHEME://HOST/secrets/NAME[/VERSION][?...] (or of a bare path),
// path-unescaped, and how many there are.
func idSegments(id string) (segs [3]string, n int) {
	path := id
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	if _, rest, ok := strings.Cut(path, "://"); ok {
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return segs, 0
		}
		path = rest[i:]
	}
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "" {
			continue
		}
		if strings.IndexByte(seg, '%') >= 0 {
			u, err := url.PathUnescape(seg)
			if err != nil {
				return segs, 0
			}
			seg = u
		}
		segs[n] = seg
		if n++; n == len(segs) {
			break
		}
	}
	return segs, n
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func tagsOut(tags map[string]string) map[string]*string {
	if len(tags) == 0 {
		return nil
	}
	out := make(map[string]*string, len(tags))
	for k, v := range tags {
		out[k] = to.Ptr(v)
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
