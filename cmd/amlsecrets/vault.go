package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/spf13/cobra"

	"github.com/go-azureml/secrets/credential"
	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/azurevault"
	amlrun "github.com/go-azureml/secrets/run"
	"github.com/go-azureml/secrets/workspace"
)

// defaultTimeout bounds a command's vault requests, retries included.
const defaultTimeout = 30 * time.Second

// vaultFlags are the flags of every command that talks to a vault.
type vaultFlags struct {
	vault   string
	config  string
	timeout time.Duration
}

func (f *vaultFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.vault, "vault", "", "the vault's URL, e.g. https://NAME.vault.azure.net/ (default: see 'Picking the vault' in amlsecrets --help)")
	fl.StringVar(&f.config, "config", "", "an azureml workspace config file (or a folder to search from); its default vault is looked up through ARM")
	fl.DurationVar(&f.timeout, "timeout", defaultTimeout, "give up on the vault after this long, retries included")
}

// context returns the command's context bounded by --timeout.
func (f *vaultFlags) context(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if f.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, f.timeout, &timeoutError{f.timeout})
}

// open returns the command's context (see context) and the vault picked by
// openVault. On error the context is already cancelled.
func (f *vaultFlags) open(cmd *cobra.Command) (context.Context, context.CancelFunc, *keyvault.Keyvault, error) {
	ctx, cancel := f.context(cmd)
	kv, err := openVault(ctx, f, os.Getenv)
	if err != nil {
		err = withCause(ctx, err)
		cancel()
		return nil, nil, nil, err
	}
	return ctx, cancel, kv, nil
}

// timeoutError is the context cause when --timeout runs out.
type timeoutError struct{ d time.Duration }

func (e *timeoutError) Error() string {
	return fmt.Sprintf("gave up after %s (--timeout); is the vault reachable?", e.d)
}

func (e *timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// cliRetry keeps one try of a request to 20 s. It does not make azcore
// retry: azurevault turns azcore's retries off, and the keyvault layer's
// retry (within cliKeyvaultOptions' bounds, so that an unreachable vault
// fails in seconds) is the only one.
var cliRetry = policy.RetryOptions{TryTimeout: 20 * time.Second}

func cliKeyvaultOptions() *keyvault.Options {
	return &keyvault.Options{
		Concurrency: 16,
		Cache:       &keyvault.CacheOptions{Disabled: true}, // one-shot process
		Retry:       &keyvault.RetryOptions{MaxAttempts: 3, Budget: 20 * time.Second},
	}
}

// openVault picks the vault, in the order run.GetContext does (after the
// flags, which come first):
//
//  1. --vault URL;
//  2. --config PATH: the workspace's default vault (its key_vault entry, else
//     ARM);
//  3. inside a submitted job (AZUREML_RUN_ID is set): the job's workspace
//     (AZUREML_ARM_SUBSCRIPTION, AZUREML_ARM_RESOURCEGROUP,
//     AZUREML_ARM_WORKSPACE_NAME) and its default vault, as the job's own
//     code gets it;
//  4. AMLSECRETS_KEYVAULT_URL (with AMLSECRETS_CA_FILE);
//  5. a workspace config.json found by azureml's search from the current
//     directory.
func openVault(ctx context.Context, f *vaultFlags, getenv func(string) string) (*keyvault.Keyvault, error) {
	co := azcore.ClientOptions{Retry: cliRetry}
	caFile := strings.TrimSpace(getenv(azurevault.EnvCAFile))
	envURL := strings.TrimSpace(getenv(azurevault.EnvKeyvaultURL))

	switch {
	case f.vault != "":
		kv, err := openURL(f.vault, caFile, co, getenv)
		if err != nil {
			return nil, fmt.Errorf("--vault: %w", err)
		}
		return kv, nil
	case f.config != "":
		// An explicit --config beats AMLSECRETS_KEYVAULT_URL, which the
		// workspace package would otherwise prefer.
		noVaultEnv := func(k string) string {
			if k == azurevault.EnvKeyvaultURL {
				return ""
			}
			return getenv(k)
		}
		return openWorkspace(ctx, f.config, co, noVaultEnv)
	case strings.TrimSpace(getenv(amlrun.EnvRunID)) != "":
		return openJobWorkspace(ctx, co, getenv)
	case envURL != "":
		kv, err := openURL(envURL, caFile, co, getenv)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", azurevault.EnvKeyvaultURL, err)
		}
		return kv, nil
	}
	if _, err := workspace.FindConfig(""); err != nil {
		if errors.Is(err, workspace.ErrConfigNotFound) {
			dir, _ := os.Getwd()
			return nil, fmt.Errorf("no vault to use:\n"+
				"  no --vault or --config flag\n"+
				"  not in a submitted job (%s is not set)\n"+
				"  %s is not set\n"+
				"  no azureml config.json in %s or its parent folders\n"+
				"for a local vault, run 'amlsecrets serve --state vault.json > amlsecrets.env' in another shell, then load it here: set -a; . ./amlsecrets.env; set +a\n"+
				"or pass --vault https://NAME.vault.azure.net/ or --config FILE", amlrun.EnvRunID, azurevault.EnvKeyvaultURL, dir)
		}
		return nil, err
	}
	return openWorkspace(ctx, "", co, getenv)
}

func openURL(vaultURL, caFile string, co azcore.ClientOptions, getenv func(string) string) (*keyvault.Keyvault, error) {
	if u, err := url.Parse(vaultURL); err != nil || u.Host == "" {
		return nil, fmt.Errorf("%q is not a vault URL like https://NAME.vault.azure.net/", vaultURL)
	}
	var cred azcore.TokenCredential
	if !azurevault.IsLoopbackURL(vaultURL) {
		// A loopback vault (amlsecrets serve) gets azurevault's local
		// credential; any other needs a real one.
		var err error
		cred, err = credential.New(nil)
		if err != nil {
			return nil, err
		}
	}
	store, err := azurevault.New(vaultURL, cred, &azurevault.Options{ClientOptions: co, CAFile: caFile})
	if err != nil {
		return nil, err
	}
	return keyvault.New(store, cliKeyvaultOptions()), nil
}

func openWorkspace(ctx context.Context, path string, co azcore.ClientOptions, getenv func(string) string) (*keyvault.Keyvault, error) {
	ws, err := workspace.FromConfig(path, &workspace.Options{
		ClientOptions:   co,
		Getenv:          getenv,
		KeyvaultOptions: cliKeyvaultOptions(),
	})
	if path != "" && errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("--config %s: no such file or folder", path)
	}
	if err != nil {
		return nil, err
	}
	kv, err := ws.DefaultKeyvault(ctx)
	if err != nil {
		return nil, fmt.Errorf("default vault of %s: %w", ws, err)
	}
	return kv, nil
}

// openJobWorkspace opens the default vault of the workspace a submitted job
// runs in, from the variables Azure ML sets in the job.
func openJobWorkspace(ctx context.Context, co azcore.ClientOptions, getenv func(string) string) (*keyvault.Keyvault, error) {
	runID := strings.TrimSpace(getenv(amlrun.EnvRunID))
	ws, err := workspace.FromEnv(&workspace.Options{
		ClientOptions:   co,
		Getenv:          getenv,
		KeyvaultOptions: cliKeyvaultOptions(),
	})
	if err != nil {
		return nil, fmt.Errorf("%s is %s, so this is a submitted job, but: %w", amlrun.EnvRunID, runID, err)
	}
	kv, err := ws.DefaultKeyvault(ctx)
	if err != nil {
		return nil, fmt.Errorf("job %s: default vault of %s: %w", runID, ws, err)
	}
	return kv, nil
}
