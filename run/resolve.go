package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/go-azureml/secrets/internal/secretref"
	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/workspace"
)

// resolveConcurrency bounds the references fetched at once.
const resolveConcurrency = 16

// ErrNoWorkspace is wrapped by the error of a connection reference when the
// run has no workspace (offline with no config file) and no
// Options.Connections.
var ErrNoWorkspace = errors.New("no workspace")

// ResolveError is the error of one environment variable ResolveEnv could
// not resolve. It names the variable and, when it parsed, the reference;
// never a value.
type ResolveError struct {
	// Variable is the environment variable's name.
	Variable string
	// Ref is the reference in canonical form, "" when it did not parse.
	Ref string
	// Err is the cause: a secretref.ErrMalformed, keyvault.ErrNotFound, ...
	Err error
}

// Error names the variable and the cause, never the value.
func (e *ResolveError) Error() string {
	if e.Ref == "" {
		return "resolve " + e.Variable + ": " + e.Err.Error()
	}
	return "resolve " + e.Variable + " (" + e.Ref + "): " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *ResolveError) Unwrap() error { return e.Err }

// ResolveOptions configure the package-level ResolveEnv.
type ResolveOptions struct {
	// Run resolves the references; nil means GetContext(ctx, RunOptions),
	// called only when the environment holds a reference.
	Run *Run
	// RunOptions are GetContext's options when Run is nil.
	RunOptions *Options
}

