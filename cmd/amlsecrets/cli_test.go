package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
	"github.com/go-azureml/secrets/run/jobemu"
)

// vaultEnv is the environment pointing the CLI at one emulator.
type vaultEnv struct {
	srv *keyvaulttest.Server
	env []string // AMLSECRETS_* entries
}

// startVault starts an in-process emulator (accepting the CLI's local token)
// and returns the variables `amlsecrets serve` would print for it.
//
// A non-nil opts is used as is (set AcceptAnyToken for the CLI to get in).
func startVault(t *testing.T, opts *keyvaulttest.ServerOptions) *vaultEnv {
	t.Helper()
	o := keyvaulttest.ServerOptions{}
	if opts != nil {
		o = *opts
	}
	if opts == nil {
		o.AcceptAnyToken = true
	}
	srv, err := keyvaulttest.StartServer(&o)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, srv.CACertPEM(), 0o644))
	return &vaultEnv{srv: srv, env: []string{envKeyVaultURL + "=" + srv.ListenURL(), envCAFile + "=" + ca}}
}

// result is one run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

// cliOpts configure one run of the binary.
type cliOpts struct {
	env   []string // beyond PATH and HOME
	stdin string
	dir   string // default: a fresh empty folder, so no config.json is found
}

// cli runs the amlsecrets binary with a clean environment: PATH, HOME (an
// empty folder) and o.env; nothing of the test process's AZURE_* or
// AMLSECRETS_* leaks in.
func cli(t *testing.T, o cliOpts, args ...string) result {
	t.Helper()
	bin := buildBinary(t)
	cmd := exec.Command(bin, args...)
	home := t.TempDir()
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}, o.env...)
	cmd.Dir = o.dir
	if cmd.Dir == "" {
		cmd.Dir = t.TempDir()
	}
	cmd.Stdin = strings.NewReader(o.stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "run %v", args)
		code = ee.ExitCode()
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func with(env []string, more ...string) []string {
	return append(append([]string(nil), env...), more...)
}

// requireOneLineError checks the error contract: one line on stderr.
func requireOneLineError(t *testing.T, r result) {
	t.Helper()
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
	assert.True(t, strings.HasPrefix(r.stderr, "amlsecrets: "), r.stderr)
}

func TestSetGetListDelete(t *testing.T) {
	v := startVault(t, nil)
	env := v.env

	// --from-env
	r := cli(t, cliOpts{env: with(env, "DB_PASSWORD=hunter2")}, "set", "db-password", "--from-env", "DB_PASSWORD")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, r.stdout)
	r = cli(t, cliOpts{env: env}, "get", "db-password")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "hunter2\n", r.stdout, "the value alone and a newline")
	assert.Empty(t, r.stderr)

	// --stdin: one trailing newline dropped
	r = cli(t, cliOpts{env: env, stdin: "tok en\n"}, "set", "api-token", "--stdin", "--content-type", "text/plain", "--tag", "owner=me", "--tag", "env=dev")
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, cliOpts{env: env}, "get", "api-token", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var got secretJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	require.NotNil(t, got.Value)
	assert.Equal(t, "tok en", *got.Value)
	assert.Equal(t, "api-token", got.Name)
	assert.Equal(t, "text/plain", got.ContentType)
	assert.Equal(t, map[string]string{"owner": "me", "env": "dev"}, got.Tags)
	assert.Len(t, got.Version, 32)
	assert.True(t, got.Enabled)

	// --from-file: the bytes exactly
	file := filepath.Join(t.TempDir(), "cert.pem")
	require.NoError(t, os.WriteFile(file, []byte("line1\nline2\n"), 0o600))
	r = cli(t, cliOpts{env: env}, "set", "cert", "--from-file", file)
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, cliOpts{env: env}, "get", "cert")
	assert.Equal(t, "line1\nline2\n\n", r.stdout)

	// --version
	r = cli(t, cliOpts{env: env}, "get", "api-token", "--version", got.Version)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "tok en\n", r.stdout)

	// list: names; --json: metadata, never values
	r = cli(t, cliOpts{env: env}, "list")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "api-token\ncert\ndb-password\n", r.stdout)
	r = cli(t, cliOpts{env: env}, "list", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var items []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &items))
	require.Len(t, items, 3)
	assert.Equal(t, "api-token", items[0]["name"])
	assert.Equal(t, map[string]any{"owner": "me", "env": "dev"}, items[0]["tags"])
	for _, it := range items {
		assert.NotContains(t, it, "value")
	}
	assert.NotContains(t, r.stdout, "hunter2")

	// delete reports each name; a missing one fails with exit 3
	r = cli(t, cliOpts{env: env}, "delete", "cert", "nope", "db-password")
	assert.Equal(t, exitNotFound, r.code, r.stderr)
	assert.Contains(t, r.stderr, "delete cert: ok\n")
	assert.Contains(t, r.stderr, "delete db-password: ok\n")
	assert.Contains(t, r.stderr, "delete nope: not found")
	assert.Contains(t, r.stderr, "amlsecrets: delete: 1 of 3 failed: nope")
	r = cli(t, cliOpts{env: env}, "list")
	assert.Equal(t, "api-token\n", r.stdout)
	r = cli(t, cliOpts{env: env}, "delete", "api-token")
	assert.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "delete api-token: ok\n", r.stderr)
}

