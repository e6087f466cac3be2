package run

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/go-azureml/secrets/credential"
	"github.com/go-azureml/secrets/internal/flight"
	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/azurevault"
	"github.com/go-azureml/secrets/workspace"
)

// Environment variables GetContext reads (through Options.Getenv).
const (
	// EnvRunID is the id of a submitted run; Azure ML sets it in every job.
	// When it is set, GetContext returns a submitted (online) run.
	EnvRunID = "AZUREML_RUN_ID"
	// EnvExperiment is the experiment (project) name of a submitted run.
	EnvExperiment = "AZUREML_ARM_PROJECT_NAME"
	// EnvSubscription is the workspace's subscription id, set in a job.
	EnvSubscription = workspace.EnvSubscription
	// EnvResourceGroup is the workspace's resource group, set in a job.
	EnvResourceGroup = workspace.EnvResourceGroup
	// EnvWorkspaceName is the workspace's name, set in a job.
	EnvWorkspaceName = workspace.EnvWorkspaceName
	// EnvKeyvaultURL names a vault to use instead of the workspace's default
	// one, online or offline: `amlsecrets serve` prints one for a local
	// emulator.
	EnvKeyvaultURL = azurevault.EnvKeyvaultURL
	// EnvCAFile is a PEM CA trusted for a loopback vault (the emulator).
	EnvCAFile = azurevault.EnvCAFile
)

// ErrReadOnly is wrapped (with errors.ErrUnsupported) by the error of every
// write to a run's local source: environment variables and .env files are
// read-only.
var ErrReadOnly = errors.New("local secrets are read-only")

// ErrNoVault is wrapped by GetContext's error when Options.RequireVault is
// set and the run is offline with no vault to use.
var ErrNoVault = errors.New("no vault")

// Source tells where a Run's secrets come from.
type Source int

// Sources, in the order GetContext tries them.
const (
	// SourceJob: a submitted job's workspace default vault (EnvRunID set).
	SourceJob Source = iota + 1
	// SourceVaultURL: offline, the vault named by AMLSECRETS_KEYVAULT_URL.
	SourceVaultURL
	// SourceConfig: offline, the default vault of the workspace in a config
	// file found by workspace.FromConfig.
	SourceConfig
	// SourceLocal: offline with no vault, the read-only local source
	// (environment variables and an optional .env file).
	SourceLocal
	// SourceCustom: the vault given to New.
	SourceCustom
)

// String names the source.
func (s Source) String() string {
	switch s {
	case SourceJob:
		return "job"
	case SourceVaultURL:
		return "vault-url"
	case SourceConfig:
		return "workspace-config"
	case SourceLocal:
		return "local"
	case SourceCustom:
		return "custom"
	}
	return fmt.Sprintf("Source(%d)", int(s))
}

// Options configure GetContext and New. A nil *Options means defaults.
type Options struct {
	// Getenv reads one environment variable (AZUREML_*, AMLSECRETS_*);
	// nil means os.Getenv. The credential (credential.New) reads the
	// process environment, as azidentity does.
	Getenv func(string) string
	// Environ lists the environment (KEY=VALUE), for ResolveEnv with a nil
	// environment; nil means os.Environ.
	Environ func() []string
	// ConfigPath is where an offline run looks for a workspace config: a
	// file, or a folder searched as workspace.FromConfig does ("" = the
	// current directory).
	ConfigPath string
	// DotEnvFile, when set, is a .env file read by the local source of an
	// offline run with no vault. It must exist.
	DotEnvFile string
	// Credential authenticates ARM and vault requests; nil means
	// credential.New (the job's managed identity in a job, the developer's
	// Azure CLI login on a laptop, ...).
	Credential azcore.TokenCredential
	// CredentialOptions configure credential.New when Credential is nil.
	CredentialOptions *credential.Options
	// ClientOptions serve the ARM and vault clients (Cloud, Transport,
	// Retry); see workspace.Options.
	ClientOptions azcore.ClientOptions
	// KeyvaultOptions configure the Keyvaults the run builds (cache,
	// concurrency, retries).
	KeyvaultOptions *keyvault.Options
	// VaultSuffix is workspace.Options.VaultSuffix, for a custom cloud.
	VaultSuffix string
	// RequireVault makes GetContext fail (wrapping ErrNoVault, and listing
	// what it tried) rather than fall back to the local source.
	RequireVault bool
	// OpenVault opens the vault of a ${{keyvault:...}} reference other than
	// the run's own; nil means an azurevault Store with the run's
	// credential and ClientOptions, one per vault host, cached.
	OpenVault func(ctx context.Context, vaultURL string) (*keyvault.Keyvault, error)
	// Connections lists the secrets of workspace connections for
	// ${{azureml://connections/...}} references; nil means the run's
	// workspace.
	Connections ConnectionSource
}

