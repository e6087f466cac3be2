// Package secretref parses the secret references that Azure ML online
// endpoints resolve in environment variables, so that a Go program resolves
// them the same way:
//
//	${{keyvault:https://VAULT.vault.azure.net/secrets/NAME}}
//	${{keyvault:https://VAULT.vault.azure.net/secrets/NAME/VERSION}}
//	${{azureml://connections/CONN}}                  the whole connection, as JSON
//	${{azureml://connections/CONN/credentials/KEY}}
//	${{azureml://connections/CONN/metadata/KEY}}
//	${{azureml://connections/CONN/target}}
//
// A reference is a whole value: "${{", optional blanks, the body, optional
// blanks, "}}". A value that holds a reference as only a part of it
// ("pw=${{keyvault:...}}") is not resolved: IsRef reports it, and Parse
// fails on it with ErrEmbedded, so that it is never passed through
// unresolved as if it were a plain value. Parse is total: it returns an error
// for any input it does not accept and never panics. Its errors never quote
// the input (except the name of an unexpanded shell variable, ${NAME}).
package secretref

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/go-azureml/secrets/internal/hosts"
)

// Kind tells what a reference points at.
type Kind int

// Reference kinds.
const (
	// Keyvault is a ${{keyvault:...}} reference to a Key Vault secret.
	Keyvault Kind = iota + 1
	// Connection is a ${{azureml://connections/...}} reference to a
	// workspace connection.
	Connection
)

// Field is the part of a connection a Connection reference selects.
type Field int

// Connection fields.
const (
	// FieldAll is the whole connection, as JSON.
	FieldAll Field = iota + 1
	// FieldCredential is one key of the connection's credentials.
	FieldCredential
	// FieldMetadata is one key of the connection's metadata.
	FieldMetadata
	// FieldTarget is the connection's target (its endpoint URL).
	FieldTarget
)

// ErrMalformed is wrapped by every Parse error.
var ErrMalformed = errors.New("malformed secret reference")

// ErrEmbedded is wrapped (with ErrMalformed) by the Parse error of a value
// that holds a reference as only a part of it.
var ErrEmbedded = errors.New("a reference must be the whole value")

const (
	prefix       = "${{"
	suffix       = "}}"
	kvScheme     = "keyvault:"
	amlScheme    = "azureml://"
	connections  = "connections/"
	maxRefLength = 4096
)

// Ref is a parsed reference.
type Ref struct {
	Kind Kind

	// Keyvault references.
	VaultURL string // https://HOST/ (scheme and host lower-cased, port kept)
	Name     string // the secret name
	Version  string // "" = latest

	// Connection references.
	Connection string // the connection name
	Field      Field
	Key        string // the credentials or metadata key, for FieldCredential and FieldMetadata
}

// VaultHost returns the host (with port, if any) of a keyvault reference.
func (r Ref) VaultHost() string {
	u, err := url.Parse(r.VaultURL)
	if err != nil {
		return ""
	}
	return u.Host
}

// String returns the reference in canonical form, ${{...}}. Two references
// to the same thing have the same String (vault hosts are lower-cased).
func (r Ref) String() string {
	switch r.Kind {
	case Keyvault:
		s := prefix + kvScheme + r.VaultURL + "secrets/" + r.Name
		if r.Version != "" {
			s += "/" + r.Version
		}
		return s + suffix
	case Connection:
		s := prefix + amlScheme + connections + r.Connection
		switch r.Field {
		case FieldCredential:
			s += "/credentials/" + r.Key
		case FieldMetadata:
			s += "/metadata/" + r.Key
		case FieldTarget:
			s += "/target"
		}
		return s + suffix
	}
	return "<invalid reference>"
}

// IsRef reports whether s is meant as a reference, or holds one: somewhere in
// it, "${{" is followed (after optional blanks) by "keyvault:" or
// "azureml:". Such a value must Parse (which refuses a reference that is only
// part of the value); any other value (including other ${{...}} templates) is
// not a reference and is left alone.
func IsRef(s string) bool { return refStart(s) >= 0 }