func TestGetMissing(t *testing.T) {
	v := startVault(t, nil)
	r := cli(t, cliOpts{env: v.env}, "get", "db-password")
	assert.Equal(t, exitNotFound, r.code)
	assert.Empty(t, r.stdout)
	requireOneLineError(t, r)
	assert.Contains(t, r.stderr, "db-password")
	assert.Contains(t, r.stderr, "not found")
	assert.Contains(t, r.stderr, "amlsecrets list", "says what to do")
}

func TestBadName(t *testing.T) {
	v := startVault(t, nil)
	for _, args := range [][]string{
		{"get", "db_password"},
		{"delete", "ok-name", "db_password"},
		{"set", "db_password", "--from-env", "X"},
	} {
		t.Run(args[0], func(t *testing.T) {
			r := cli(t, cliOpts{env: with(v.env, "X=1")}, args...)
			assert.Equal(t, exitUsage, r.code, "a bad name is a usage error (exit 2), refused before any request")
			requireOneLineError(t, r)
			assert.Contains(t, r.stderr, `did you mean "db-password"`)
		})
	}
	assert.Zero(t, v.srv.Stats().Requests, "nothing was sent")
}

func TestValueOnCommandLineRefused(t *testing.T) {
	v := startVault(t, nil)
	for name, args := range map[string][]string{
		"positional": {"set", "db-password", "hunter2"},
		"NAME=VALUE": {"set", "db-password=hunter2"},
		"--value":    {"set", "db-password", "--value", "hunter2"},
		"--value=":   {"set", "db-password", "--value=hunter2"},
	} {
		t.Run(name, func(t *testing.T) {
			r := cli(t, cliOpts{env: v.env}, args...)
			assert.Equal(t, exitUsage, r.code)
			requireOneLineError(t, r)
			assert.Contains(t, r.stderr, "--stdin")
			assert.Contains(t, r.stderr, "--from-env")
			assert.Contains(t, r.stderr, "shell history")
			assert.NotContains(t, r.stderr, "hunter2", "the refused value is not echoed")
		})
	}
	assert.Zero(t, v.srv.Stats().Requests, "nothing was sent")
}

func TestSetUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no source", []string{"set", "x"}, "--from-env VAR, --from-file FILE or --stdin"},
		{"no name", []string{"set"}, "set needs a NAME"},
		{"two sources", []string{"set", "x", "--stdin", "--from-env", "X"}, "not --from-env and --stdin"},
		{"batch with name", []string{"set", "x", "--dotenv", "f"}, "takes no NAME"},
		{"unset variable", []string{"set", "x", "--from-env", "UNSET_VAR"}, "UNSET_VAR: the variable is not set"},
		{"bad tag", []string{"set", "x", "--stdin", "--tag", "novalue"}, "KEY=VALUE"},
		{"get two names", []string{"get", "a", "b"}, "one secret name"},
		{"delete no names", []string{"delete"}, "one or more"},
		{"unknown flag", []string{"get", "--nope"}, "unknown flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(tt.args, strings.NewReader(""), &stdout, &stderr)
			assert.Equal(t, exitUsage, code, stderr.String())
			assert.Contains(t, stderr.String(), tt.want)
			assert.Equal(t, 1, strings.Count(stderr.String(), "\n"), stderr.String())
		})
	}
}

func TestUnreachableVault(t *testing.T) {
	v := startVault(t, nil)
	// A loopback port with nothing listening.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "https://" + ln.Addr().String() + "/"
	require.NoError(t, ln.Close())

	start := time.Now()
	r := cli(t, cliOpts{env: v.env}, "get", "db-password", "--vault", dead)
	assert.Less(t, time.Since(start), 10*time.Second, "bounded retries")
	assert.Equal(t, exitError, r.code)
	requireOneLineError(t, r)
	assert.Contains(t, r.stderr, "db-password")
	assert.Contains(t, r.stderr, "unavailable")
	assert.Contains(t, r.stderr, "amlsecrets serve", "says what to do")

	// --timeout bounds a vault that accepts but never answers.
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer hang.Close()
	start = time.Now()
	r = cli(t, cliOpts{env: v.env}, "list", "--vault", "https://"+hang.Addr().String()+"/", "--timeout", "1s")
	assert.Less(t, time.Since(start), 8*time.Second)
	assert.Equal(t, exitError, r.code)
	requireOneLineError(t, r)
	assert.Contains(t, r.stderr, "--timeout")
}

func TestVaultPicking(t *testing.T) {
	v := startVault(t, nil)
	r := cli(t, cliOpts{env: with(v.env, "X=from-env-url")}, "set", "pick", "--from-env", "X")
	require.Equal(t, 0, r.code, r.stderr)
	url := v.srv.ListenURL()
	caEnv := v.env[1]
	deadEnv := envKeyVaultURL + "=https://127.0.0.1:1/"

	// --vault beats AMLSECRETS_KEYVAULT_URL.
	r = cli(t, cliOpts{env: []string{deadEnv, caEnv}}, "get", "pick", "--vault", url)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "from-env-url\n", r.stdout)

	// --config (a workspace config naming its vault) beats it too.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ws.json")
	require.NoError(t, os.WriteFile(cfg, []byte(`{"subscription_id":"s","resource_group":"rg","workspace_name":"w","key_vault":"`+url+`"}`), 0o600))
	r = cli(t, cliOpts{env: []string{deadEnv, caEnv}}, "get", "pick", "--config", cfg)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "from-env-url\n", r.stdout)

	// Without flags or AMLSECRETS_KEYVAULT_URL: azureml's search from the
	// current directory (.azureml/config.json in a parent).
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".azureml"), 0o755))
	require.NoError(t, os.Rename(cfg, filepath.Join(dir, ".azureml", "config.json")))
	sub := filepath.Join(dir, "src", "job")
	require.NoError(t, os.MkdirAll(sub, 0o755))
	r = cli(t, cliOpts{env: []string{caEnv}, dir: sub}, "get", "pick")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "from-env-url\n", r.stdout)
}