// ConnectionSource returns a workspace connection with its secrets.
// *workspace.Workspace implements it (ARM listsecrets).
type ConnectionSource interface {
	ListConnectionSecrets(ctx context.Context, name string) (*workspace.Connection, error)
}

// Run is a training run's view of its secrets, as azureml-core's Run is:
// GetSecret, GetSecrets and SetSecrets on the vault GetContext picked. It is
// safe for concurrent use. Printing it shows where its secrets come from,
// never a value.
type Run struct {
	id, experiment string
	offline        bool
	source         Source
	why            string // what GetContext tried before the source, for String and errors
	ws             *workspace.Workspace
	kv             *keyvault.Keyvault
	local          *localStore
	opts           Options

	credMu sync.Mutex
	cred   azcore.TokenCredential

	vaultsMu   sync.Mutex
	vaults     map[string]*keyvault.Keyvault // by vault host
	vaultOpens flight.Group[*keyvault.Keyvault]

	connsMu     sync.Mutex
	conns       map[string]*workspace.Connection // fetched, by name
	connFetches flight.Group[*workspace.Connection]
}

func (o *Options) getenv(k string) string {
	if o.Getenv != nil {
		return o.Getenv(k)
	}
	return os.Getenv(k)
}

func (o *Options) environ() []string {
	if o.Environ != nil {
		return o.Environ()
	}
	return os.Environ()
}

func (o *Options) workspaceOptions() *workspace.Options {
	return &workspace.Options{
		Credential:        o.Credential,
		CredentialOptions: o.credentialOptions(),
		ClientOptions:     o.ClientOptions,
		Getenv:            o.Getenv,
		KeyvaultOptions:   o.KeyvaultOptions,
		VaultSuffix:       o.VaultSuffix,
	}
}

func (o *Options) credentialOptions() *credential.Options {
	var co credential.Options
	if o.CredentialOptions != nil {
		co = *o.CredentialOptions
	}
	if co.ClientOptions.Transport == nil && co.ClientOptions.Cloud.ActiveDirectoryAuthorityHost == "" {
		co.ClientOptions = o.ClientOptions
	}
	if o.Credential != nil {
		co.Credential = o.Credential
	}
	return &co
}

