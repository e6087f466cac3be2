package secretref

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const ver = "0123456789abcdef0123456789abcdef"

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Ref
	}{
		{"${{keyvault:https://myvault.vault.azure.net/secrets/db-password}}",
			Ref{Kind: Keyvault, VaultURL: "https://myvault.vault.azure.net/", Name: "db-password"}},
		{"  ${{ keyvault:https://MyVault.Vault.Azure.Net/secrets/db-password/ }} ",
			Ref{Kind: Keyvault, VaultURL: "https://myvault.vault.azure.net/", Name: "db-password"}},
		{"${{keyvault:https://myvault.vault.azure.net/secrets/x/" + strings.ToUpper(ver) + "}}",
			Ref{Kind: Keyvault, VaultURL: "https://myvault.vault.azure.net/", Name: "x", Version: ver}},
		{"${{keyvault:https://kv-cn.vault.azure.cn/secrets/x}}",
			Ref{Kind: Keyvault, VaultURL: "https://kv-cn.vault.azure.cn/", Name: "x"}},
		{"${{keyvault:https://kvgov.vault.usgovcloudapi.net/secrets/x}}",
			Ref{Kind: Keyvault, VaultURL: "https://kvgov.vault.usgovcloudapi.net/", Name: "x"}},
		{"${{keyvault:https://127.0.0.1:8443/secrets/x}}",
			Ref{Kind: Keyvault, VaultURL: "https://127.0.0.1:8443/", Name: "x"}},
		{"${{keyvault:https://localhost/secrets/x}}",
			Ref{Kind: Keyvault, VaultURL: "https://localhost/", Name: "x"}},
		{"${{keyvault:https://[::1]:9/secrets/x}}",
			Ref{Kind: Keyvault, VaultURL: "https://[::1]:9/", Name: "x"}},
		{"${{azureml://connections/my-conn}}",
			Ref{Kind: Connection, Connection: "my-conn", Field: FieldAll}},
		{"${{azureml://connections/my_conn/credentials/key}}",
			Ref{Kind: Connection, Connection: "my_conn", Field: FieldCredential, Key: "key"}},
		{"${{azureml://connections/c/metadata/ApiVersion}}",
			Ref{Kind: Connection, Connection: "c", Field: FieldMetadata, Key: "ApiVersion"}},
		{"${{azureml://connections/c/target}}",
			Ref{Kind: Connection, Connection: "c", Field: FieldTarget}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			require.True(t, IsRef(tt.in))
			got, err := Parse(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			again, err := Parse(got.String())
			require.NoError(t, err, "String must parse back")
			assert.Equal(t, got, again)
		})
	}
}

