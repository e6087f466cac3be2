package main

import (
	"os"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVersionString(t *testing.T) {
	tests := []struct {
		name string
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{"no build info", nil, false, "(unknown: built without module information)"},
		{"go install of a tag", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}}, true, "v1.2.3 go1.26.0"},
		{"a checkout with VCS stamping", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
		}}, true, "(devel) (revision 0123456789ab, 2026-12-01T10:00:00Z, modified) go1.26.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, versionString(tt.info, tt.ok))
		})
	}
}

func TestVersionFlag(t *testing.T) {
	var stdout, stderr strings.Builder
	require.Equal(t, 0, run([]string{"--version"}, strings.NewReader(""), &stdout, &stderr))
	info, ok := debug.ReadBuildInfo()
	assert.Equal(t, "amlsecrets "+versionString(info, ok)+"\n", stdout.String())
	assert.Empty(t, stderr.String())

	// The built binary: the module's build info.
	r := cli(t, cliOpts{}, "--version")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `^amlsecrets \S+.* go1\.\d+`, r.stdout)

	// get --version VERSION is still get's own flag.
	stdout.Reset()
	stderr.Reset()
	assert.Equal(t, exitUsage, run([]string{"get", "x", "--version"}, strings.NewReader(""), &stdout, &stderr))
	assert.Contains(t, stderr.String(), "flag needs an argument: --version")
}

// TestUsageMessages pins the usage errors: a suggestion for a near miss, and
// a pointer to the help of the subcommand that was run.
func TestUsageMessages(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"lst"}, `amlsecrets: unknown command "lst": did you mean "list"? (see 'amlsecrets --help')` + "\n"},
		{[]string{"recovr", "x"}, `amlsecrets: unknown command "recovr": did you mean "recover"? (see 'amlsecrets --help')` + "\n"},
		{[]string{"ex"}, `amlsecrets: unknown command "ex": did you mean "exec"? (see 'amlsecrets --help')` + "\n"},
		{[]string{"frobnicate"}, `amlsecrets: unknown command "frobnicate" (see 'amlsecrets --help')` + "\n"},
		{[]string{"get"}, "amlsecrets: get takes one secret name, got 0 arguments (see 'amlsecrets get --help')\n"},
		{[]string{"set", "x", "--from-evn", "X"}, "amlsecrets: unknown flag: --from-evn: did you mean --from-env? (see 'amlsecrets set --help')\n"},
		{[]string{"list", "--jsn"}, "amlsecrets: unknown flag: --jsn: did you mean --json? (see 'amlsecrets list --help')\n"},
		{[]string{"list", "--zzzzzz"}, "amlsecrets: unknown flag: --zzzzzz (see 'amlsecrets list --help')\n"},
		{[]string{"serve", "--throttle", "x"}, "amlsecrets: invalid --throttle \"x\": want N/WINDOW, e.g. 200/1s (see 'amlsecrets serve --help')\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr strings.Builder
			assert.Equal(t, exitUsage, run(tt.args, strings.NewReader(""), &stdout, &stderr))
			assert.Equal(t, tt.want, stderr.String())
			assert.Empty(t, stdout.String())
		})
	}
}

func TestEmptyValueRefused(t *testing.T) {
	v := startVault(t, nil)
	dir := t.TempDir()
	empty := dir + "/empty"
	require.NoError(t, writeFile(empty, ""))
	dot := dir + "/.env"
	require.NoError(t, writeFile(dot, "A=\nB=1\n"))

	for name, tc := range map[string]struct {
		o    cliOpts
		args []string
		want string
	}{
		"--from-env":  {cliOpts{env: with(v.env, "E=")}, []string{"set", "x", "--from-env", "E"}, "set x: --from-env E: the value is empty"},
		"--stdin":     {cliOpts{env: v.env}, []string{"set", "x", "--stdin"}, "set x: --stdin: the value is empty"},
		"--from-file": {cliOpts{env: v.env}, []string{"set", "x", "--from-file", empty}, "set x: --from-file " + empty + ": the value is empty"},
		"--dotenv":    {cliOpts{env: v.env}, []string{"set", "--dotenv", dot}, "nothing was set: a (from A): the value is empty; pass --allow-empty"},
		"--from-env-prefix": {cliOpts{env: with(v.env, "P_A=", "P_B=1")}, []string{"set", "--from-env-prefix", "P_"},
			"nothing was set: a (from P_A): the value is empty; pass --allow-empty"},
	} {
		t.Run(name, func(t *testing.T) {
			r := cli(t, tc.o, tc.args...)
			assert.Equal(t, exitUsage, r.code)
			requireOneLineError(t, r)
			assert.Contains(t, r.stderr, tc.want)
			assert.Contains(t, r.stderr, "--allow-empty")
		})
	}
	assert.Zero(t, v.srv.Stats().Requests, "nothing was sent")

	// --allow-empty stores it.
	r := cli(t, cliOpts{env: with(v.env, "E=")}, "set", "x", "--from-env", "E", "--allow-empty")
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, cliOpts{env: v.env}, "get", "x")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "\n", r.stdout)
	r = cli(t, cliOpts{env: v.env}, "set", "--dotenv", dot, "--allow-empty")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "set a: ok\nset b: ok\n", sortLines(r.stderr))
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }
