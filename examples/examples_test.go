// Package examples_test runs each example as its README tells a new user
// to: `go run` and `go test` from the repository root, in a clean
// environment, with only loopback servers.
package examples_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cleanEnv is the process environment without anything that would point a
// run somewhere (a job, a vault, an identity) or hold the demo secrets.
func cleanEnv(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "AZUREML_"), strings.HasPrefix(k, "AMLSECRETS_"), strings.HasPrefix(k, "AZURE_"),
			strings.HasPrefix(k, "MSI_"), strings.HasPrefix(k, "IDENTITY_"),
			k == "DB_PASSWORD", k == "API_KEY", k == "db-password", k == "api-key":
			continue
		}
		out = append(out, kv)
	}
	return append(out, extra...)
}

// goCmd runs `go args...` from the repository root, as the READMEs do.
func goCmd(t *testing.T, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the examples with the go command")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
}

func matchLines(t *testing.T, out string, patterns ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, len(patterns), out)
	for i, p := range patterns {
		assert.Regexp(t, regexp.MustCompile("^"+p+"$"), lines[i])
	}
}

// TestTrainjobDemo: the README's first command.
func TestTrainjobDemo(t *testing.T) {
	skipShort(t)
	out, errOut, err := goCmd(t, cleanEnv(), "run", "./examples/trainjob", "-demo")
	require.NoError(t, err, errOut)
	matchLines(t, out,
		`demo: started the Key Vault emulator for https://keyvaulttest\.vault\.azure\.net/ on 127\.0\.0\.1:\d+ \(in process, loopback only, no Azure account\)`,
		`demo: stored 2 demo secrets with SetSecrets: db-password, api-key`,
		`run: offline run: secrets from vault https://keyvaulttest\.vault\.azure\.net/`,
		`got db-password \(26 bytes\)`,
		`got api-key \(22 bytes\)`,
		`training with 2 secrets: done`,
		`resolved SECRET=\$\{\{keyvault:https://keyvaulttest\.vault\.azure\.net/secrets/db-password\}\} \(26 bytes\)`,
		`a missing secret is an error, never "": get secret not-stored: not found \(404 SecretNotFound\)`,
		`demo: done`,
	)
	assert.NotContains(t, out, "demo-value-for-")
}

// TestTrainjobOffline: the README's offline commands.
func TestTrainjobOffline(t *testing.T) {
	skipShort(t)
	t.Run("environment variables", func(t *testing.T) {
		out, errOut, err := goCmd(t, cleanEnv("DB_PASSWORD=s3cret", "API_KEY=k3y"), "run", "./examples/trainjob")
		require.NoError(t, err, errOut)
		assert.Equal(t, "run: offline run: secrets from environment variables, read-only (no vault configured)\n"+
			"got db-password (6 bytes)\ngot api-key (3 bytes)\ntraining with 2 secrets: done\n", out)
		assert.Contains(t, out, "got db-password (6 bytes)\ngot api-key (3 bytes)\ntraining with 2 secrets: done\n")
		assert.NotContains(t, out, "s3cret")
	})
	t.Run(".env file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "trainjob.env")
		require.NoError(t, os.WriteFile(f, []byte("DB_PASSWORD=s3cret\nAPI_KEY=\"k3y\"\n"), 0o600))
		out, errOut, err := goCmd(t, cleanEnv(), "run", "./examples/trainjob", "-env-file", f)
		require.NoError(t, err, errOut)
		assert.Contains(t, out, "run: offline run: secrets from environment variables and .env file "+f+", read-only (no vault configured)\n")
		assert.Contains(t, out, "got db-password (6 bytes)\ngot api-key (3 bytes)\n")
	})
	t.Run("nothing", func(t *testing.T) {
		out, errOut, err := goCmd(t, cleanEnv(), "run", "./examples/trainjob")
		require.Error(t, err)
		root, err := filepath.Abs("..")
		require.NoError(t, err)
		// The whole message, pinned: a list where there is a list, the
		// reason there is no vault once, no Go identifier.
		assert.Equal(t, "run: offline run: secrets from environment variables, read-only (no vault configured)\n", out)
		assert.Equal(t, "trainjob: get secrets: 2 of 2 failed:\n"+
			"  api-key: not found in environment variables api-key and API_KEY (no .env file given)\n"+
			"  db-password: not found in environment variables db-password and DB_PASSWORD (no .env file given)\n"+
			"the run is offline and has no vault:\n"+
			"  AZUREML_RUN_ID is unset (not a submitted job)\n"+
			"  AMLSECRETS_KEYVAULT_URL is unset\n"+
			"  no workspace config: no config.json or project.json in "+root+" or its parent folders (nor in their .azureml/ or aml_config/)\n"+
			"to use one, set AMLSECRETS_KEYVAULT_URL ('amlsecrets serve' prints it, for a local emulator), "+
			"or put the workspace's config.json (download it from the workspace's page in Azure ML studio) in this folder or a parent\n"+
			"exit status 1\n", errOut)
		assert.LessOrEqual(t, len(strings.TrimSuffix(out, "\n")), 120)
	})
}