func TestSetFromEnvPrefix(t *testing.T) {
	v := startVault(t, nil)
	r := cli(t, cliOpts{env: with(v.env, "APP_DB_PASSWORD=p1", "APP_API_KEY=k1", "OTHER=o", "APP_=empty-rest")}, "set", "--from-env-prefix", "APP_")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "set api-key: ok\nset db-password: ok\n", sortLines(r.stderr), "no progress line when stderr is not a terminal")
	r = cli(t, cliOpts{env: v.env}, "list")
	assert.Equal(t, "api-key\ndb-password\n", r.stdout)
	r = cli(t, cliOpts{env: v.env}, "get", "db-password")
	assert.Equal(t, "p1\n", r.stdout)

	r = cli(t, cliOpts{env: v.env}, "set", "--from-env-prefix", "NOPE_")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "no environment variable has this prefix")
}

func sortLines(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i := range lines {
		for j := i + 1; j < len(lines); j++ {
			if lines[j] < lines[i] {
				lines[i], lines[j] = lines[j], lines[i]
			}
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestSetDotenv(t *testing.T) {
	v := startVault(t, nil)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.env")
	require.NoError(t, os.WriteFile(good, []byte("# comment\nexport DB_PASSWORD='p w'\ndb-user=admin\nApiKey=\"k\\n1\"\n"), 0o600))
	r := cli(t, cliOpts{env: v.env}, "set", "--dotenv", good)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "set apikey: ok\nset db-password: ok\nset db-user: ok\n", sortLines(r.stderr), "every key is mapped the same way")
	r = cli(t, cliOpts{env: v.env}, "get", "db-password")
	assert.Equal(t, "p w\n", r.stdout)
	r = cli(t, cliOpts{env: v.env}, "get", "apikey")
	assert.Equal(t, "k\n1\n", r.stdout)

	// A bad line: the error gives its line number and none of the file's text.
	bad := filepath.Join(dir, "bad.env")
	require.NoError(t, os.WriteFile(bad, []byte("A=1\n\nthis line has s3cret-text\nB=2\n"), 0o600))
	r = cli(t, cliOpts{env: v.env}, "set", "--dotenv", bad)
	assert.Equal(t, exitError, r.code)
	requireOneLineError(t, r)
	assert.Contains(t, r.stderr, "line 3")
	assert.Contains(t, r.stderr, bad)
	assert.NotContains(t, r.stderr, "s3cret")

	// A key that cannot become a secret name: nothing is set.
	before := v.srv.Stats().Requests
	badName := filepath.Join(dir, "badname.env")
	require.NoError(t, os.WriteFile(badName, []byte("GOOD=1\nmy.key=2\n"), 0o600))
	r = cli(t, cliOpts{env: v.env}, "set", "--dotenv", badName)
	assert.Equal(t, exitUsage, r.code)
	requireOneLineError(t, r)
	assert.Contains(t, r.stderr, "nothing was set")
	assert.Contains(t, r.stderr, "my.key")
	assert.Equal(t, before, v.srv.Stats().Requests)

	// Two keys naming one secret.
	dup := filepath.Join(dir, "dup.env")
	require.NoError(t, os.WriteFile(dup, []byte("DB_USER=1\ndb-user=2\n"), 0o600))
	r = cli(t, cliOpts{env: v.env}, "set", "--dotenv", dup)
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "map to it")
}

func TestSetBatchPartialFailure(t *testing.T) {
	v := startVault(t, nil)
	// A deleted (not purged) name cannot be set: 409 Conflict.
	r := cli(t, cliOpts{env: with(v.env, "X=1")}, "set", "gone", "--from-env", "X")
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, cliOpts{env: v.env}, "delete", "gone")
	require.Equal(t, 0, r.code, r.stderr)

	r = cli(t, cliOpts{env: with(v.env, "B_GONE=2", "B_KEPT=3")}, "set", "--from-env-prefix", "B_")
	assert.Equal(t, exitError, r.code)
	assert.Contains(t, r.stderr, "set kept: ok\n")
	assert.Contains(t, r.stderr, "set gone: conflict")
	assert.Contains(t, r.stderr, "amlsecrets: set: 1 of 2 failed: gone")
	assert.NotContains(t, r.stderr, "=2")
	r = cli(t, cliOpts{env: v.env}, "get", "kept")
	assert.Equal(t, "3\n", r.stdout, "what succeeded stays set")
}

