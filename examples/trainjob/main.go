// Command trainjob is a Go training job that reads its secrets the way
// azureml-core's Run.get_context().get_secrets(...) does. The same code runs
// in a submitted Azure ML job (the workspace's default Key Vault, through
// the compute's managed identity), on a laptop (environment variables, a
// .env file, AMLSECRETS_KEYVAULT_URL or a workspace config.json), and with
// -demo against an in-process Key Vault emulator, with no Azure account.
//
// It never prints a secret's value, only its name and length.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/azurevault"
	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
	"github.com/go-azureml/secrets/run"
)

func main() {
	if err := mainErr(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "trainjob:", err)
		os.Exit(1)
	}
}

func mainErr(ctx context.Context, args []string, out io.Writer) error {
	fl := flag.NewFlagSet("trainjob", flag.ContinueOnError)
	demo := fl.Bool("demo", false, "run against an in-process Key Vault emulator seeded with demo secrets (no Azure account)")
	names := fl.String("secrets", "db-password,api-key", "comma-separated secret names the job needs")
	envFile := fl.String("env-file", "", "offline with no vault: a .env file to read secrets from")
	resolve := fl.Bool("resolve", false, "also resolve the ${{keyvault:...}} and ${{azureml://connections/...}} references in the environment, as Azure ML online endpoints do")
	if err := fl.Parse(args); err != nil {
		return err
	}
	secretNames := strings.Split(*names, ",")

	if *demo {
		return runDemo(ctx, secretNames, out)
	}
	// The real thing: a submitted job, or an offline run on a laptop.
	r, err := run.GetContext(ctx, &run.Options{DotEnvFile: *envFile})
	if err != nil {
		return err
	}
	if err := train(ctx, r, secretNames, out); err != nil {
		return err
	}
	if *resolve {
		return resolveEnv(ctx, r, out)
	}
	return nil
}

// resolveEnv resolves the references in the environment and reports each
// resolved variable's name and length, never its value.
func resolveEnv(ctx context.Context, r *run.Run, out io.Writer) error {
	before := os.Environ()
	after, err := r.ResolveEnv(ctx, before)
	if err != nil {
		return err
	}
	for i, kv := range after {
		if kv != before[i] {
			k, v, _ := strings.Cut(kv, "=")
			fmt.Fprintf(out, "resolved %s (%d bytes)\n", k, len(v))
		}
	}
	return nil
}

// train is the job: it gets its secrets from the run and uses them. It is
// the same code in a job, offline and in the demo.
func train(ctx context.Context, r *run.Run, names []string, out io.Writer) error {
	fmt.Fprintln(out, "run:", r) // where secrets come from; never a value
	secrets, err := r.GetSecrets(ctx, names)
	for _, n := range names {
		if v, ok := secrets[n]; ok {
			fmt.Fprintf(out, "got %s (%d bytes)\n", n, len(v))
		}
	}
	if err != nil {
		return err // names each missing secret and where the run looked
	}
	// ... connect to the database, call the API, train ...
	fmt.Fprintf(out, "training with %d secrets: done\n", len(secrets))
	return nil
}

// runDemo starts the Key Vault emulator in this process, stores a few demo
// secrets in it with SetSecrets, and runs the same job code against it.
func runDemo(ctx context.Context, names []string, out io.Writer) error {
	srv := keyvaulttest.NewServer(nil)
	defer srv.Close()
	fmt.Fprintf(out, "demo: started the Key Vault emulator for %s on %s (in process, loopback only, no Azure account)\n", srv.VaultURL(), srv.Addr())

	// The emulator speaks Key Vault's REST protocol; the Azure SDK talks to
	// it unchanged through this store.
	store, err := azurevault.New(srv.VaultURL(), srv.Credential(), &azurevault.Options{ClientOptions: srv.ClientOptions()})
	if err != nil {
		return err
	}
	kv := keyvault.New(store, nil)
	demo := make(map[string]string, len(names))
	for _, n := range names {
		demo[n] = "demo-value-for-" + n
	}
	if err := kv.SetSecrets(ctx, demo); err != nil {
		return err
	}
	fmt.Fprintf(out, "demo: stored %d demo secrets with SetSecrets: %s\n", len(demo), strings.Join(names, ", "))

	r := run.New(kv, nil)
	if err := train(ctx, r, names, out); err != nil {
		return err
	}

	// An Azure ML online endpoint resolves ${{keyvault:...}} references in
	// its environment; a Go job can do the same.
	ref := "${{keyvault:" + srv.VaultURL() + "secrets/" + names[0] + "}}"
	env, err := r.ResolveEnv(ctx, []string{"SECRET=" + ref})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "resolved SECRET=%s (%d bytes)\n", ref, len(strings.TrimPrefix(env[0], "SECRET=")))

	_, err = r.GetSecret(ctx, "not-stored")
	if !errors.Is(err, keyvault.ErrNotFound) {
		return fmt.Errorf("expected not found, got %v", err)
	}
	fmt.Fprintf(out, "a missing secret is an error, never \"\": %v\n", err)
	fmt.Fprintln(out, "demo: done")
	return nil
}
