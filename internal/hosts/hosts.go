// Package hosts holds the module's one idea of which hosts are loopback and
// which are Key Vault hosts of an Azure cloud, so that azurevault, workspace,
// run, secret references and the CLI cannot disagree.
package hosts

import (
	"net"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
)

// IsLoopback reports whether host (without port; brackets around an IPv6
// address are allowed) is "localhost" or a loopback IP address: 127.0.0.0/8
// or ::1, also written as an IPv4-mapped IPv6 address.
func IsLoopback(host string) bool {
	h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// IsLoopbackURL reports whether rawURL names a loopback host (see
// IsLoopback). An unparsable URL is not loopback.
func IsLoopbackURL(rawURL string) bool {
	u, err := url.Parse(rawURL)
	return err == nil && u.Host != "" && IsLoopback(u.Hostname())
}

// Vault DNS suffixes of the Azure clouds that exist (Azure Germany's
// vault.microsoftazure.de was retired in 2021 and is not accepted).
const (
	VaultSuffixPublic     = "vault.azure.net"
	VaultSuffixChina      = "vault.azure.cn"
	VaultSuffixGovernment = "vault.usgovcloudapi.net"
)

// VaultSuffixes lists every cloud's vault DNS suffix.
func VaultSuffixes() []string {
	return []string{VaultSuffixPublic, VaultSuffixChina, VaultSuffixGovernment}
}

// VaultSuffix returns the vault DNS suffix of a cloud, judged by its
// Microsoft Entra authority host and its Resource Manager endpoint: Azure
// China, Azure US Government, else the public cloud.
func VaultSuffix(c cloud.Configuration) string {
	hosts := strings.ToLower(c.ActiveDirectoryAuthorityHost + " " + c.Services[cloud.ResourceManager].Endpoint)
	switch {
	case strings.Contains(hosts, "chinacloudapi.cn"):
		return VaultSuffixChina
	case strings.Contains(hosts, "usgovcloudapi.net"), strings.Contains(hosts, "microsoftonline.us"):
		return VaultSuffixGovernment
	}
	return VaultSuffixPublic
}

// VaultAudience returns the cloud's Key Vault token audience, such as
// "https://vault.azure.net".
func VaultAudience(c cloud.Configuration) string { return "https://" + VaultSuffix(c) }

// IsVaultScope reports whether scope (as a token request carries it, e.g.
// "https://vault.azure.net/.default") is the Key Vault audience aud.
func IsVaultScope(scope, aud string) bool {
	s := strings.TrimSuffix(strings.TrimSpace(scope), "/.default")
	s = strings.TrimSuffix(s, "/")
	return strings.EqualFold(s, aud)
}