func TestThrottled(t *testing.T) {
	v := startVault(t, &keyvaulttest.ServerOptions{AcceptAnyToken: true, ThrottleLimit: 1, ThrottleWindow: time.Minute})
	r := cli(t, cliOpts{env: with(v.env, "X=1")}, "set", "a", "--from-env", "X")
	require.Equal(t, 0, r.code, r.stderr)
	start := time.Now()
	r = cli(t, cliOpts{env: v.env}, "get", "a", "--timeout", "5s")
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Equal(t, exitThrottled, r.code, r.stderr)
	requireOneLineError(t, r)
	assert.Contains(t, r.stderr, "throttl")
}

func TestPermissionDenied(t *testing.T) {
	// This emulator accepts only its own fake credential's token, not the
	// CLI's local one: 401.
	v := startVault(t, &keyvaulttest.ServerOptions{})
	r := cli(t, cliOpts{env: v.env}, "get", "db-password")
	assert.Equal(t, exitPermission, r.code, r.stderr)
	requireOneLineError(t, r)
	assert.Contains(t, r.stderr, "db-password")
	assert.Contains(t, r.stderr, "Key Vault Secrets User", "says what to do")
}

func TestHelpDocumentsExitCodes(t *testing.T) {
	var stdout, stderr strings.Builder
	require.Equal(t, 0, run([]string{"--help"}, strings.NewReader(""), &stdout, &stderr))
	for _, want := range []string{"0  ok", "2  usage", "3  a secret not found", "4  permission", "5  throttled", "set", "get", "list", "delete", "exec", "serve"} {
		assert.Contains(t, stdout.String(), want)
	}
}

// TestServeWorkflow is the README's local workflow with serve as a separate
// process: serve, load its output, set, get, list.
func TestServeWorkflow(t *testing.T) {
	bin := buildBinary(t)
	p := startServe(t, bin)
	env := []string{envKeyVaultURL + "=" + p.url, envCAFile + "=" + p.ca}
	r := cli(t, cliOpts{env: env, stdin: "hunter2\n"}, "set", "db-password", "--stdin")
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, cliOpts{env: env}, "get", "db-password")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "hunter2\n", r.stdout)
	r = cli(t, cliOpts{env: env}, "list")
	assert.Equal(t, "db-password\n", r.stdout)
	r = cli(t, cliOpts{env: with(env, "DB_PASSWORD=${{keyvault:"+p.url+"secrets/db-password}}")}, "exec", "--", "sh", "-c", `test "$DB_PASSWORD" = hunter2 && exit 3 || exit 9`)
	assert.Equal(t, 3, r.code, "exec resolved the reference; stderr: %s", r.stderr)
	p.stop(t, syscall.SIGTERM)
	assert.NotContains(t, p.stderr.String(), "hunter2")
}