// ResolveEnv returns environ (KEY=VALUE entries; nil means the run's
// Options.Environ, by default os.Environ) with every secret reference
// replaced by its value, as Azure ML online endpoints resolve them:
//
//	${{keyvault:https://VAULT.vault.azure.net/secrets/NAME}}         latest version
//	${{keyvault:https://VAULT.vault.azure.net/secrets/NAME/VERSION}}  that version
//	${{azureml://connections/CONN}}                  the listsecrets JSON document
//	${{azureml://connections/CONN/credentials/KEY}}  one credential
//	${{azureml://connections/CONN/metadata/KEY}}     one metadata entry
//	${{azureml://connections/CONN/target}}           its target (endpoint)
//
// A reference is a whole value, and a value that holds one as only a part
// (pw=${{keyvault:...}}) is an error, never passed through; other values,
// including other ${{...}} templates, are kept as they are. Every reference is parsed before anything
// is fetched: a malformed one fails the call with nothing fetched. Each
// distinct reference is fetched once (each connection once, whatever the
// number of its keys used), concurrently. The run's own vault serves
// references to it; other vaults are reached with the run's credential
// (see Options.OpenVault), one client per vault host.
//
// On failure the error joins one *ResolveError per failed variable, in
// environ order; errors.Is finds keyvault.ErrNotFound,
// secretref.ErrMalformed and the like. No error holds a value.
func (r *Run) ResolveEnv(ctx context.Context, environ []string) ([]string, error) {
	if environ == nil {
		environ = r.opts.environ()
	}
	type use struct {
		index int
		key   string
		ref   secretref.Ref
	}
	var (
		uses []use
		errs []error
	)
	for i, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !secretref.IsRef(v) {
			continue
		}
		ref, err := secretref.Parse(v)
		if err != nil {
			errs = append(errs, &ResolveError{Variable: k, Err: err})
			continue
		}
		uses = append(uses, use{i, k, ref})
	}
	out := slices.Clone(environ)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(uses) == 0 {
		return out, nil
	}

	// Fetch each distinct reference once.
	type result struct {
		value string
		err   error
	}
	distinct := map[string]secretref.Ref{}
	for _, u := range uses {
		distinct[u.ref.String()] = u.ref
	}
	results := make(map[string]*result, len(distinct))
	for s := range distinct {
		results[s] = &result{}
	}
	var g errgroup.Group
	g.SetLimit(resolveConcurrency)
	for _, s := range slices.Sorted(maps.Keys(distinct)) {
		ref, res := distinct[s], results[s]
		g.Go(func() error {
			res.value, res.err = r.resolve(ctx, ref)
			return nil
		})
	}
	_ = g.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, u := range uses {
		s := u.ref.String()
		res := results[s]
		if res.err != nil {
			errs = append(errs, &ResolveError{Variable: u.key, Ref: s, Err: res.err})
			continue
		}
		out[u.index] = u.key + "=" + res.value
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// ResolveEnv is Run.ResolveEnv on opts.Run, or on GetContext(ctx,
// opts.RunOptions) when the environment holds a reference (an environment
// without references is returned unchanged, with no run built). opts nil
// means defaults; environ nil means os.Environ (or RunOptions.Environ).
func ResolveEnv(ctx context.Context, environ []string, opts *ResolveOptions) ([]string, error) {
	var o ResolveOptions
	if opts != nil {
		o = *opts
	}
	if o.Run != nil {
		return o.Run.ResolveEnv(ctx, environ)
	}
	if environ == nil {
		ro := Options{}
		if o.RunOptions != nil {
			ro = *o.RunOptions
		}
		environ = ro.environ()
	}
	if !hasRef(environ) {
		return slices.Clone(environ), nil
	}
	r, err := GetContext(ctx, o.RunOptions)
	if err != nil {
		return nil, err
	}
	return r.ResolveEnv(ctx, environ)
}

func hasRef(environ []string) bool {
	for _, kv := range environ {
		if _, v, ok := strings.Cut(kv, "="); ok && secretref.IsRef(v) {
			return true
		}
	}
	return false
}

func (r *Run) resolve(ctx context.Context, ref secretref.Ref) (string, error) {
	switch ref.Kind {
	case secretref.Keyvault:
		kv, err := r.vaultFor(ctx, ref.VaultURL)
		if err != nil {
			return "", err
		}
		s, err := kv.GetSecretVersion(ctx, ref.Name, ref.Version)
		if err != nil {
			return "", err
		}
		return s.Value.Reveal(), nil
	case secretref.Connection:
		c, err := r.connection(ctx, ref.Connection)
		if err != nil {
			return "", err
		}
		return connectionField(c, ref)
	}
	return "", fmt.Errorf("%w: unknown reference kind", secretref.ErrMalformed)
}

// vaultFor returns the Keyvault of vaultURL: the run's own when it is that
// vault, else one opened once per host.
func (r *Run) vaultFor(ctx context.Context, vaultURL string) (*keyvault.Keyvault, error) {
	if r.kv != nil {
		if u, ok := r.kv.Store().(interface{ VaultURL() string }); ok && sameVault(u.VaultURL(), vaultURL) {
			return r.kv, nil
		}
	}
	host := strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(vaultURL, "https://"), "/"))
	r.vaultsMu.Lock()
	kv, ok := r.vaults[host]
	r.vaultsMu.Unlock()
	if ok {
		return kv, nil
	}
	// Opening may be slow (Options.OpenVault is the caller's code): no lock
	// is held across it, concurrent callers for one host share one open,
	// and each waits no longer than its own context.
	return r.vaultOpens.Do(ctx, host, func(ctx context.Context) (*keyvault.Keyvault, error) {
		r.vaultsMu.Lock()
		kv, ok := r.vaults[host]
		r.vaultsMu.Unlock()
		if ok {
			return kv, nil
		}
		var err error
		if r.opts.OpenVault != nil {
			kv, err = r.opts.OpenVault(ctx, vaultURL)
			if err == nil && kv == nil {
				err = fmt.Errorf("the program's own vault opener returned no vault for %s", vaultURL)
			}
		} else {
			kv, err = r.openVaultURL(vaultURL)
		}
		if err != nil {
			return nil, fmt.Errorf("open vault %s: %w", vaultURL, err)
		}
		r.vaultsMu.Lock()
		if r.vaults == nil {
			r.vaults = map[string]*keyvault.Keyvault{}
		}
		r.vaults[host] = kv
		r.vaultsMu.Unlock()
		return kv, nil
	})
}

func sameVault(a, b string) bool {
	norm := func(s string) string {
		s = strings.ToLower(strings.TrimSuffix(s, "/"))
		return strings.TrimSuffix(s, ":443")
	}
	return norm(a) == norm(b)
}

