package keyvaulttest

import (
	"github.com/go-azureml/secrets/keyvault/kvemulator"
)

// DefaultVaultName is the vault name NewServer uses when ServerOptions.VaultName is empty.
const DefaultVaultName = kvemulator.DefaultVaultName

// DefaultTenantID is the tenant the server names in its authentication challenge
// when ServerOptions.TenantID is empty.
const DefaultTenantID = kvemulator.DefaultTenantID

// ChallengeResource is the resource the server names in its authentication challenge,
// as Azure Key Vault in the public cloud does.
const ChallengeResource = kvemulator.ChallengeResource

// MaxValueBytes is the largest secret value, in bytes, the server accepts (25 KiB, as Key Vault).
const MaxValueBytes = kvemulator.MaxValueBytes

// Route names, as Stats.ByRoute reports them: the REST API's operation names.
const (
	RouteSetSecret            = kvemulator.RouteSetSecret
	RouteGetSecret            = kvemulator.RouteGetSecret
	RouteUpdateSecret         = kvemulator.RouteUpdateSecret
	RouteDeleteSecret         = kvemulator.RouteDeleteSecret
	RouteGetSecrets           = kvemulator.RouteGetSecrets
	RouteGetSecretVersions    = kvemulator.RouteGetSecretVersions
	RouteGetDeletedSecrets    = kvemulator.RouteGetDeletedSecrets
	RouteGetDeletedSecret     = kvemulator.RouteGetDeletedSecret
	RoutePurgeDeletedSecret   = kvemulator.RoutePurgeDeletedSecret
	RouteRecoverDeletedSecret = kvemulator.RouteRecoverDeletedSecret
	RouteBackupSecret         = kvemulator.RouteBackupSecret
	RouteRestoreSecret        = kvemulator.RouteRestoreSecret
	RouteUnknown              = kvemulator.RouteUnknown
)

// ServerOptions configures a Server; see kvemulator.Options. The zero value is
// a well-behaved vault: no latency, no throttling, no faults.
type ServerOptions = kvemulator.Options

// Stats counts what a Server has seen; see kvemulator.Stats.
type Stats = kvemulator.Stats

// Server is the Key Vault emulator of package kvemulator, started for a test.
// Every method of *kvemulator.Server is available on it: VaultURL,
// ClientOptions, Credential, Close, the fault knobs and Stats.
type Server struct {
	*kvemulator.Server
}

// NewServer starts a Server on a loopback port, as httptest.NewServer does, and
// panics if it cannot. opts nil is a well-behaved vault. Callers must Close it.
func NewServer(opts *ServerOptions) *Server {
	s, err := StartServer(opts)
	if err != nil {
		panic("keyvaulttest: " + err.Error())
	}
	return s
}

// StartServer is NewServer returning an error instead of panicking, for callers
// that listen on a given address or load state from a file.
func StartServer(opts *ServerOptions) (*Server, error) {
	s, err := kvemulator.Start(opts)
	if err != nil {
		return nil, err
	}
	return &Server{s}, nil
}
