// Package jobemu stands up, on loopback, the world an Azure ML job sees:
// the Key Vault emulator (package kvemulator), an Azure ML style managed
// identity endpoint (the MSI_ENDPOINT + "secret" header protocol azidentity
// speaks) or the user-identity endpoint (OBO_ENDPOINT), and a fake Azure
// Resource Manager that serves the workspace (its properties.keyVault names
// the emulator's vault) and its connections' listsecrets.
//
// Job.Env lists every variable a job has (AZUREML_RUN_ID, AZUREML_ARM_*,
// MSI_ENDPOINT, MSI_SECRET, DEFAULT_IDENTITY_CLIENT_ID, or
// AZUREML_OBO_ENABLED and OBO_ENDPOINT) plus the three that route the
// library to loopback: AMLSECRETS_ARM_ENDPOINT, AMLSECRETS_LOCAL_VAULTS and
// AMLSECRETS_CA_FILE (package workspace honours them for loopback hosts
// only). With that environment, unmodified job code takes the job path:
// run.GetContext returns a submitted run whose token comes from the fake
// identity endpoint through azidentity, whose vault is found by the ARM GET,
// and whose ${{azureml://connections/...}} references resolve through
// listsecrets.
//
// `amlsecrets serve --job` runs this world for other processes;
// keyvaulttest.StartJob runs it for a Go test. The package does not import
// testing.
package jobemu

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-azureml/secrets/internal/armfake"
	"github.com/go-azureml/secrets/keyvault/azurevault"
	"github.com/go-azureml/secrets/keyvault/kvemulator"
)

// Identities a job can run with.
const (
	// IdentityManaged is the compute's managed identity (MSI_ENDPOINT).
	IdentityManaged = "managed"
	// IdentityOBO is the submitting user's identity (`identity: type:
	// user_identity`): AZUREML_OBO_ENABLED and OBO_ENDPOINT.
	IdentityOBO = "obo"
)

// Defaults of Options.
const (
	DefaultSubscriptionID = "00000000-0000-0000-0000-000000000000"
	DefaultResourceGroup  = "local-rg"
	DefaultWorkspace      = "local-ws"
	DefaultExperiment     = "local-experiment"
	DefaultVaultName      = "jobvault"
)

// Variable names Env prints that the library reads to reach loopback.
const (
	EnvARMEndpoint = "AMLSECRETS_ARM_ENDPOINT"
	EnvLocalVaults = "AMLSECRETS_LOCAL_VAULTS"
	EnvCAFile      = "AMLSECRETS_CA_FILE"
)

// MaxConnectionsFile bounds a connections file (ParseConnections).
const MaxConnectionsFile = 4 << 20

// Options configure Start. A nil *Options means defaults.
type Options struct {
	// Identity is IdentityManaged (the default) or IdentityOBO.
	Identity string
	// SubscriptionID, ResourceGroup, Workspace, Experiment and RunID are
	// the job's; empty means the defaults (RunID: local_<unix time>_<hex>).
	SubscriptionID, ResourceGroup, Workspace, Experiment, RunID string
	// VaultName is the workspace's default vault; default "jobvault".
	VaultName string
	// Vault configures the vault emulator (Latency, ThrottleLimit,
	// StatePath, ...); its VaultName and AcceptAnyToken are set by Start.
	Vault *kvemulator.Options
	// Connections are the workspace's connections: name -> the listsecrets
	// document ARM returns ({"properties": {"authType", "category",
	// "target", "credentials", "metadata"}, ...}); id, name and type are
	// filled in when absent. See ParseConnections.
	Connections map[string]json.RawMessage
	// Secrets are stored in the vault at start.
	Secrets map[string]string
	// CAFile is where Start writes the CA bundle (the vault's and the fake
	// ARM's certificates) that AMLSECRETS_CA_FILE names; empty means a
	// temporary file that Close removes.
	CAFile string
}

// Job is a running world. Close it when done.
type Job struct {
	opts     Options
	vault    *kvemulator.Server
	arm      *armfake.Server
	msi      *armfake.MSI
	obo      *armfake.OBO
	env      [][2]string
	caFile   string
	removeCA bool
}

