package run_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
	"github.com/go-azureml/secrets/keyvault/memvault"
	"github.com/go-azureml/secrets/run"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a fake environment.
type env map[string]string

func (e env) get(k string) string { return e[k] }

// emptyDir is a folder with no workspace config in it or (we assume) in any
// parent, so that an offline run falls through to the local source.
func emptyDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	_, err := os.Stat(filepath.Join(filepath.Dir(d), ".azureml"))
	require.True(t, os.IsNotExist(err))
	return d
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestOfflineLocal(t *testing.T) {
	dir := emptyDir(t)
	dotFile := writeFile(t, dir, ".env", "# local secrets\nexport DB_PASSWORD=from-dotenv\napi-key='k3y from file'\nONLY_FILE=\"x\\ny\"\n")
	tests := []struct {
		name    string
		env     env
		dotFile string
		secret  string
		want    string
	}{
		{"env var upper-cased", env{"DB_PASSWORD": "from-env"}, "", "db-password", "from-env"},
		{"env var as given first", env{"db-password": "as-given", "DB_PASSWORD": "upper"}, "", "db-password", "as-given"},
		{"env beats .env file", env{"DB_PASSWORD": "from-env"}, dotFile, "db-password", "from-env"},
		{".env file upper-cased", env{}, dotFile, "db-password", "from-dotenv"},
		{".env file as given", env{}, dotFile, "api-key", "k3y from file"},
		{".env multi-line", env{}, dotFile, "only-file", "x\ny"},
		{"empty env var counts as unset", env{"DB_PASSWORD": ""}, dotFile, "db-password", "from-dotenv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := run.GetContext(context.Background(), &run.Options{Getenv: tt.env.get, ConfigPath: dir, DotEnvFile: tt.dotFile})
			require.NoError(t, err)
			assert.True(t, r.Offline())
			assert.Equal(t, run.SourceLocal, r.Source())
			assert.True(t, strings.HasPrefix(r.ID(), "OfflineRun_"), r.ID())
			assert.Nil(t, r.Workspace())
			got, err := r.GetSecret(context.Background(), tt.secret)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.NotContains(t, r.String(), tt.want)
			assert.Contains(t, r.String(), "offline run")
		})
	}
}

func TestOfflineLocalGetSecrets(t *testing.T) {
	dir := emptyDir(t)
	dotFile := writeFile(t, dir, "secrets.env", "API_KEY=abc\n")
	r, err := run.GetContext(context.Background(), &run.Options{Getenv: env{"DB_PASSWORD": "pw"}.get, ConfigPath: dir, DotEnvFile: dotFile})
	require.NoError(t, err)
	got, err := r.GetSecrets(context.Background(), []string{"db-password", "api-key", "missing-one"})
	assert.Equal(t, map[string]string{"db-password": "pw", "api-key": "abc"}, got)
	require.ErrorIs(t, err, keyvault.ErrNotFound)
	var be *keyvault.BatchError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, []string{"missing-one"}, be.Names())
	assert.Contains(t, err.Error(), "MISSING_ONE")
	assert.Contains(t, err.Error(), dotFile)
	assert.Equal(t, 1, strings.Count(err.Error(), "the run is offline and has no vault"), "the reason said once: %s", err)

	ps, err := r.Keyvault().ListSecrets(context.Background())
	require.NoError(t, err)
	require.Len(t, ps, 1)
	assert.Equal(t, "api-key", ps[0].Name)
	assert.Equal(t, "offline run: secrets from environment variables and .env file "+dotFile+", read-only (no vault configured)", r.String())
}

