package keyvault_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/keyvault"
)

const canary = "canary-Zq8fX1-plaintext"

type holder struct {
	Exported keyvault.Value
	hidden   keyvault.Value
	Secret   keyvault.Secret
	Ptr      *keyvault.Value
}

func TestValueNeverPrints(t *testing.T) {
	v := keyvault.NewValue(canary)
	h := holder{Exported: v, hidden: v, Secret: keyvault.Secret{Properties: keyvault.Properties{Name: "n"}, Value: v}, Ptr: &v}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T", "%10s", "%-8v"} {
		for what, arg := range map[string]any{"value": v, "pointer": &v, "struct": h, "struct pointer": &h, "secret": h.Secret, "slice": []keyvault.Value{v}, "map": map[string]keyvault.Value{"k": v}} {
			out := fmt.Sprintf(verb, arg)
			assert.NotContains(t, out, canary, "%s of %s", verb, what)
		}
	}
	assert.Equal(t, keyvault.Redacted, fmt.Sprint(v))
	assert.Equal(t, keyvault.Redacted, v.String())

	js, err := json.Marshal(h)
	require.NoError(t, err)
	assert.NotContains(t, string(js), canary)
	assert.Contains(t, string(js), `"Exported":"[REDACTED]"`)

	var buf bytes.Buffer
	for _, l := range []*slog.Logger{
		slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
		slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
	} {
		l.Debug("secret", "value", v, "holder", h, "secret", h.Secret, "ptr", &v)
	}
	assert.NotContains(t, buf.String(), canary)
	assert.Contains(t, buf.String(), keyvault.Redacted)
}

func TestValueReveal(t *testing.T) {
	v := keyvault.NewValue(canary)
	assert.Equal(t, canary, v.Reveal())
	assert.Equal(t, len(canary), v.Len())
	assert.False(t, v.IsZero())
	assert.True(t, v.Equal(keyvault.NewValue(canary)))
	var zero keyvault.Value
	assert.Equal(t, "", zero.Reveal())
	assert.True(t, zero.IsZero())
	assert.Equal(t, keyvault.Redacted, fmt.Sprintf("%v", zero))
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string // "" = valid
	}{
		{"db-password", ""},
		{"A", ""},
		{"0-9", ""},
		{strings.Repeat("a", 127), ""},
		{"", `invalid secret name "": a name is 1-127 characters of 0-9, a-z, A-Z and '-', and this one is empty`},
		{"db_password", `invalid secret name "db_password": a name is 1-127 characters of 0-9, a-z, A-Z and '-'; Key Vault forbids '_': did you mean "db-password"?`},
		{"has space", `invalid secret name "has space": a name is 1-127 characters of 0-9, a-z, A-Z and '-'`},
		{"ünï", `invalid secret name "ünï": a name is 1-127 characters of 0-9, a-z, A-Z and '-'`},
		{"a_b!", `invalid secret name "a_b!": a name is 1-127 characters of 0-9, a-z, A-Z and '-'`},
		{strings.Repeat("a", 128), `invalid secret name "` + strings.Repeat("a", 40) + `...": a name is 1-127 characters of 0-9, a-z, A-Z and '-', and this one has 128`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := keyvault.ValidateName(tc.name)
			if tc.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, keyvault.ErrInvalidName)
			assert.Equal(t, tc.wantErr, err.Error())
		})
	}
}

func TestNameMappings(t *testing.T) {
	assert.Equal(t, "db-password", keyvault.NameFromEnv("DB_PASSWORD"))
	assert.Equal(t, "DB_PASSWORD", keyvault.EnvFromName("db-password"))
	assert.Equal(t, "a-b-c-d", keyvault.SuggestName("a_b.c d"))
	assert.Equal(t, keyvault.NameKey("DB-Password"), keyvault.NameKey("db-password"))
}

func TestValidateValue(t *testing.T) {
	require.NoError(t, keyvault.ValidateValue(strings.Repeat("x", keyvault.MaxValueBytes)))
	err := keyvault.ValidateValue(canary + strings.Repeat("x", keyvault.MaxValueBytes))
	require.ErrorIs(t, err, keyvault.ErrInvalidValue)
	assert.NotContains(t, err.Error(), canary)
	assert.Contains(t, err.Error(), "25 KiB")
}

func TestClassify(t *testing.T) {
	tests := []struct {
		status int
		code   string
		want   []error
		msg    string
	}{
		{404, "SecretNotFound", []error{keyvault.ErrNotFound}, "not found (404 SecretNotFound)"},
		{401, "Unauthorized", []error{keyvault.ErrPermission}, "permission denied (401 Unauthorized)"},
		{403, "Forbidden", []error{keyvault.ErrPermission}, "permission denied (403 Forbidden)"},
		{403, "SecretDisabled", []error{keyvault.ErrDisabled, keyvault.ErrPermission}, "secret version is disabled (403 SecretDisabled)"},
		{409, "ObjectIsDeletedButRecoverable", []error{keyvault.ErrConflict}, "conflict (409 ObjectIsDeletedButRecoverable)"},
		{429, "Throttled", []error{keyvault.ErrThrottled}, "throttled (429 Throttled)"},
		{503, "", []error{keyvault.ErrUnavailable}, "vault unavailable (HTTP 503)"},
		{400, "BadParameter", nil, "request failed (400 BadParameter)"},
	}
	for _, tc := range tests {
		t.Run(tc.msg, func(t *testing.T) {
			err := keyvault.Classify(tc.status, tc.code, nil)
			for _, w := range tc.want {
				assert.ErrorIs(t, err, w)
			}
			if len(tc.want) == 0 {
				assert.NotErrorIs(t, err, keyvault.ErrNotFound)
			}
			assert.Equal(t, tc.msg, err.Error())
		})
	}
}