// validConnName reports whether name is a connection name: 1 to 255
// letters, digits, '-', '_' and '.', starting with a letter or digit. (A
// function, not a regexp: `{0,254}` compiles to 254 copies at every start of
// every program that links this package, amlsecrets included.)
func validConnName(name string) bool {
	if name == "" || len(name) > 255 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// Start starts the world.
func Start(opts *Options) (_ *Job, err error) {
	j := &Job{}
	if opts != nil {
		j.opts = *opts
	}
	o := &j.opts
	def := func(p *string, v string) {
		if strings.TrimSpace(*p) == "" {
			*p = v
		}
	}
	def(&o.Identity, IdentityManaged)
	def(&o.SubscriptionID, DefaultSubscriptionID)
	def(&o.ResourceGroup, DefaultResourceGroup)
	def(&o.Workspace, DefaultWorkspace)
	def(&o.Experiment, DefaultExperiment)
	def(&o.VaultName, DefaultVaultName)
	def(&o.RunID, fmt.Sprintf("local_%d_%s", time.Now().Unix(), randomHex(4)))
	if o.Identity != IdentityManaged && o.Identity != IdentityOBO {
		return nil, fmt.Errorf("jobemu: identity %q: want %q or %q", o.Identity, IdentityManaged, IdentityOBO)
	}
	for name := range o.Connections {
		if !validConnName(name) {
			return nil, fmt.Errorf("jobemu: connection name %q: want letters, digits, '-', '_' and '.'", name)
		}
	}
	defer func() {
		if err != nil {
			j.Close()
		}
	}()

	vo := kvemulator.Options{}
	if o.Vault != nil {
		vo = *o.Vault
	}
	vo.VaultName = o.VaultName
	vo.AcceptAnyToken = true
	if j.vault, err = kvemulator.Start(&vo); err != nil {
		return nil, fmt.Errorf("jobemu: vault emulator: %w", err)
	}

	cert, certPEM, err := selfSigned()
	if err != nil {
		return nil, fmt.Errorf("jobemu: ARM certificate: %w", err)
	}
	j.arm = armfake.NewServerWithCert(&cert)
	j.arm.AddWorkspace(o.SubscriptionID, o.ResourceGroup, o.Workspace, armfake.VaultID(o.SubscriptionID, o.ResourceGroup, j.vault.VaultName()))
	for name, doc := range o.Connections {
		full, err := connectionDocument(armfake.WorkspacePath(o.SubscriptionID, o.ResourceGroup, o.Workspace), name, doc)
		if err != nil {
			return nil, err
		}
		j.arm.SetConnection(o.SubscriptionID, o.ResourceGroup, o.Workspace, name, full)
	}

	token := "jobemu-identity-" + randomHex(16)
	j.arm.RequireToken(token)

	j.caFile = o.CAFile
	if j.caFile == "" {
		f, err := os.CreateTemp("", "amlsecrets-job-ca-*.pem")
		if err != nil {
			return nil, fmt.Errorf("jobemu: write CA file: %w", err)
		}
		j.caFile, j.removeCA = f.Name(), true
		_ = f.Close()
	}
	if abs, err := filepath.Abs(j.caFile); err == nil {
		j.caFile = abs
	}
	bundle := append(j.vault.CACertPEM(), certPEM...)
	if err := os.WriteFile(j.caFile, bundle, 0o644); err != nil {
		return nil, fmt.Errorf("jobemu: write CA file: %w", err)
	}

	j.add("AZUREML_RUN_ID", o.RunID)
	j.add("AZUREML_ARM_SUBSCRIPTION", o.SubscriptionID)
	j.add("AZUREML_ARM_RESOURCEGROUP", o.ResourceGroup)
	j.add("AZUREML_ARM_WORKSPACE_NAME", o.Workspace)
	j.add("AZUREML_ARM_PROJECT_NAME", o.Experiment)
	if o.Identity == IdentityOBO {
		j.obo = armfake.NewOBO(0, "")
		j.obo.IssueToken(token)
		j.add("AZUREML_OBO_ENABLED", "True")
		j.add("OBO_ENDPOINT", j.obo.Endpoint())
	} else {
		secret := randomHex(16)
		j.msi = armfake.NewMSI(armfake.MSIOptions{Secret: secret, Token: func(string) string { return token }})
		j.add("MSI_ENDPOINT", j.msi.Endpoint())
		j.add("MSI_SECRET", secret)
		j.add("DEFAULT_IDENTITY_CLIENT_ID", uuid())
	}
	j.add(EnvARMEndpoint, j.arm.URL()+"/")
	j.add(EnvLocalVaults, j.vault.VaultName()+"="+j.vault.ListenURL())
	j.add(EnvCAFile, j.caFile)

	if len(o.Secrets) > 0 {
		if err := j.seed(o.Secrets); err != nil {
			return nil, err
		}
	}
	return j, nil
}

func (j *Job) add(k, v string) { j.env = append(j.env, [2]string{k, v}) }

func (j *Job) seed(secrets map[string]string) error {
	s, err := azurevault.New(j.vault.VaultURL(), j.vault.Credential(), &azurevault.Options{ClientOptions: j.vault.ClientOptions()})
	if err != nil {
		return fmt.Errorf("jobemu: seed the vault: %w", err)
	}
	names := make([]string, 0, len(secrets))
	for n := range secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := s.SetSecret(context.Background(), n, secrets[n], nil); err != nil {
			return fmt.Errorf("jobemu: seed secret %s: %w", n, err)
		}
	}
	return nil
}

// Env is the job's environment, KEY=VALUE, in a fixed order.
func (j *Job) Env() []string {
	out := make([]string, len(j.env))
	for i, kv := range j.env {
		out[i] = kv[0] + "=" + kv[1]
	}
	return out
}

// Vault is the vault emulator (for Stats, fault knobs, seeding through its
// ClientOptions and Credential).
func (j *Job) Vault() *kvemulator.Server { return j.vault }

