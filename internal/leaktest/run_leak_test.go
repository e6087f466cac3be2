package leaktest_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/credential"
	"github.com/go-azureml/secrets/internal/armfake"
	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
	"github.com/go-azureml/secrets/run"
	"github.com/go-azureml/secrets/workspace"
)

const (
	sub, rg, wsName = "00000000-1111-2222-3333-444444444444", "rg-leak", "ws-leak"
	canaryConnKey   = "CANARY-conn-key-44d1"
	canaryToken     = "CANARY-token-5a5a"
)

// TestNoLeakRunAndReferences drives a run over the workspace's vault (fake
// ARM + emulator, a static credential whose token is itself a canary), its
// batch calls and failures, and ResolveEnv over vault and connection
// references (a connection whose credentials hold nested and multi-line
// canaries), success and failure.
func TestNoLeakRunAndReferences(t *testing.T) {
	c := startCapture(t)
	arm := armfake.NewServer()
	defer arm.Close()
	vault := keyvaulttest.NewServer(&keyvaulttest.ServerOptions{VaultName: "leakvault", AcceptAnyToken: true})
	defer vault.Close()
	router := &armfake.Router{Routes: map[string]policy.Transporter{
		arm.Host():                  arm.Transport(),
		"leakvault.vault.azure.net": vault.HTTPClient(),
	}}
	arm.AddWorkspace(sub, rg, wsName, armfake.VaultID(sub, rg, "leakvault"))
	arm.AddConnection(sub, rg, wsName, "custom", map[string]any{
		"authType": "CustomKeys", "category": "CustomKeys", "target": "https://example.invalid/",
		"credentials": map[string]any{"keys": map[string]any{"api-key": canaryConnKey, "config": canaryJSON, "pem": canaryMultiLine}},
		"metadata":    map[string]any{"owner": "ml"},
	})
	co := azcore.ClientOptions{Cloud: arm.Cloud(), Transport: router, Retry: policy.RetryOptions{MaxRetries: -1}}
	co.Logging.AllowedHeaders = []string{"Authorization"} // azcore must redact it anyway
	ws := workspace.New(sub, rg, wsName, &workspace.Options{
		Credential: credential.Static(canaryToken, time.Now().Add(time.Hour)), ClientOptions: co,
	})
	c.record("workspace", ws)
	ctx := t.Context()
	kv, err := ws.DefaultKeyvault(ctx)
	require.NoError(t, err)
	r := run.New(kv, &run.Options{Connections: ws})
	protect(t, c, func() {
		require.NoError(t, r.SetSecrets(ctx, canaries))
		for n, v := range canaries {
			got, err := r.GetSecret(ctx, n)
			require.NoError(t, err)
			require.Equal(t, v, got)
		}
		_, err = r.GetSecrets(ctx, []string{"plain", "missing", "bad_name"})
		c.record("run get secrets", err)
		c.record("run", r)
		c.record("run string", r.String())

		conn, err := ws.ListConnectionSecrets(ctx, "custom")
		require.NoError(t, err)
		c.record("connection", conn)
		c.record("connection credentials", conn.Credentials)
		c.add("%v %+v", conn, *conn)

		environ := []string{
			"A=${{keyvault:https://leakvault.vault.azure.net/secrets/multi-line}}",
			"B=${{azureml://connections/custom}}",
			"C=${{azureml://connections/custom/credentials/api-key}}",
			"D=${{azureml://connections/custom/credentials/pem}}",
		}
		out, err := r.ResolveEnv(ctx, environ)
		require.NoError(t, err)
		joined := strings.Join(out, "\n")
		for _, want := range []string{canaryMultiLine, canaryConnKey, "CANARY-json-91c0ee"} {
			require.Contains(t, joined, want, "the child environment is the explicit reveal")
		}
		for _, bad := range [][]string{
			{"X=${{keyvault:https://leakvault.vault.azure.net/secrets/missing}}", "OK=${{azureml://connections/custom/credentials/api-key}}"},
			{"X=${{azureml://connections/custom/credentials/nope}}"},
			{"X=${{azureml://connections/missing/target}}"},
			{"X=${{keyvault:" + canaryPlain + "}}"},
			{"X=${{azureml://connections/custom/credentials/api-key", "Y=" + canaryPlain},
		} {
			_, err := r.ResolveEnv(ctx, bad)
			require.Error(t, err)
			c.record("resolve failure", err)
		}
		// Wire failures under references.
		vault.FailNext(2, 403)
		_, err = r.ResolveEnv(ctx, []string{"Z=${{keyvault:https://leakvault.vault.azure.net/secrets/unicode}}"})
		c.record("resolve forbidden", err)
		arm.Set(http.MethodPost, armfake.WorkspacePath(sub, rg, wsName)+"/connections/custom/listsecrets", armfake.Response{Status: 500, Body: `{"error":{"code":"InternalError","message":"try later"}}`})
		_, err = ws.ListConnectionSecrets(ctx, "custom")
		c.record("connection 500", err)
	})
	assertNoCanary(t, c)
}

