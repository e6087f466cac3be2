package examples_test

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/internal/syncbuf"
)

// TestTrainjobAgainstServeJob is the trainjob README's job workflow: a
// whole Azure ML job on the laptop with `amlsecrets serve --job`. The same
// unmodified binary takes the job path: a submitted run, its token from the
// MSI (or OBO) endpoint, its vault found by the ARM GET, its connection
// references resolved through listsecrets; one token request and one
// workspace GET per process.
func TestTrainjobAgainstServeJob(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	aml := filepath.Join(dir, "amlsecrets")
	trainjob := filepath.Join(dir, "trainjob")
	_, errOut, err := goCmd(t, cleanEnv(), "build", "-o", aml, "./cmd/amlsecrets")
	require.NoError(t, err, errOut)
	_, errOut, err = goCmd(t, cleanEnv(), "build", "-o", trainjob, "./examples/trainjob")
	require.NoError(t, err, errOut)
	conns := filepath.Join(dir, "connections.json")
	require.NoError(t, os.WriteFile(conns, []byte(`{"openai": {"properties": {"authType": "ApiKey", "category": "AzureOpenAI",
		"target": "https://my-openai.openai.azure.com/", "credentials": {"key": "sk-conn-secret"},
		"metadata": {"ApiVersion": "2024-02-01"}}}}`), 0o600))
	seeds := filepath.Join(dir, "secrets.env")
	require.NoError(t, os.WriteFile(seeds, []byte("DB_PASSWORD=s3cret\nAPI_KEY=k3y\n"), 0o600))

	for _, identity := range []string{"managed", "obo"} {
		t.Run(identity, func(t *testing.T) {
			serve := exec.Command(aml, "serve", "--job", "--identity", identity, "--connections", conns, "--ca-out", filepath.Join(t.TempDir(), "ca.pem"))
			serve.Env = cleanEnv()
			stdout, err := serve.StdoutPipe()
			require.NoError(t, err)
			stderr := new(syncbuf.Buffer) // serve writes it while the test reads it
			serve.Stderr = stderr
			require.NoError(t, serve.Start())
			done := make(chan error, 1)
			t.Cleanup(func() {
				if serve.ProcessState == nil {
					_ = serve.Process.Kill()
					<-done
				}
			})
			var jobEnv []string
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				jobEnv = append(jobEnv, sc.Text())
				if strings.HasPrefix(sc.Text(), "AMLSECRETS_CA_FILE=") {
					break
				}
			}
			go func() { _, _ = io.Copy(io.Discard, stdout); done <- serve.Wait() }()
			env := strings.Join(jobEnv, "\n")
			require.Contains(t, env, "AZUREML_RUN_ID=local_", stderr.String())
			if identity == "obo" {
				assert.Contains(t, env, "AZUREML_OBO_ENABLED=True\nOBO_ENDPOINT=http://127.0.0.1:")
				assert.NotContains(t, env, "MSI_ENDPOINT")
			} else {
				assert.Contains(t, env, "MSI_ENDPOINT=http://127.0.0.1:")
			}
			var vaultURL string
			for _, kv := range jobEnv {
				if v, ok := strings.CutPrefix(kv, "AMLSECRETS_LOCAL_VAULTS=jobvault="); ok {
					vaultURL = v
				}
			}
			require.NotEmpty(t, vaultURL)

			// Seed the vault, as the README does.
			set := exec.Command(aml, "set", "--vault", vaultURL, "--dotenv", seeds)
			set.Env = cleanEnv(jobEnv...)
			out, err := set.CombinedOutput()
			require.NoError(t, err, string(out))

			// The job, unmodified.
			job := exec.Command(trainjob, "-resolve")
			job.Env = cleanEnv(append(jobEnv,
				"OPENAI=${{azureml://connections/openai}}",
				"OPENAI_KEY=${{azureml://connections/openai/credentials/key}}")...)
			out, err = job.CombinedOutput()
			require.NoError(t, err, string(out))
			lines := string(out)
			assert.Regexp(t, `^run: submitted run local_\d+_[0-9a-f]+ \(experiment local-experiment\): secrets from the default vault of workspace local-ws \(subscription 00000000-0000-0000-0000-000000000000, resource group local-rg\): vault `+vaultURL+"\n", lines)
			assert.Contains(t, lines, "got db-password (6 bytes)\ngot api-key (3 bytes)\ntraining with 2 secrets: done\n")
			assert.Contains(t, lines, "resolved OPENAI_KEY (14 bytes)\n")
			assert.Contains(t, lines, "resolved OPENAI (")
			assert.NotContains(t, lines, "s3cret")
			assert.NotContains(t, lines, "sk-conn-secret")

			// A user's own program: amlsecrets exec resolves through the
			// same job path and hands the child the listsecrets document.
			exe := exec.Command(aml, "exec", "--", "sh", "-c", `printf '%s' "$OPENAI"`)
			exe.Env = job.Env
			docOut, err := exe.Output()
			require.NoError(t, err)
			var doc map[string]any
			require.NoError(t, json.Unmarshal(docOut, &doc), string(docOut))
			assert.Equal(t, "openai", doc["name"])
			assert.Equal(t, "Microsoft.MachineLearningServices/workspaces/connections", doc["type"])
			assert.Equal(t, "sk-conn-secret", doc["properties"].(map[string]any)["credentials"].(map[string]any)["key"])

			require.NoError(t, serve.Process.Signal(syscall.SIGTERM))
			select {
			case err := <-done:
				require.NoError(t, err, stderr.String())
			case <-time.After(10 * time.Second):
				t.Fatal("serve --job did not stop")
			}
			// Two processes took the job path (trainjob, exec): one token
			// request and one workspace GET each.
			assert.Contains(t, stderr.String(), "served 2 token requests, 2 workspace GETs, 2 listsecrets")
		})
	}
}