// refStart returns the index of the first "${{" in s that opens a keyvault
// or azureml reference, or -1.
func refStart(s string) int {
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], prefix)
		if j < 0 {
			return -1
		}
		rest := strings.TrimLeft(s[i+j+len(prefix):], " \t")
		if hasPrefixFold(rest, kvScheme) || hasPrefixFold(rest, "azureml:") {
			return i + j
		}
		i += j + 1
	}
	return -1
}

// embedded reports whether s (trimmed) holds a reference that is not the
// whole of it: text before the reference's "${{", or after its "}}".
func embedded(s string) bool {
	i := refStart(s)
	if i < 0 {
		return false
	}
	if i > 0 {
		return true
	}
	end := strings.Index(s, suffix)
	return end >= 0 && strings.Trim(s[end+len(suffix):], "}") != ""
}

// shellVariable finds a shell variable left unexpanded in a reference's
// body, $NAME or ${NAME}, and returns it as ${NAME} (or "a $VARIABLE" when
// NAME is not an environment variable's usual upper-case name).
func shellVariable(body string) (string, bool) {
	for i := 0; i+1 < len(body); i++ {
		if body[i] != '$' {
			continue
		}
		rest := body[i+1:]
		braced := strings.HasPrefix(rest, "{")
		if braced {
			rest = rest[1:]
		}
		n := 0
		for n < len(rest) && n < 64 && (rest[n] == '_' || rest[n] >= 'A' && rest[n] <= 'Z' || rest[n] >= 'a' && rest[n] <= 'z' || n > 0 && rest[n] >= '0' && rest[n] <= '9') {
			n++
		}
		if n == 0 {
			continue
		}
		name := rest[:n]
		if strings.ToUpper(name) == name && n < 64 {
			return "${" + name + "}", true
		}
		return "a $VARIABLE", true
	}
	return "", false
}

func hasPrefixFold(s, p string) bool { return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) }

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// Parse parses one reference, the whole of s (blanks around it allowed).
func Parse(s string) (Ref, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxRefLength {
		return Ref{}, malformed("longer than %d bytes", maxRefLength)
	}
	if embedded(s) {
		return Ref{}, fmt.Errorf("%w: %w (it is only a part of this one): give the reference a variable of its own, "+
			"and build the longer value in the program or in a shell (sh -c '... $VAR ...')", ErrMalformed, ErrEmbedded)
	}
	body, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return Ref{}, malformed("does not start with %s", prefix)
	}
	body, ok = strings.CutSuffix(body, suffix)
	if !ok {
		return Ref{}, malformed("does not end with %s", suffix)
	}
	body = strings.TrimSpace(body)
	if v, ok := shellVariable(body); ok {
		return Ref{}, malformed("it holds %s, which the shell did not expand (single quotes keep it as is): "+
			"use double quotes and write the reference's own $ as \\$ (\"\\${{keyvault:${AMLSECRETS_KEYVAULT_URL}secrets/NAME}}\"), or write the URL out", v)
	}
	for i := 0; i < len(body); i++ {
		if c := body[i]; c <= ' ' || c == 0x7f || c == '{' || c == '}' {
			return Ref{}, malformed("blank, control character or brace inside the reference")
		}
	}
	switch {
	case hasPrefixFold(body, kvScheme):
		return parseKeyvault(body[len(kvScheme):])
	case hasPrefixFold(body, amlScheme):
		return parseConnection(body[len(amlScheme):])
	}
	return Ref{}, malformed("want ${{keyvault:https://VAULT.vault.azure.net/secrets/NAME[/VERSION]}} or ${{azureml://connections/NAME[/credentials/KEY|/metadata/KEY|/target]}}")
}

const kvForm = "want ${{keyvault:https://VAULT.vault.azure.net/secrets/NAME[/VERSION]}}"