// VaultURL is the vault's loopback URL, https://127.0.0.1:PORT/, which
// `amlsecrets set --vault URL` (with AMLSECRETS_CA_FILE) reaches.
func (j *Job) VaultURL() string { return j.vault.ListenURL() }

// CAFile is the CA bundle's path.
func (j *Job) CAFile() string { return j.caFile }

// Identity is the job's identity, IdentityManaged or IdentityOBO.
func (j *Job) Identity() string { return j.opts.Identity }

// TokenRequests is how many token requests the identity endpoint (MSI or
// OBO) received.
func (j *Job) TokenRequests() int {
	if j.obo != nil {
		return j.obo.Total()
	}
	if j.msi != nil {
		return j.msi.Total()
	}
	return 0
}

// WorkspaceGets is how many ARM GETs of the workspace arrived.
func (j *Job) WorkspaceGets() int {
	return j.arm.Count(http.MethodGet, armfake.WorkspacePath(j.opts.SubscriptionID, j.opts.ResourceGroup, j.opts.Workspace))
}

// ListSecretsCalls is how many listsecrets requests arrived for connection.
func (j *Job) ListSecretsCalls(connection string) int {
	return j.arm.Count(http.MethodPost, armfake.WorkspacePath(j.opts.SubscriptionID, j.opts.ResourceGroup, j.opts.Workspace)+"/connections/"+connection+"/listsecrets")
}

// ListSecretsTotal is how many listsecrets requests arrived in all.
func (j *Job) ListSecretsTotal() int {
	n := 0
	for name := range j.opts.Connections {
		n += j.ListSecretsCalls(name)
	}
	return n
}

// Connection is the listsecrets document the fake ARM serves for name.
func (j *Job) Connection(name string) (json.RawMessage, bool) {
	r, ok := j.arm.Answer(http.MethodPost, armfake.WorkspacePath(j.opts.SubscriptionID, j.opts.ResourceGroup, j.opts.Workspace)+"/connections/"+name+"/listsecrets")
	return json.RawMessage(r.Body), ok
}

// Close stops every server and removes a temporary CA file.
func (j *Job) Close() {
	if j.obo != nil {
		j.obo.Close()
	}
	if j.msi != nil {
		j.msi.Close()
	}
	if j.arm != nil {
		j.arm.Close()
	}
	if j.vault != nil {
		j.vault.Close()
	}
	if j.removeCA && j.caFile != "" {
		_ = os.Remove(j.caFile)
	}
}

// Shutdown stops the vault gracefully (persisting --state), then the rest.
func (j *Job) Shutdown(ctx context.Context) error {
	var err error
	if j.vault != nil {
		err = j.vault.Shutdown(ctx)
		j.vault = nil
	}
	j.Close()
	return err
}

// ParseConnections reads a connections file: a JSON object mapping each
// connection name to its listsecrets document, e.g.
//
//	{"openai": {"properties": {"authType": "ApiKey", "category": "AzureOpenAI",
//	  "target": "https://x.openai.azure.com/", "credentials": {"key": "..."},
//	  "metadata": {"ApiVersion": "2024-02-01"}}}}
func ParseConnections(data []byte) (map[string]json.RawMessage, error) {
	if len(data) > MaxConnectionsFile {
		return nil, fmt.Errorf("larger than %d bytes", MaxConnectionsFile)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("not a JSON object of connections (malformed JSON at byte %d)", se.Offset)
		}
		return nil, errors.New(`not a JSON object of connections: want {"NAME": {"properties": {...}}, ...}`)
	}
	for name, doc := range m {
		if !validConnName(name) {
			return nil, fmt.Errorf("connection name %q: want letters, digits, '-', '_' and '.'", name)
		}
		if _, err := connectionDocument("/w", name, doc); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// connectionDocument checks doc and fills in id, name and type.
func connectionDocument(wsPath, name string, doc json.RawMessage) (string, error) {
	var m map[string]json.RawMessage
	if json.Unmarshal(doc, &m) != nil || m == nil {
		return "", fmt.Errorf("connection %s: want a JSON object (the listsecrets document)", name)
	}
	var props map[string]json.RawMessage
	if json.Unmarshal(m["properties"], &props) != nil || props == nil {
		return "", fmt.Errorf(`connection %s: want a "properties" object with authType, category, target, credentials, metadata`, name)
	}
	set := func(k, v string) {
		if _, ok := m[k]; !ok {
			b, _ := json.Marshal(v)
			m[k] = b
		}
	}
	set("id", wsPath+"/connections/"+name)
	set("name", name)
	set("type", "Microsoft.MachineLearningServices/workspaces/connections")
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("connection %s: %w", name, err)
	}
	return string(b), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func uuid() string {
	h := randomHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// selfSigned makes a fresh certificate for the loopback addresses, its own
// CA, so that the bundle trusts this server and nothing else.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "amlsecrets jobemu ARM", Organization: []string{"amlsecrets jobemu"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
