// Command setfromenv is a local script that stores secrets in a vault from
// environment variables, as azureml-core users do with
// ws.get_default_keyvault().set_secrets({...}).
//
//	DB_PASSWORD=... API_KEY=... go run ./examples/setfromenv DB_PASSWORD API_KEY
//
// Each variable VAR becomes the secret keyvault.NameFromEnv(VAR) (DB_PASSWORD
// -> db-password), so that a job's r.GetSecret(ctx, "db-password") reads it
// back. The vault is the one AMLSECRETS_KEYVAULT_URL names (the emulator of
// `amlsecrets serve`), else the default vault of the workspace in the
// nearest config.json. It never prints a value.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/run"
)

func main() {
	if err := mainErr(context.Background(), os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "setfromenv:", err)
		os.Exit(1)
	}
}

func mainErr(ctx context.Context, vars []string, getenv func(string) string, out io.Writer) error {
	if len(vars) == 0 {
		return fmt.Errorf("usage: setfromenv VAR [VAR...]: stores each environment variable VAR as the secret named like var (DB_PASSWORD -> db-password)")
	}
	secrets := map[string]string{}
	from := map[string]string{}
	var missing []string
	for _, v := range vars {
		val := getenv(v)
		if val == "" {
			missing = append(missing, v)
			continue
		}
		name := keyvault.NameFromEnv(v)
		if err := keyvault.ValidateName(name); err != nil {
			return fmt.Errorf("variable %s: %w", v, err)
		}
		secrets[name], from[name] = val, v
	}
	if len(missing) > 0 {
		return fmt.Errorf("environment variables not set (or empty): %v", missing)
	}

	// RequireVault: a script that writes must never fall back to the
	// read-only local source.
	r, err := run.GetContext(ctx, &run.Options{Getenv: getenv, RequireVault: true})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "run:", r)
	if err := r.SetSecrets(ctx, secrets); err != nil {
		return err
	}
	names := make([]string, 0, len(secrets))
	for n := range secrets {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(out, "set %s from %s (%d bytes)\n", n, from[n], len(secrets[n]))
	}
	return nil
}