func TestExec(t *testing.T) {
	v := startVault(t, nil)
	r := cli(t, cliOpts{env: with(v.env, "P=hunter2")}, "set", "db-password", "--from-env", "P")
	require.Equal(t, 0, r.code, r.stderr)
	ref := "${{keyvault:" + v.srv.ListenURL() + "secrets/db-password}}"

	t.Run("exit status passes through", func(t *testing.T) {
		r := cli(t, cliOpts{env: v.env}, "exec", "--", "sh", "-c", "exit 7")
		assert.Equal(t, 7, r.code, r.stderr)
		assert.Empty(t, r.stderr)
	})
	t.Run("reference resolved into the child's environment", func(t *testing.T) {
		r := cli(t, cliOpts{env: with(v.env, "DB_PASSWORD="+ref, "PLAIN=x")}, "exec", "--", "sh", "-c", `printf '%s|%s' "$DB_PASSWORD" "$PLAIN"`)
		require.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, "hunter2|x", r.stdout)
		assert.Empty(t, r.stderr)
	})
	t.Run("without --, flags after CMD are CMD's", func(t *testing.T) {
		r := cli(t, cliOpts{env: v.env}, "exec", "sh", "-c", "echo ok")
		require.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, "ok\n", r.stdout)
	})
	t.Run("dotenv adds variables; the environment wins", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), ".env")
		require.NoError(t, os.WriteFile(file, []byte("DB_PASSWORD="+ref+"\nMODE=file\nKEEP=file\n"), 0o600))
		r := cli(t, cliOpts{env: with(v.env, "KEEP=env")}, "exec", "--dotenv", file, "--", "sh", "-c", `printf '%s|%s|%s' "$DB_PASSWORD" "$MODE" "$KEEP"`)
		require.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, "hunter2|file|env", r.stdout)
	})
	t.Run("bad dotenv line", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), ".env")
		require.NoError(t, os.WriteFile(file, []byte("A=1\nnot a line\n"), 0o600))
		r := cli(t, cliOpts{env: v.env}, "exec", "--dotenv", file, "--", "true")
		assert.Equal(t, exitError, r.code)
		requireOneLineError(t, r)
		assert.Contains(t, r.stderr, "line 2")
	})
	t.Run("missing secret: the command does not run", func(t *testing.T) {
		missing := "${{keyvault:" + v.srv.ListenURL() + "secrets/nope}}"
		r := cli(t, cliOpts{env: with(v.env, "X="+missing)}, "exec", "--", "sh", "-c", "echo ran")
		assert.Equal(t, exitNotFound, r.code, r.stderr)
		assert.Empty(t, r.stdout)
		requireOneLineError(t, r)
		assert.Contains(t, r.stderr, "X")
		assert.Contains(t, r.stderr, "nope")
	})
	t.Run("malformed reference", func(t *testing.T) {
		r := cli(t, cliOpts{env: with(v.env, "X=${{keyvault:http://evil.example/secrets/a}}")}, "exec", "--", "true")
		assert.Equal(t, exitError, r.code, r.stderr)
		requireOneLineError(t, r)
		assert.Contains(t, r.stderr, "X")
	})
	t.Run("no command", func(t *testing.T) {
		r := cli(t, cliOpts{env: v.env}, "exec")
		assert.Equal(t, exitUsage, r.code)
		r = cli(t, cliOpts{env: v.env}, "exec", "--", "no-such-command-xyz")
		assert.Equal(t, exitError, r.code)
		requireOneLineError(t, r)
		assert.Contains(t, r.stderr, "no-such-command-xyz")
	})
}

// Inside a job (AZUREML_RUN_ID and the workspace variables set, as Azure ML
// and `amlsecrets serve --job` set them), the CLI reads the job's workspace
// default vault, as run.GetContext does, and a job missing a workspace
// variable is told which.
func TestJobVaultPicking(t *testing.T) {
	job, err := jobemu.Start(&jobemu.Options{Secrets: map[string]string{"db-password": "from-job-vault"}})
	require.NoError(t, err)
	t.Cleanup(job.Close)

	r := cli(t, cliOpts{env: job.Env()}, "get", "db-password")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "from-job-vault\n", r.stdout)
	assert.Equal(t, 1, job.WorkspaceGets(), "the workspace was read from the job's ARM endpoint")

	r = cli(t, cliOpts{env: job.Env()}, "list")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "db-password\n", r.stdout)

	var partial []string
	for _, kv := range job.Env() {
		if !strings.HasPrefix(kv, "AZUREML_ARM_WORKSPACE_NAME=") {
			partial = append(partial, kv)
		}
	}
	r = cli(t, cliOpts{env: partial}, "get", "db-password")
	assert.Equal(t, 1, r.code)
	requireOneLineError(t, r)
	assert.Contains(t, r.stderr, "AZUREML_RUN_ID is local_")
	assert.Contains(t, r.stderr, "so this is a submitted job, but: workspace: environment lacks AZUREML_ARM_WORKSPACE_NAME")
}