// TestNoLeakOfflineLocalSource: the read-only local source of an offline
// run, from the environment and a .env file holding canaries, with a
// malformed .env file and every failure.
func TestNoLeakOfflineLocalSource(t *testing.T) {
	c := startCapture(t)
	dir := t.TempDir()
	dotenv := filepath.Join(dir, ".env")
	require.NoError(t, os.WriteFile(dotenv, []byte("API_KEY=\""+strings.ReplaceAll(canaryMultiLine, "\n", "\\n")+"\"\nJSON='"+canaryJSON+"'\n"), 0o600))
	env := map[string]string{"DB_PASSWORD": canaryPlain, "UNICODE": canaryUnicode}
	opts := &run.Options{Getenv: func(k string) string { return env[k] }, DotEnvFile: dotenv, ConfigPath: dir}
	ctx := t.Context()
	protect(t, c, func() {
		r, err := run.GetContext(ctx, opts)
		require.NoError(t, err)
		c.record("offline run", r)
		v, err := r.GetSecret(ctx, "db-password")
		require.NoError(t, err)
		require.Equal(t, canaryPlain, v)
		got, err := r.GetSecrets(ctx, []string{"api-key", "json", "unicode", "missing"})
		require.Error(t, err)
		require.Len(t, got, 3)
		c.record("offline missing", err)
		err = r.SetSecrets(ctx, map[string]string{"db-password": canaryPlain})
		require.ErrorIs(t, err, run.ErrReadOnly)
		c.record("offline read-only", err)

		bad := filepath.Join(dir, "bad.env")
		require.NoError(t, os.WriteFile(bad, []byte("OK=1\n"+canaryPlain+" is not a line\nQ=\""+canaryJSON+"\n"), 0o600))
		// The bad line fails GetContext or, if the file is read lazily, the
		// first read.
		r2, err := run.GetContext(ctx, &run.Options{Getenv: opts.Getenv, DotEnvFile: bad, ConfigPath: dir})
		if err == nil {
			_, err = r2.GetSecret(ctx, "ok")
		}
		require.Error(t, err)
		c.record("bad dotenv", err)
	})
	assertNoCanary(t, c)
}

// TestNoLeakCLI runs the amlsecrets binary against the emulator: values go
// in through the environment, stdin and a .env file, come out only through
// `get` (the explicit reveal), and every other output, success or failure,
// is searched.
func TestNoLeakCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the CLI")
	}
	c := &capture{}
	dir := t.TempDir()
	bin := filepath.Join(dir, "amlsecrets")
	goTool, err := exec.LookPath("go")
	require.NoError(t, err)
	out, err := exec.Command(goTool, "build", "-o", bin, "github.com/go-azureml/secrets/cmd/amlsecrets").CombinedOutput()
	require.NoError(t, err, string(out))

	srv, err := keyvaulttest.StartServer(&keyvaulttest.ServerOptions{AcceptAnyToken: true})
	require.NoError(t, err)
	defer srv.Close()
	ca := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(ca, srv.CACertPEM(), 0o600))
	dotenv := filepath.Join(dir, "secrets.env")
	require.NoError(t, os.WriteFile(dotenv, []byte("JSON_CONF='"+canaryJSON+"'\nUNI=\""+canaryUnicode+"\"\n"), 0o600))
	badenv := filepath.Join(dir, "bad.env")
	require.NoError(t, os.WriteFile(badenv, []byte("A=1\n"+canaryPlain+"\n"), 0o600))
	valueFile := filepath.Join(dir, "pem")
	require.NoError(t, os.WriteFile(valueFile, []byte(canaryMultiLine), 0o600))

	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"AMLSECRETS_KEYVAULT_URL=" + srv.ListenURL(), "AMLSECRETS_CA_FILE=" + ca,
		"DB_PASSWORD=" + canaryPlain, "APP_SECRET_TOKEN=" + canaryUnicode}
	cli := func(reveal bool, stdin string, args ...string) int {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Env = base
		cmd.Stdin = strings.NewReader(stdin)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		c.add("$ amlsecrets %s (the arguments are the test's own, not recorded)\nstderr: %s", args[0], stderr.String())
		if !reveal {
			c.add("stdout: %s", stdout.String())
		}
		if err != nil {
			c.add("err: %v", err)
			return cmd.ProcessState.ExitCode()
		}
		return 0
	}
	require.Equal(t, 0, cli(false, "", "set", "db-password", "--from-env", "DB_PASSWORD"))
	require.Equal(t, 0, cli(false, canaryJSON, "set", "json", "--stdin"))
	require.Equal(t, 0, cli(false, "", "set", "pem", "--from-file", valueFile, "--content-type", "application/x-pem-file"))
	require.Equal(t, 0, cli(false, "", "set", "--dotenv", dotenv))
	require.Equal(t, 0, cli(false, "", "set", "--from-env-prefix", "APP_SECRET_"))
	require.Equal(t, 0, cli(true, "", "get", "db-password"))
	require.Equal(t, 0, cli(true, "", "get", "pem", "--json"))
	require.Equal(t, 0, cli(false, "", "list", "--json"))
	require.Equal(t, 0, cli(false, "", "list"))
	require.Equal(t, 3, cli(false, "", "get", "missing"))
	require.Equal(t, 2, cli(false, "", "set", "db-password", canaryPlain))
	require.Equal(t, 2, cli(false, "", "set", "db_password="+canaryPlain))
	require.NotEqual(t, 0, cli(false, "", "set", "--dotenv", badenv))
	require.Equal(t, 0, cli(false, "", "delete", "json"))
	require.NotEqual(t, 0, cli(false, canaryJSON, "set", "json", "--stdin")) // soft-deleted: conflict
	base = append(base, "REF=${{keyvault:"+srv.ListenURL()+"secrets/db-password}}")
	require.Equal(t, 0, cli(false, "", "exec", "--", "sh", "-c", `test -n "$REF"`))
	base = append(base, "BAD=${{keyvault:"+srv.ListenURL()+"secrets/missing}}")
	require.NotEqual(t, 0, cli(false, "", "exec", "--", "sh", "-c", "exit 0"))
	srv.FailNext(10, 429)
	require.Equal(t, 5, cli(false, "", "get", "db-password", "--timeout", "2s"))
	assertNoCanary(t, c)
	require.Contains(t, c.String(), "not found", "the failures were captured")
}
