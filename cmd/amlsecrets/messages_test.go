package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// goIdentifier matches what a person should never have to read in a
// message: a Go identifier such as Options.DotEnvFile, workspace.WriteConfig
// or a bare WriteConfig.
var goIdentifier = regexp.MustCompile(`\b[A-Za-z]+\.[A-Z][A-Za-z]+\b|\bWriteConfig\b|\bFromConfig\b|\bRequireVault\b|\bDotEnvFile\b`)

// requireReadable checks the rules every message follows: it starts with
// "amlsecrets: " and names no Go identifier.
func requireReadable(t *testing.T, stderr string) {
	t.Helper()
	assert.True(t, strings.HasPrefix(stderr, "amlsecrets: "), stderr)
	assert.NotRegexp(t, goIdentifier, stderr)
}

// TestMessagesGolden pins the messages a new user meets first, whole.
func TestMessagesGolden(t *testing.T) {
	dir := t.TempDir() // no config.json here or above (t.TempDir is under /tmp)
	v := startVault(t, nil)
	url := v.srv.ListenURL()

	tests := []struct {
		name string
		o    cliOpts
		args []string
		code int
		want string
	}{
		{
			name: "nothing configured: the reasons as a list",
			o:    cliOpts{dir: dir},
			args: []string{"list"},
			code: exitError,
			want: "amlsecrets: no vault to use:\n" +
				"  no --vault or --config flag\n" +
				"  not in a submitted job (AZUREML_RUN_ID is not set)\n" +
				"  AMLSECRETS_KEYVAULT_URL is not set\n" +
				"  no azureml config.json in " + dir + " or its parent folders\n" +
				"for a local vault, run 'amlsecrets serve --state vault.json > amlsecrets.env' in another shell, then load it here: set -a; . ./amlsecrets.env; set +a\n" +
				"or pass --vault https://NAME.vault.azure.net/ or --config FILE\n",
		},
		{
			name: "--config FILE that does not exist",
			o:    cliOpts{dir: dir},
			args: []string{"list", "--config", "nope.json"},
			code: exitError,
			want: "amlsecrets: --config nope.json: no such file or folder\n",
		},
		{
			name: "a vault URL with a path",
			o:    cliOpts{dir: dir, env: v.env},
			args: []string{"get", "db-password", "--vault", url + "secrets"},
			code: exitError,
			want: "amlsecrets: --vault: azurevault: vault URL \"" + url + "secrets\" has a path or query: it must be the vault's root, like " + url + "\n",
		},
		{
			name: "a stale AMLSECRETS_CA_FILE (serve restarted)",
			o:    cliOpts{dir: dir, env: []string{envKeyVaultURL + "=" + url, envCAFile + "=" + filepath.Join(dir, "gone.pem")}},
			args: []string{"list"},
			code: exitError,
			want: "amlsecrets: AMLSECRETS_KEYVAULT_URL: azurevault: read CA file (AMLSECRETS_CA_FILE): open " + filepath.Join(dir, "gone.pem") +
				": no such file or directory; if 'amlsecrets serve' was restarted, load the amlsecrets.env it printed again (set -a; . ./amlsecrets.env; set +a), else restart 'amlsecrets serve'\n",
		},
		{
			name: "several failures: one a line",
			o:    cliOpts{dir: dir, env: v.env},
			args: []string{"delete", "nope-1", "nope-2"},
			code: exitNotFound,
			want: "delete nope-1: not found (404 SecretNotFound)\n" +
				"delete nope-2: not found (404 SecretNotFound)\n" +
				"amlsecrets: delete: 2 of 2 failed: nope-1, nope-2; check the name with 'amlsecrets list'\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli(t, tt.o, tt.args...)
			assert.Equal(t, tt.code, r.code)
			assert.Equal(t, tt.want, r.stderr)
			requireReadable(t, r.stderr[strings.Index(r.stderr, "amlsecrets: "):])
		})
	}
}

// TestErrorTextKeepsLists: an error holding a list keeps one item
// a line (it used to be folded into "tried, in order:; 1. ...").
func TestErrorTextKeepsLists(t *testing.T) {
	err := errorString("credential: no credential could get a token for S; tried, in order:\n\t1. a: failed\n\t2. b: failed\n")
	assert.Equal(t, "credential: no credential could get a token for S; tried, in order:\n  1. a: failed\n  2. b: failed", errorText(err))
	assert.Equal(t, "one line", errorText(errorString("one line\n")))
	assert.Equal(t, "list:\n  a\nhint", addHint("list:\n  a", "hint", "; "))
	assert.Equal(t, "one; hint", addHint("one", "hint", "; "))
}

type errorString string

func (e errorString) Error() string { return string(e) }

// TestExecEmbeddedReference: exec refuses a reference that is only part of
// a value, and explains a reference the shell did not expand; the command
// does not run.
func TestExecEmbeddedReference(t *testing.T) {
	v := startVault(t, nil)
	ref := "${{keyvault:" + v.srv.ListenURL() + "secrets/db-password}}"
	for name, tc := range map[string]struct{ value, want string }{
		"embedded": {"pw=" + ref, "amlsecrets: exec: resolve DSN: malformed secret reference: a reference must be the whole value (it is only a part of this one): " +
			"give the reference a variable of its own, and build the longer value in the program or in a shell (sh -c '... $VAR ...')\n"},
		"unexpanded": {"${{keyvault:${AMLSECRETS_KEYVAULT_URL}secrets/db-password}}", "amlsecrets: exec: resolve DSN: malformed secret reference: " +
			"it holds ${AMLSECRETS_KEYVAULT_URL}, which the shell did not expand (single quotes keep it as is): use double quotes and write the reference's own $ as \\$ " +
			"(\"\\${{keyvault:${AMLSECRETS_KEYVAULT_URL}secrets/NAME}}\"), or write the URL out\n"},
	} {
		t.Run(name, func(t *testing.T) {
			r := cli(t, cliOpts{env: with(v.env, "DSN="+tc.value)}, "exec", "--", "sh", "-c", "echo ran")
			assert.Equal(t, exitError, r.code)
			assert.Empty(t, r.stdout, "the command did not run")
			assert.Equal(t, tc.want, r.stderr)
		})
	}
}