// TestOfflineNothing: no vault, no config, no .env file and none of the
// names in the environment. GetContext succeeds; GetSecret's error lists
// everything that was tried.
func TestOfflineNothing(t *testing.T) {
	dir := emptyDir(t)
	r, err := run.GetContext(context.Background(), &run.Options{Getenv: env{}.get, ConfigPath: dir})
	require.NoError(t, err)
	_, err = r.GetSecret(context.Background(), "db-password")
	require.ErrorIs(t, err, keyvault.ErrNotFound)
	assert.Equal(t, "get secret db-password: not found in environment variables db-password and DB_PASSWORD (no .env file given)\n"+
		"the run is offline and has no vault:\n"+
		"  AZUREML_RUN_ID is unset (not a submitted job)\n"+
		"  AMLSECRETS_KEYVAULT_URL is unset\n"+
		"  no workspace config: no config.json or project.json in "+dir+" or its parent folders (nor in their .azureml/ or aml_config/)\n"+
		"to use one, set AMLSECRETS_KEYVAULT_URL ('amlsecrets serve' prints it, for a local emulator), "+
		"or put the workspace's config.json (download it from the workspace's page in Azure ML studio) in this folder or a parent",
		err.Error())
	assert.Equal(t, "offline run: secrets from environment variables, read-only (no vault configured)", r.String(), "one short line")
	assert.LessOrEqual(t, len(r.String()), 120)

	_, err = r.GetSecret(context.Background(), "DB_PASSWORD")
	require.ErrorIs(t, err, keyvault.ErrInvalidName, "names are Key Vault names, offline too")

	t.Run("RequireVault", func(t *testing.T) {
		_, err := run.GetContext(context.Background(), &run.Options{Getenv: env{"DB_PASSWORD": "x"}.get, ConfigPath: dir, RequireVault: true})
		require.ErrorIs(t, err, run.ErrNoVault)
		assert.Equal(t, "run: offline and no vault, though one is required:\n"+
			"  AZUREML_RUN_ID is unset (not a submitted job)\n"+
			"  AMLSECRETS_KEYVAULT_URL is unset\n"+
			"  no workspace config: no config.json or project.json in "+dir+" or its parent folders (nor in their .azureml/ or aml_config/)\n"+
			"set AMLSECRETS_KEYVAULT_URL ('amlsecrets serve' prints it, for a local emulator), "+
			"or put the workspace's config.json (download it from the workspace's page in Azure ML studio) in this folder or a parent", err.Error())
	})
	t.Run("missing .env file", func(t *testing.T) {
		_, err := run.GetContext(context.Background(), &run.Options{Getenv: env{}.get, ConfigPath: dir, DotEnvFile: filepath.Join(dir, "nope.env")})
		require.ErrorIs(t, err, os.ErrNotExist)
	})
	t.Run("malformed .env file never shows its text", func(t *testing.T) {
		p := writeFile(t, dir, "bad.env", "A=1\nhunter2-secret-line\n")
		_, err := run.GetContext(context.Background(), &run.Options{Getenv: env{}.get, ConfigPath: dir, DotEnvFile: p})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "line 2")
		assert.NotContains(t, err.Error(), "hunter2")
	})
}

func TestLocalIsReadOnly(t *testing.T) {
	dir := emptyDir(t)
	r, err := run.GetContext(context.Background(), &run.Options{Getenv: env{}.get, ConfigPath: dir})
	require.NoError(t, err)
	err = r.SetSecrets(context.Background(), map[string]string{"db-password": "s3cret-value"})
	require.ErrorIs(t, err, run.ErrReadOnly)
	require.ErrorIs(t, err, errors.ErrUnsupported)
	assert.NotContains(t, err.Error(), "s3cret-value")
	for _, want := range []string{"AMLSECRETS_KEYVAULT_URL", "amlsecrets serve", "config.json", "Azure ML studio"} {
		assert.Contains(t, err.Error(), want)
	}
	// Through the Keyvault too.
	_, err = r.Keyvault().SetSecret(context.Background(), "x", "v", nil)
	require.ErrorIs(t, err, run.ErrReadOnly)
	require.ErrorIs(t, r.Keyvault().DeleteSecret(context.Background(), "x"), run.ErrReadOnly)
}

func TestNewOverMemvault(t *testing.T) {
	kv := keyvault.New(memvault.New(), nil)
	r := run.New(kv, &run.Options{Getenv: env{}.get})
	ctx := context.Background()
	require.NoError(t, r.SetSecrets(ctx, map[string]string{"a": "1", "b": "2"}))
	got, err := r.GetSecrets(ctx, []string{"a", "b"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"a": "1", "b": "2"}, got)
	assert.True(t, r.Offline())
	assert.Equal(t, run.SourceCustom, r.Source())
	assert.Same(t, kv, r.Keyvault())

	job := run.New(kv, &run.Options{Getenv: env{run.EnvRunID: "run-42", run.EnvExperiment: "exp"}.get})
	assert.False(t, job.Offline())
	assert.Equal(t, "run-42", job.ID())
	assert.Equal(t, "exp", job.Experiment())
	assert.True(t, strings.HasPrefix(job.String(), "submitted run run-42 (experiment exp): secrets from "), job.String())
}

// TestOfflineVaultURL: AMLSECRETS_KEYVAULT_URL and AMLSECRETS_CA_FILE, as
// `amlsecrets serve` prints them, win over a config file and the
// environment.
func TestOfflineVaultURL(t *testing.T) {
	srv := keyvaulttest.NewServer(&keyvaulttest.ServerOptions{AcceptAnyToken: true})
	t.Cleanup(srv.Close)
	dir := emptyDir(t)
	ca := writeFile(t, dir, "ca.pem", string(srv.CACertPEM()))
	e := env{run.EnvKeyvaultURL: srv.ListenURL(), run.EnvCAFile: ca, "DB_PASSWORD": "from-env"}
	ctx := context.Background()
	r, err := run.GetContext(ctx, &run.Options{Getenv: e.get, ConfigPath: dir})
	require.NoError(t, err)
	assert.Equal(t, run.SourceVaultURL, r.Source())
	assert.Equal(t, "offline run: secrets from vault "+srv.ListenURL()+" (from AMLSECRETS_KEYVAULT_URL)", r.String())
	assert.LessOrEqual(t, len(r.String()), 120)
	require.NoError(t, r.SetSecrets(ctx, map[string]string{"db-password": "from-vault"}))
	got, err := r.GetSecret(ctx, "db-password")
	require.NoError(t, err)
	assert.Equal(t, "from-vault", got)
}
