package workspace

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"

	"github.com/go-azureml/secrets/keyvault/azurevault"
)

// Variables that route a workspace to loopback fakes, as `amlsecrets serve
// --job` prints them. Each is honoured for a loopback host only: a value
// that names any other host is an error, never a silent redirect.
const (
	// EnvARMEndpoint is the Resource Manager endpoint to use instead of the
	// cloud's, an https URL of a loopback host (the fake ARM of `amlsecrets
	// serve --job`). Its certificate must be signed by a CA of
	// AMLSECRETS_CA_FILE.
	EnvARMEndpoint = "AMLSECRETS_ARM_ENDPOINT"
	// EnvLocalVaults maps the vault names ARM returns (properties.keyVault)
	// to loopback vault URLs: NAME=https://127.0.0.1:PORT/, comma-separated.
	EnvLocalVaults = "AMLSECRETS_LOCAL_VAULTS"
)

// maxCAFile bounds the CA file read.
const maxCAFile = 1 << 20

// localARM returns co with its Resource Manager endpoint set from
// AMLSECRETS_ARM_ENDPOINT, and, when co has no Transport, one that trusts
// AMLSECRETS_CA_FILE beside the system roots. Without the variable co is
// returned as is.
func (w *Workspace) localARM(co azcore.ClientOptions) (azcore.ClientOptions, error) {
	ep := strings.TrimSpace(w.getenv(EnvARMEndpoint))
	if ep == "" {
		return co, nil
	}
	u, err := url.Parse(ep)
	if err != nil || u.Scheme != "https" || !azurevault.IsLoopback(u.Hostname()) || u.Path != "" && u.Path != "/" {
		return co, fmt.Errorf("%s=%q: want https://127.0.0.1:PORT/, an https URL of a loopback host (it is for `amlsecrets serve --job`); unset it to use Azure", EnvARMEndpoint, ep)
	}
	services := maps.Clone(co.Cloud.Services)
	if services == nil {
		services = map[cloud.ServiceName]cloud.ServiceConfiguration{}
	}
	rm := services[cloud.ResourceManager]
	if rm.Audience == "" {
		rm.Audience = cloud.AzurePublic.Services[cloud.ResourceManager].Audience
	}
	rm.Endpoint = "https://" + u.Host
	services[cloud.ResourceManager] = rm
	co.Cloud.Services = services
	if co.Cloud.ActiveDirectoryAuthorityHost == "" {
		co.Cloud.ActiveDirectoryAuthorityHost = cloud.AzurePublic.ActiveDirectoryAuthorityHost
	}
	if co.Transport == nil {
		if ca := strings.TrimSpace(w.getenv(azurevault.EnvCAFile)); ca != "" {
			t, err := caTransport(ca)
			if err != nil {
				return co, err
			}
			co.Transport = t
		}
	}
	return co, nil
}

func caTransport(file string) (*http.Client, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("read CA file (%s): %w", azurevault.EnvCAFile, err)
	}
	defer f.Close()
	pemBytes, err := io.ReadAll(io.LimitReader(f, maxCAFile+1))
	if err != nil {
		return nil, fmt.Errorf("read CA file (%s): %w", azurevault.EnvCAFile, err)
	}
	if len(pemBytes) > maxCAFile {
		return nil, fmt.Errorf("CA file %s (%s) is larger than %d bytes", file, azurevault.EnvCAFile, maxCAFile)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("CA file %s (%s) holds no PEM certificate", file, azurevault.EnvCAFile)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t}, nil
}

// LocalVaultURL returns the loopback URL that AMLSECRETS_LOCAL_VAULTS (read
// through getenv, nil = os.Getenv) gives the vault of vaultURL
// (https://NAME.vault.azure.net/ or another cloud's suffix), or "" when it
// gives none. A ${{keyvault:...}} reference to the workspace's vault then
// reaches the same emulator as the job's own secrets.
func LocalVaultURL(getenv func(string) string, vaultURL string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	u, err := url.Parse(vaultURL)
	if err != nil {
		return "", nil
	}
	host := strings.ToLower(u.Hostname())
	for _, suffix := range []string{VaultSuffixPublic, VaultSuffixChina, VaultSuffixGovernment} {
		if name, ok := strings.CutSuffix(host, "."+suffix); ok && !strings.Contains(name, ".") {
			return localVault(getenv, name)
		}
	}
	return "", nil
}

// localVault returns the loopback URL AMLSECRETS_LOCAL_VAULTS gives the
// vault name, or "".
func (w *Workspace) localVault(name string) (string, error) { return localVault(w.getenv, name) }

func localVault(getenv func(string) string, name string) (string, error) {
	v := strings.TrimSpace(getenv(EnvLocalVaults))
	if v == "" {
		return "", nil
	}
	for entry := range strings.SplitSeq(v, ",") {
		n, u, ok := strings.Cut(strings.TrimSpace(entry), "=")
		if !ok || strings.TrimSpace(n) == "" {
			return "", fmt.Errorf("%s: entry %q is not NAME=URL", EnvLocalVaults, entry)
		}
		if !strings.EqualFold(strings.TrimSpace(n), name) {
			continue
		}
		u = strings.TrimSpace(u)
		pu, err := url.Parse(u)
		if err != nil || pu.Scheme != "https" || !azurevault.IsLoopback(pu.Hostname()) {
			return "", fmt.Errorf("%s: %s=%q: want an https URL of a loopback host (it is for `amlsecrets serve --job`)", EnvLocalVaults, n, u)
		}
		if !strings.HasSuffix(u, "/") {
			u += "/"
		}
		return u, nil
	}
	return "", nil
}