// connection fetches a workspace connection once per run.
func (r *Run) connection(ctx context.Context, name string) (*workspace.Connection, error) {
	src := r.opts.Connections
	if src == nil && r.ws != nil {
		src = r.ws
	}
	if src == nil {
		return nil, fmt.Errorf("connection %s: %w: the run is offline with no workspace config; put the workspace's config.json (download it from the workspace's page in Azure ML studio) in this folder or a parent", name, ErrNoWorkspace)
	}
	r.connsMu.Lock()
	c, ok := r.conns[name]
	r.connsMu.Unlock()
	if ok {
		return c, nil
	}
	// One fetch per connection at a time, shared by concurrent callers,
	// each bounded by its own context; a success is kept for the run,
	// a failure is not (a later call tries again).
	return r.connFetches.Do(ctx, name, func(ctx context.Context) (*workspace.Connection, error) {
		r.connsMu.Lock()
		c, ok := r.conns[name]
		r.connsMu.Unlock()
		if ok {
			return c, nil
		}
		c, err := src.ListConnectionSecrets(ctx, name)
		if err == nil && c == nil {
			err = fmt.Errorf("connection %s: %w", name, keyvault.ErrNotFound)
		}
		if err != nil {
			return nil, err
		}
		r.connsMu.Lock()
		if r.conns == nil {
			r.conns = map[string]*workspace.Connection{}
		}
		r.conns[name] = c
		r.connsMu.Unlock()
		return c, nil
	})
}

func connectionField(c *workspace.Connection, ref secretref.Ref) (string, error) {
	switch ref.Field {
	case secretref.FieldTarget:
		if c.Target == "" {
			return "", fmt.Errorf("connection %s has no target: %w", ref.Connection, keyvault.ErrNotFound)
		}
		return c.Target, nil
	case secretref.FieldCredential:
		k, ok := findKey(c.Credentials, ref.Key)
		if !ok {
			return "", fmt.Errorf("connection %s has no credential %q (its credential keys: %s): %w",
				ref.Connection, ref.Key, keyList(c.Credentials), keyvault.ErrNotFound)
		}
		return c.Credentials[k].Reveal(), nil
	case secretref.FieldMetadata:
		k, ok := findKey(c.Metadata, ref.Key)
		if !ok {
			return "", fmt.Errorf("connection %s has no metadata %q (its metadata keys: %s): %w",
				ref.Connection, ref.Key, keyList(c.Metadata), keyvault.ErrNotFound)
		}
		return c.Metadata[k], nil
	}
	return connectionJSON(c)
}

// findKey finds key exactly, else case-insensitively when only one key
// matches so.
func findKey[V any](m map[string]V, key string) (string, bool) {
	if _, ok := m[key]; ok {
		return key, true
	}
	found := ""
	for k := range m {
		if strings.EqualFold(k, key) {
			if found != "" {
				return "", false
			}
			found = k
		}
	}
	return found, found != ""
}

func keyList[V any](m map[string]V) string {
	if len(m) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}

// connectionJSON is the whole connection: the listsecrets document ARM
// returned, as Azure ML injects it. A Connection without one (from an
// Options.Connections of the caller's) is rendered in the same shape,
// {"name", "properties": {"authType", "category", "target", "credentials",
// "metadata"}}.
func connectionJSON(c *workspace.Connection) (string, error) {
	if !c.Document.IsZero() {
		return c.Document.Reveal(), nil
	}
	creds := make(map[string]string, len(c.Credentials))
	for k, v := range c.Credentials {
		creds[k] = v.Reveal()
	}
	meta := c.Metadata
	if meta == nil {
		meta = map[string]string{}
	}
	type properties struct {
		AuthType    string            `json:"authType"`
		Category    string            `json:"category"`
		Target      string            `json:"target"`
		Credentials map[string]string `json:"credentials"`
		Metadata    map[string]string `json:"metadata"`
	}
	b, err := json.Marshal(struct {
		Name       string     `json:"name"`
		Properties properties `json:"properties"`
	}{c.Name, properties{c.AuthType, c.Category, c.Target, creds, meta}})
	if err != nil {
		return "", fmt.Errorf("connection %s: encode as JSON: %w", c.Name, err)
	}
	return string(b), nil
}