func parseKeyvault(s string) (Ref, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || !strings.EqualFold(scheme, "https") {
		return Ref{}, malformed("keyvault reference must use an https:// vault URL; %s", kvForm)
	}
	host, path, _ := strings.Cut(rest, "/")
	if strings.ContainsAny(path, "?#%") || strings.ContainsAny(host, "@?#%") {
		return Ref{}, malformed("keyvault reference: query, fragment, user info or escapes are not allowed; %s", kvForm)
	}
	host = strings.ToLower(host)
	if err := checkVaultHost(host); err != nil {
		return Ref{}, err
	}
	path = strings.TrimSuffix(path, "/")
	parts := strings.Split(path, "/")
	if len(parts) < 2 || len(parts) > 3 || !strings.EqualFold(parts[0], "secrets") {
		return Ref{}, malformed("keyvault reference: path must be /secrets/NAME or /secrets/NAME/VERSION; %s", kvForm)
	}
	r := Ref{Kind: Keyvault, VaultURL: "https://" + host + "/", Name: parts[1]}
	if !validSecretName(r.Name) {
		return Ref{}, malformed("keyvault reference: secret name must be 1-127 characters of 0-9, a-z, A-Z and '-'")
	}
	if len(parts) == 3 {
		r.Version = strings.ToLower(parts[2])
		if !validVersion(r.Version) {
			return Ref{}, malformed("keyvault reference: secret version must be 32 hexadecimal characters")
		}
	}
	return r, nil
}

func checkVaultHost(host string) error {
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		h, port = host, ""
	} else if port == "" {
		return malformed("keyvault reference: empty port")
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return malformed("keyvault reference: port must be a number")
		}
	}
	if IsLoopback(h) {
		return nil
	}
	// The Key Vault DNS zones of the Azure clouds (hosts.VaultSuffixes);
	// loopback hosts (an emulator) are accepted above.
	for _, suf := range hosts.VaultSuffixes() {
		if name, ok := strings.CutSuffix(h, "."+suf); ok && validVaultName(name) {
			return nil
		}
	}
	return malformed("keyvault reference: vault host must be VAULT.vault.azure.net (or another Azure cloud's Key Vault zone, or a loopback emulator)")
}

// IsLoopback reports whether host (no port) is localhost or a loopback IP;
// it is hosts.IsLoopback, the module's one loopback rule.
func IsLoopback(host string) bool { return hosts.IsLoopback(host) }

// validVaultName: 3-24 characters of [0-9a-z-], starting with a letter.
func validVaultName(s string) bool {
	if len(s) < 3 || len(s) > 24 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func validSecretName(s string) bool {
	if len(s) < 1 || len(s) > 127 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func validVersion(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'f' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

const connForm = "want ${{azureml://connections/NAME}}, .../credentials/KEY, .../metadata/KEY or .../target"

func parseConnection(s string) (Ref, error) {
	rest, ok := cutPrefixFold(s, connections)
	if !ok {
		return Ref{}, malformed("azureml reference: %s", connForm)
	}
	if strings.ContainsAny(rest, "?#%") {
		return Ref{}, malformed("azureml reference: query, fragment or escapes are not allowed; %s", connForm)
	}
	parts := strings.Split(rest, "/")
	r := Ref{Kind: Connection, Connection: parts[0], Field: FieldAll}
	if !validConnName(r.Connection) {
		return Ref{}, malformed("azureml reference: connection name must be 1-255 characters of letters, digits, '_', '.' and '-'")
	}
	switch {
	case len(parts) == 1:
	case len(parts) == 2 && strings.EqualFold(parts[1], "target"):
		r.Field = FieldTarget
	case len(parts) == 3 && strings.EqualFold(parts[1], "credentials"):
		r.Field, r.Key = FieldCredential, parts[2]
	case len(parts) == 3 && strings.EqualFold(parts[1], "metadata"):
		r.Field, r.Key = FieldMetadata, parts[2]
	default:
		return Ref{}, malformed("azureml reference: %s", connForm)
	}
	if r.Field == FieldCredential || r.Field == FieldMetadata {
		if !validKey(r.Key) {
			return Ref{}, malformed("azureml reference: key must be 1-255 characters of letters, digits, '_', '.' and '-'")
		}
	}
	return r, nil
}

func cutPrefixFold(s, p string) (string, bool) {
	if hasPrefixFold(s, p) {
		return s[len(p):], true
	}
	return s, false
}

func validConnName(s string) bool {
	return validKey(s) && s[0] != '.' && s[0] != '-'
}

func validKey(s string) bool {
	if len(s) < 1 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