// GetContext returns the current run, as azureml-core's Run.get_context().
//
// Inside a submitted job (AZUREML_RUN_ID set) the workspace comes from the
// AZUREML_ARM_* variables, the credential from credential.New (the compute's
// managed identity) and the vault is the workspace's default one (or
// AMLSECRETS_KEYVAULT_URL): a missing variable is an error that names it.
//
// Otherwise the run is offline, and its secrets come from the first of:
//
//  1. the vault named by AMLSECRETS_KEYVAULT_URL (with AMLSECRETS_CA_FILE
//     for a loopback emulator);
//  2. the default vault of the workspace in a config file found by
//     workspace.FromConfig(Options.ConfigPath), with the developer's
//     credential;
//  3. the local read-only source: for each name, the environment variable
//     of that name, then of keyvault.EnvFromName(name) (db-password ->
//     DB_PASSWORD), then the same two keys in Options.DotEnvFile. With
//     Options.RequireVault, GetContext fails here instead.
//
// A config file that exists but is malformed, or a vault that cannot be
// reached, is an error, never a silent fall back to the next source.
func GetContext(ctx context.Context, opts *Options) (*Run, error) {
	r := &Run{}
	if opts != nil {
		r.opts = *opts
	}
	o := &r.opts
	r.id = strings.TrimSpace(o.getenv(EnvRunID))
	r.experiment = strings.TrimSpace(o.getenv(EnvExperiment))
	if r.id != "" {
		ws, err := workspace.FromEnv(o.workspaceOptions())
		if err != nil {
			return nil, fmt.Errorf("run %s: %s is set, so this is a submitted job, but: %w", r.id, EnvRunID, err)
		}
		kv, err := ws.DefaultKeyvault(ctx)
		if err != nil {
			return nil, fmt.Errorf("run %s: %w", r.id, err)
		}
		r.ws, r.kv, r.source = ws, kv, SourceJob
		return r, nil
	}
	r.offline = true
	r.id = offlineID()
	tried := []string{EnvRunID + " is unset (not a submitted job)"}

	// The workspace config, if any: the vault of step 2, and the workspace
	// of connection references in every case.
	ws, cfgErr := workspace.FromConfig(o.ConfigPath, o.workspaceOptions())
	if cfgErr != nil && !errors.Is(cfgErr, workspace.ErrConfigNotFound) {
		return nil, fmt.Errorf("run: offline: %w", cfgErr)
	}

	if u := strings.TrimSpace(o.getenv(EnvKeyvaultURL)); u != "" {
		kv, err := r.openVaultURL(u)
		if err != nil {
			return nil, fmt.Errorf("run: offline, vault from %s: %w", EnvKeyvaultURL, err)
		}
		r.ws, r.kv, r.source = ws, kv, SourceVaultURL
		return r, nil
	}
	tried = append(tried, EnvKeyvaultURL+" is unset")

	if ws != nil {
		kv, err := ws.DefaultKeyvault(ctx)
		if err != nil {
			return nil, fmt.Errorf("run: offline, default vault of %s: %w", ws, err)
		}
		r.ws, r.kv, r.source = ws, kv, SourceConfig
		return r, nil
	}
	noConfig, _, _ := strings.Cut(strings.TrimPrefix(cfgErr.Error(), "workspace: "+workspace.ErrConfigNotFound.Error()+": "), "; download")
	tried = append(tried, "no workspace config: "+noConfig)

	if o.RequireVault {
		return nil, fmt.Errorf("run: offline and %w, though one is required:\n%s\n%s", ErrNoVault, bullets(tried), vaultAdvice)
	}
	local, err := newLocalStore(o.getenv, o.DotEnvFile, tried)
	if err != nil {
		return nil, err
	}
	r.local = local
	r.kv = keyvault.New(local, localKeyvaultOptions(o.KeyvaultOptions))
	r.source = SourceLocal
	r.why = bullets(tried)
	return r, nil
}

// localKeyvaultOptions turns the cache off: the environment is read at
// every call, and nothing is gained by holding values twice.
func localKeyvaultOptions(o *keyvault.Options) *keyvault.Options {
	var out keyvault.Options
	if o != nil {
		out = *o
	}
	out.Cache = &keyvault.CacheOptions{Disabled: true}
	return &out
}

// New returns a Run over kv, for tests and tools: GetSecret and friends go
// to kv, whatever the environment. Its id and experiment come from
// AZUREML_RUN_ID and AZUREML_ARM_PROJECT_NAME when set (then Offline is
// false), else it is an offline run. opts nil means defaults.
func New(kv *keyvault.Keyvault, opts *Options) *Run {
	r := &Run{kv: kv, source: SourceCustom}
	if opts != nil {
		r.opts = *opts
	}
	r.id = strings.TrimSpace(r.opts.getenv(EnvRunID))
	r.experiment = strings.TrimSpace(r.opts.getenv(EnvExperiment))
	if r.id == "" {
		r.offline = true
		r.id = offlineID()
	}
	return r
}

func offlineID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // a version 4 UUID, as azureml-core's uuid4
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return "OfflineRun_" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ID is the run id: AZUREML_RUN_ID in a job, "OfflineRun_<uuid>" offline
// (as azureml-core names offline runs).
func (r *Run) ID() string { return r.id }

// Experiment is the experiment name (AZUREML_ARM_PROJECT_NAME), "" offline.
func (r *Run) Experiment() string { return r.experiment }

// Workspace is the run's workspace: from the job's environment, or from the
// config file an offline run found; nil when there is none.
func (r *Run) Workspace() *workspace.Workspace { return r.ws }

// Keyvault is the vault the run's secrets come from. For the local source
// it is a read-only Keyvault over the environment and the .env file.
func (r *Run) Keyvault() *keyvault.Keyvault { return r.kv }

// Offline reports whether the run is not a submitted job (AZUREML_RUN_ID
// unset).
func (r *Run) Offline() bool { return r.offline }

// Source tells where the run's secrets come from.
func (r *Run) Source() Source { return r.source }

