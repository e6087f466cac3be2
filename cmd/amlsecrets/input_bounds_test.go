package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every input the CLI reads is bounded, with a clear error: /dev/zero as a
// value file fails at once with a size error instead of growing without end.
func TestInputSizeBounds(t *testing.T) {
	t.Setenv("AMLSECRETS_KEYVAULT_URL", "")
	big := filepath.Join(t.TempDir(), "big.env")
	require.NoError(t, os.WriteFile(big, []byte(strings.Repeat("A_KEY=value\n", 9<<20/12)), 0o600))
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"from-file /dev/zero", []string{"set", "x", "--from-file", "/dev/zero"}, "", "set x: --from-file /dev/zero: larger than 25 KiB, the most accepted (Key Vault's limit for a value)"},
		{"stdin", []string{"set", "x", "--stdin"}, strings.Repeat("v", 25<<10+3), "set x: --stdin: larger than 25 KiB, the most accepted"},
		{"dotenv", []string{"set", "--dotenv", big}, "", "file larger than 8 MiB"},
		{"dotenv /dev/zero", []string{"set", "--dotenv", "/dev/zero"}, "", "--dotenv /dev/zero"},
		{"exec dotenv", []string{"exec", "--dotenv", big, "--", "true"}, "", "file larger than 8 MiB"},
		{"config /dev/zero", []string{"list", "--config", "/dev/zero"}, "", "larger than 1 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := runContext(t.Context(), tc.args, strings.NewReader(tc.stdin), &stdout, &stderr)
			assert.NotEqual(t, exitOK, code)
			assert.Contains(t, stderr.String(), tc.want)
			assert.Equal(t, 1, strings.Count(stderr.String(), "\n"), "one line: %q", stderr.String())
		})
	}
}