func TestParseMalformed(t *testing.T) {
	tests := []struct{ in, msg string }{
		{"", "does not start"},
		{"${{keyvault:https://v.vault.azure.net/secrets/x", "does not end"},
		{"${{}}", "want ${{keyvault"},
		{"${{other:x}}", "want ${{keyvault"},
		{"${{keyvault:http://myvault.vault.azure.net/secrets/x}}", "https"},
		{"${{keyvault:myvault.vault.azure.net/secrets/x}}", "https"},
		{"${{keyvault:https://evil.example.com/secrets/x}}", "vault host"},
		{"${{keyvault:https://myvault.vault.azure.net.evil.com/secrets/x}}", "vault host"},
		{"${{keyvault:https://a.vault.azure.net/secrets/x}}", "vault host"},
		{"${{keyvault:https://user@myvault.vault.azure.net/secrets/x}}", "user info"},
		{"${{keyvault:https://myvault.vault.azure.net:/secrets/x}}", "empty port"},
		{"${{keyvault:https://myvault.vault.azure.net/keys/x}}", "path must be"},
		{"${{keyvault:https://myvault.vault.azure.net/secrets}}", "path must be"},
		{"${{keyvault:https://myvault.vault.azure.net/secrets/a/b/c}}", "path must be"},
		{"${{keyvault:https://myvault.vault.azure.net/secrets/db_password}}", "secret name"},
		{"${{keyvault:https://myvault.vault.azure.net/secrets/x/123}}", "version"},
		{"${{keyvault:https://myvault.vault.azure.net/secrets/x?api-version=1}}", "query"},
		{"${{keyvault:https://myvault.vault.azure.net/secrets/a b}}", "blank"},
		{"${{azureml://datastores/x}}", "azureml reference"},
		{"${{azureml://connections/}}", "connection name"},
		{"${{azureml://connections/c/credentials}}", "azureml reference"},
		{"${{azureml://connections/c/credentials/}}", "key must be"},
		{"${{azureml://connections/c/secrets/k}}", "azureml reference"},
		{"${{azureml://connections/c/target/x}}", "azureml reference"},
		{"${{azureml://connections/c/credentials/k/x}}", "azureml reference"},
		{"${{azureml://connections/c}}}}", "brace"},
		{"${{" + strings.Repeat("a", maxRefLength) + "}}", "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := Parse(tt.in)
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrMalformed))
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestIsRef(t *testing.T) {
	for in, want := range map[string]bool{
		"plain":                                     false,
		"${{ inputs.data }}":                        false,
		"${{secrets.X}}":                            false,
		"${{KeyVault:whatever":                      true,
		"${{ azureml:x }}":                          true,
		" ${{azureml://connections/c}} ":            true,
		"x ${{keyvault:...}}":                       true, // embedded: Parse refuses it
		"pw=${{ azureml://connections/c/target}}/x": true,
		"${{ inputs.x }} and ${{keyvault:y}}":       true,
		"$${{":                                      false,
	} {
		assert.Equal(t, want, IsRef(in), in)
	}
}

// TestEmbeddedRefused: a reference that is only part of a value is an
// error, never passed through unresolved.
func TestEmbeddedRefused(t *testing.T) {
	for _, in := range []string{
		"pw=${{keyvault:https://myvault.vault.azure.net/secrets/db-password}}",
		"${{keyvault:https://myvault.vault.azure.net/secrets/db-password}}@host",
		"postgres://u:${{ keyvault:https://myvault.vault.azure.net/secrets/db-password }}@db/app",
		"x ${{azureml://connections/c/target}}",
	} {
		_, err := Parse(in)
		require.ErrorIs(t, err, ErrEmbedded, in)
		require.ErrorIs(t, err, ErrMalformed, in)
		assert.Contains(t, err.Error(), "a reference must be the whole value")
		assert.NotContains(t, err.Error(), "db-password")
	}
}

// TestUnexpandedShellVariable: a reference written in single quotes keeps
// ${VAR} as is; the error says the shell did not expand it.
func TestUnexpandedShellVariable(t *testing.T) {
	for in, want := range map[string]string{
		"${{keyvault:${AMLSECRETS_KEYVAULT_URL}secrets/db-password}}": "it holds ${AMLSECRETS_KEYVAULT_URL}, which the shell did not expand",
		"${{keyvault:$AMLSECRETS_KEYVAULT_URL/secrets/db-password}}":  "it holds ${AMLSECRETS_KEYVAULT_URL}, which the shell did not expand",
		"${{keyvault:https://${vault}.vault.azure.net/secrets/x}}":    "it holds a $VARIABLE, which the shell did not expand",
	} {
		_, err := Parse(in)
		require.ErrorIs(t, err, ErrMalformed, in)
		assert.Contains(t, err.Error(), want, in)
		assert.Contains(t, err.Error(), "double quotes")
	}
}

func TestErrorsNeverQuoteInput(t *testing.T) {
	const marker = "Zq9marker"
	for _, in := range []string{
		"${{keyvault:https://" + marker + ".example.com/secrets/x}}",
		"${{keyvault:https://myvault.vault.azure.net/secrets/" + marker + "_x}}",
		"${{azureml://connections/c/" + marker + "/k}}",
		"${{" + marker + "}}",
	} {
		_, err := Parse(in)
		require.Error(t, err)
		assert.NotContains(t, err.Error(), marker)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"${{keyvault:https://myvault.vault.azure.net/secrets/db-password}}",
		"${{keyvault:https://myvault.vault.azure.net/secrets/x/" + ver + "}}",
		"${{keyvault:https://[::1]:9/secrets/x}}",
		"${{azureml://connections/c/credentials/key}}",
		"${{azureml://connections/c/target}}",
		"${{azureml://connections/c}}",
		"${{}}", "", "${{keyvault:https://[}}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if !IsRef(s) {
			t.Fatalf("Parse accepted a value IsRef rejects")
		}
		again, err := Parse(r.String())
		if err != nil || again != r {
			t.Fatalf("String does not round-trip: %v", err)
		}
	})
}
