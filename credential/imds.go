package credential

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/go-azureml/secrets/internal/flight"
)

// IMDSEndpoint is the Azure Instance Metadata Service's token endpoint, where
// the managed identity of an Azure VM (a Data Science VM, ...) answers.
const IMDSEndpoint = "http://169.254.169.254/metadata/identity/oauth2/token"

// DefaultIMDSProbeTimeout is how long New's IMDS member waits for IMDS to
// answer its first probe, as azidentity's DefaultAzureCredential does.
const DefaultIMDSProbeTimeout = time.Second

// errIMDSUnavailable is the probe's verdict: nothing answers at IMDS.
var errIMDSUnavailable = errors.New("IMDS unavailable")

// imdsMember is azidentity's ManagedIdentityCredential (IMDS source) behind
// a probe: the first GetToken sends one request without the Metadata header
// through the same Transport, with a short timeout; any answer means IMDS is
// there, none means this is not an Azure VM, which is remembered so that a
// laptop pays the probe once per process.
type imdsMember struct {
	cred    azcore.TokenCredential
	pl      runtime.Pipeline
	timeout time.Duration
	probe   bool

	mu       sync.Mutex // guards probed and probeErr only, never held across the probe
	probed   bool
	probeErr error
	probes   flight.Group[struct{}] // one probe at a time, each caller bounded by its own context
}

func newIMDSMember(cred azcore.TokenCredential, co azcore.ClientOptions, timeout time.Duration, probe bool) *imdsMember {
	if timeout <= 0 {
		timeout = DefaultIMDSProbeTimeout
	}
	co.Retry = policy.RetryOptions{MaxRetries: -1}
	pl := runtime.NewPipeline(moduleName, moduleVersion, runtime.PipelineOptions{}, &co)
	return &imdsMember{cred: cred, pl: pl, timeout: timeout, probe: probe}
}

// String names the member, never a token.
func (m *imdsMember) String() string { return NameManagedIdentity + " (IMDS)" }

func (m *imdsMember) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if m.probe {
		if err := m.available(ctx); err != nil {
			return azcore.AccessToken{}, err
		}
	}
	return m.cred.GetToken(ctx, opts)
}

// available probes IMDS once; a probe cut short by the caller's context is
// not remembered. Concurrent callers share one probe, each waiting no longer
// than its own context; no lock is held across it.
func (m *imdsMember) available(ctx context.Context) error {
	m.mu.Lock()
	probed, perr := m.probed, m.probeErr
	m.mu.Unlock()
	if probed {
		return perr
	}
	_, err := m.probes.Do(ctx, "imds", func(ctx context.Context) (struct{}, error) {
		return struct{}{}, m.probeOnce(ctx)
	})
	return err
}

func (m *imdsMember) probeOnce(ctx context.Context) error {
	m.mu.Lock()
	probed, perr := m.probed, m.probeErr
	m.mu.Unlock()
	if probed {
		return perr
	}
	cx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	req, err := runtime.NewRequest(cx, http.MethodGet, IMDSEndpoint)
	if err != nil {
		return err
	}
	runtime.SkipBodyDownload(req)
	resp, err := m.pl.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err = fmt.Errorf("%w: no answer from %s within %s (not an Azure VM)", errIMDSUnavailable, "IMDS (169.254.169.254)", m.timeout)
	} else {
		_ = resp.Body.Close()
	}
	m.mu.Lock()
	m.probed, m.probeErr = true, err
	m.mu.Unlock()
	return err
}