// String says what the run is and where its secrets come from. It never
// shows a value.
func (r *Run) String() string {
	kind := "submitted run " + r.id
	if r.experiment != "" {
		kind += " (experiment " + r.experiment + ")"
	}
	if r.offline {
		// An offline run's id is a fresh random one: noise here (see ID).
		kind = "offline run"
	}
	var from string
	switch r.source {
	case SourceJob:
		from = "the default vault of " + r.ws.String() + ": " + vaultName(r.kv)
	case SourceVaultURL:
		from = vaultName(r.kv) + " (from " + EnvKeyvaultURL + ")"
	case SourceConfig:
		from = vaultName(r.kv) + ", the default vault of workspace " + r.ws.Name
		if r.ws.ConfigPath != "" {
			from += " (" + r.ws.ConfigPath + ")"
		}
	case SourceLocal:
		from = r.local.String() + " (no vault configured)"
	default:
		from = vaultName(r.kv)
	}
	return kind + ": secrets from " + from
}

// GoString is String, for %#v.
func (r *Run) GoString() string { return r.String() }

// Format writes String for every verb, so that no verb walks into fields.
func (r *Run) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(r.String())) }

func vaultName(kv *keyvault.Keyvault) string {
	if kv == nil {
		return "no vault"
	}
	if u, ok := kv.Store().(interface{ VaultURL() string }); ok {
		return "vault " + u.VaultURL()
	}
	if s, ok := kv.Store().(fmt.Stringer); ok {
		return s.String()
	}
	return kv.String()
}

// GetSecret returns the value of the named secret, as azureml-core's
// Run.get_secret. A missing secret is an error wrapping keyvault.ErrNotFound;
// for the local source it lists every place looked in.
func (r *Run) GetSecret(ctx context.Context, name string) (string, error) {
	v, err := r.kv.GetSecret(ctx, name)
	return v, r.explain(err)
}

// GetSecrets returns the values of the named secrets, as azureml-core's
// Run.get_secrets, but a missing name is never an empty value: the map holds
// every value found, and the error (a *keyvault.BatchError wrapping
// keyvault.ErrNotFound) names each missing one.
func (r *Run) GetSecrets(ctx context.Context, names []string) (map[string]string, error) {
	m, err := r.kv.GetSecrets(ctx, names)
	return m, r.explain(err)
}

// SetSecrets stores each name/value pair in the run's vault, as
// azureml-core's Run.set_secrets (through Keyvault.SetSecrets). For the
// local source it stores nothing and returns an error wrapping ErrReadOnly
// that says how to point the run at a vault.
func (r *Run) SetSecrets(ctx context.Context, secrets map[string]string) error {
	if r.local != nil {
		return readOnlyError("set secrets")
	}
	return r.kv.SetSecrets(ctx, secrets)
}

// credential returns the run's credential, built once: the workspace's, or
// credential.New with the run's options.
func (r *Run) credential() (azcore.TokenCredential, error) {
	if r.ws != nil {
		return r.ws.Credential()
	}
	r.credMu.Lock()
	defer r.credMu.Unlock()
	if r.cred != nil {
		return r.cred, nil
	}
	cred, err := credential.New(r.opts.credentialOptions())
	if err != nil {
		return nil, err
	}
	r.cred = cred
	return cred, nil
}

// openVaultURL builds a Keyvault over azurevault for vaultURL: a loopback
// vault without Options.Credential gets azurevault's local credential, any
// other the run's credential. AMLSECRETS_CA_FILE is passed on; azurevault
// trusts it for a loopback vault only.
func (r *Run) openVaultURL(vaultURL string) (*keyvault.Keyvault, error) {
	// In `amlsecrets serve --job`'s world, the workspace's vault by its
	// Azure name is the loopback emulator.
	if local, err := workspace.LocalVaultURL(r.opts.getenv, vaultURL); err != nil {
		return nil, err
	} else if local != "" {
		if r.kv != nil {
			if u, ok := r.kv.Store().(interface{ VaultURL() string }); ok && strings.EqualFold(u.VaultURL(), local) {
				return r.kv, nil
			}
		}
		vaultURL = local
	}
	var cred azcore.TokenCredential
	if !azurevault.IsLoopbackURL(vaultURL) || r.opts.Credential != nil {
		var err error
		if cred, err = r.credential(); err != nil {
			return nil, err
		}
	}
	vo := &azurevault.Options{ClientOptions: r.opts.ClientOptions, Getenv: r.opts.Getenv, CAFile: strings.TrimSpace(r.opts.getenv(EnvCAFile))}
	store, err := azurevault.New(vaultURL, cred, vo)
	if err != nil {
		return nil, err
	}
	return keyvault.New(store, r.opts.KeyvaultOptions), nil
}