// TestSetfromenvThenTrainjob: the setfromenv README against an emulator as
// `amlsecrets serve` runs it (any token, CA file, loopback URL).
func TestSetfromenvThenTrainjob(t *testing.T) {
	skipShort(t)
	srv := keyvaulttest.NewServer(&keyvaulttest.ServerOptions{AcceptAnyToken: true, VaultName: "local"})
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, srv.CACertPEM(), 0o600))
	vault := []string{"AMLSECRETS_KEYVAULT_URL=" + srv.ListenURL(), "AMLSECRETS_CA_FILE=" + ca}

	out, errOut, err := goCmd(t, cleanEnv(append(vault, "DB_PASSWORD=s3cret", "API_KEY=k3y")...),
		"run", "./examples/setfromenv", "DB_PASSWORD", "API_KEY")
	require.NoError(t, err, errOut)
	matchLines(t, out,
		`run: offline run: secrets from vault `+regexp.QuoteMeta(srv.ListenURL())+` \(from AMLSECRETS_KEYVAULT_URL\)`,
		`set api-key from API_KEY \(3 bytes\)`,
		`set db-password from DB_PASSWORD \(6 bytes\)`,
	)

	out, errOut, err = goCmd(t, cleanEnv(vault...), "run", "./examples/trainjob")
	require.NoError(t, err, errOut)
	assert.Contains(t, out, "got db-password (6 bytes)\ngot api-key (3 bytes)\ntraining with 2 secrets: done\n")

	t.Run("no vault: refuses", func(t *testing.T) {
		_, errOut, err := goCmd(t, cleanEnv("DB_PASSWORD=s3cret"), "run", "./examples/setfromenv", "DB_PASSWORD")
		require.Error(t, err)
		assert.Contains(t, errOut, "setfromenv: run: offline and no vault, though one is required:\n  AZUREML_RUN_ID is unset")
		assert.NotContains(t, errOut, "s3cret")
	})
	t.Run("missing variable", func(t *testing.T) {
		_, errOut, err := goCmd(t, cleanEnv(vault...), "run", "./examples/setfromenv", "DB_PASSWORD")
		require.Error(t, err)
		assert.Contains(t, errOut, "setfromenv: environment variables not set (or empty): [DB_PASSWORD]")
	})
}

// TestFakevault: the fakevault README's command.
func TestFakevault(t *testing.T) {
	skipShort(t)
	out, errOut, err := goCmd(t, cleanEnv(), "test", "-count=1", "./examples/fakevault/...")
	require.NoError(t, err, out+errOut)
	assert.Contains(t, out, "ok  \tgithub.com/go-azureml/secrets/examples/fakevault")
}

// TestDBRotationDemo: a long-running job follows its rotating database
// password with run.Run.Watch.
func TestDBRotationDemo(t *testing.T) {
	skipShort(t)
	out, errOut, err := goCmd(t, cleanEnv(), "run", "./examples/dbrotation", "-demo")
	require.NoError(t, err, errOut)
	matchLines(t, out,
		`demo: started the Key Vault emulator for https://keyvaulttest\.vault\.azure\.net/ \(in process, loopback only\)`,
		`connected with db-password version [0-9a-f]{8} \(14 bytes\)`,
		`demo: rotated db-password \(1 of 2\)`,
		`connected with db-password version [0-9a-f]{8} \(15 bytes\)`,
		`demo: rotated db-password \(2 of 2\)`,
		`connected with db-password version [0-9a-f]{8} \(15 bytes\)`,
		`demo: done`,
	)
	assert.NotContains(t, out, "password!")
	assert.NotContains(t, out, "first-password")
}
