package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/go-azureml/secrets/keyvault/kvemulator"
	"github.com/go-azureml/secrets/run/jobemu"
)

// jobFlags are serve's flags for --job.
type jobFlags struct {
	on          bool
	identity    string
	connections string
}

func addJobFlags(fl *pflag.FlagSet, f *jobFlags) {
	fl.BoolVar(&f.on, "job", false, "stand up a whole Azure ML job on loopback: the vault, a managed identity endpoint and a fake ARM with the workspace and its connections; print the job's variables")
	fl.StringVar(&f.identity, "identity", jobemu.IdentityManaged, "with --job: the job's identity, managed (MSI_ENDPOINT) or obo (the submitting user's: AZUREML_OBO_ENABLED, OBO_ENDPOINT)")
	fl.StringVar(&f.connections, "connections", "", `with --job: a JSON file of workspace connections, {"NAME": {"properties": {"authType", "category", "target", "credentials", "metadata"}}}`)
}

const serveJobHelp = `
With --job, serve stands up on loopback the world an Azure ML job sees: this
vault as the workspace's default Key Vault, an Azure ML managed identity
endpoint (MSI_ENDPOINT with its "secret" header, as azidentity speaks it; or
with --identity obo the user-identity endpoint, OBO_ENDPOINT) and a fake Azure
Resource Manager serving the workspace (its properties.keyVault names the
vault) and the connections of --connections. It prints every variable a job
has, plus the three that route the library to loopback (honoured for loopback
hosts only):

  AZUREML_RUN_ID  AZUREML_ARM_SUBSCRIPTION  AZUREML_ARM_RESOURCEGROUP
  AZUREML_ARM_WORKSPACE_NAME  AZUREML_ARM_PROJECT_NAME
  MSI_ENDPOINT  MSI_SECRET  DEFAULT_IDENTITY_CLIENT_ID   (or AZUREML_OBO_ENABLED, OBO_ENDPOINT)
  AMLSECRETS_ARM_ENDPOINT  AMLSECRETS_LOCAL_VAULTS  AMLSECRETS_CA_FILE

With them, unmodified job code takes the job path: run.GetContext returns a
submitted run, its token comes from the identity endpoint, the vault is found
by the ARM GET and ${{azureml://connections/...}} references resolve through
listsecrets. Seed the vault with 'amlsecrets set --vault URL' (the URL is on
stderr).`

// checkJobFlags refuses --identity and --connections without --job.
func checkJobFlags(cmd *cobra.Command, f *jobFlags) error {
	if f.on {
		return nil
	}
	for _, n := range []string{"identity", "connections"} {
		if cmd.Flags().Changed(n) {
			return usageError{fmt.Errorf("--%s needs --job", n)}
		}
	}
	return nil
}

// runServeJob runs `serve --job`.
func runServeJob(cmd *cobra.Command, f *serveFlags, limit int, window, propagate time.Duration) error {
	if f.allowRemote {
		return usageError{errors.New("--job serves loopback only: drop --allow-remote")}
	}
	if _, err := remoteToken(f); err != nil {
		return err // --addr beyond loopback, or --token-file without --allow-remote
	}
	if f.job.identity != jobemu.IdentityManaged && f.job.identity != jobemu.IdentityOBO {
		return usageError{fmt.Errorf("invalid --identity %q: want managed or obo", f.job.identity)}
	}
	var conns map[string]json.RawMessage
	if f.job.connections != "" {
		data, err := readBounded(f.job.connections, jobemu.MaxConnectionsFile)
		if err != nil {
			return fmt.Errorf("serve --job: --connections: %w", err)
		}
		if conns, err = jobemu.ParseConnections(data); err != nil {
			return fmt.Errorf("serve --job: --connections %s: %w", f.job.connections, err)
		}
	}
	vaultName := f.vaultName
	if !cmd.Flags().Changed("vault-name") {
		vaultName = jobemu.DefaultVaultName
	}
	job, err := jobemu.Start(&jobemu.Options{
		Identity:    f.job.identity,
		VaultName:   vaultName,
		Connections: conns,
		CAFile:      f.caOut,
		Vault: &kvemulator.Options{
			Addr:             f.addr,
			Latency:          f.latency,
			ThrottleLimit:    limit,
			ThrottleWindow:   window,
			StatePath:        f.state,
			PropagationDelay: propagate,
		},
	})
	if err != nil {
		return fmt.Errorf("serve --job: %w", err)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer func() {
		fmt.Fprintf(cmd.ErrOrStderr(), "amlsecrets serve --job: served %d token requests, %d workspace GETs, %d listsecrets\n",
			job.TokenRequests(), job.WorkspaceGets(), job.ListSecretsTotal())
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		_ = job.Shutdown(sctx)
	}()
	out := cmd.OutOrStdout()
	for _, kv := range job.Env() {
		k, v, _ := strings.Cut(kv, "=")
		if _, err := fmt.Fprintf(out, "%s=%s\n", k, shellQuote(v)); err != nil {
			return fmt.Errorf("serve --job: %w", err)
		}
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "amlsecrets serve --job: job world up (identity %s, %d connections); vault %q at %s: seed it with `amlsecrets set --vault %s --dotenv FILE`; stop with Ctrl-C\n",
		job.Identity(), len(conns), job.Vault().VaultName(), job.VaultURL(), job.VaultURL())
	<-ctx.Done()
	return nil
}

// readBounded reads a file of at most limit bytes.
func readBounded(path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, errors.New(path + ": larger than " + fmt.Sprint(limit) + " bytes")
	}
	return data, nil
}
