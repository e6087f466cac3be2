package run_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/azurevault"
	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
	"github.com/go-azureml/secrets/keyvault/memvault"
	"github.com/go-azureml/secrets/run"
)

// A run over an in-memory vault, as a unit test of job code would build it.
func ExampleNew() {
	ctx := context.Background()
	kv := keyvault.New(memvault.New(), nil)
	r := run.New(kv, &run.Options{Getenv: func(string) string { return "" }})

	if err := r.SetSecrets(ctx, map[string]string{"db-password": "correct horse"}); err != nil {
		panic(err)
	}
	pw, err := r.GetSecret(ctx, "db-password")
	if err != nil {
		panic(err)
	}
	fmt.Printf("offline: %v, got db-password (%d bytes)\n", r.Offline(), len(pw))

	_, err = r.GetSecrets(ctx, []string{"db-password", "api-key"})
	fmt.Println(errors.Is(err, keyvault.ErrNotFound), err)
	// Output:
	// offline: true, got db-password (13 bytes)
	// true get secrets: 1 of 2 failed: api-key: not found (SecretNotFound)
}

// Offline with no vault and no workspace config, secrets come from the
// environment (db-password -> DB_PASSWORD) and, if named, a .env file.
func ExampleGetContext_offline() {
	dir, _ := os.MkdirTemp("", "run-example")
	defer os.RemoveAll(dir)
	environment := map[string]string{"DB_PASSWORD": "from the environment"}
	r, err := run.GetContext(context.Background(), &run.Options{
		Getenv:     func(k string) string { return environment[k] },
		ConfigPath: dir, // no config.json here
	})
	if err != nil {
		panic(err)
	}
	pw, err := r.GetSecret(context.Background(), "db-password")
	fmt.Println(r.Offline(), r.Source(), len(pw), err)

	err = r.SetSecrets(context.Background(), map[string]string{"x": "y"})
	fmt.Println(errors.Is(err, run.ErrReadOnly))
	// Output:
	// true local 20 <nil>
	// true
}

// ResolveEnv replaces secret references in an environment, here against the
// Key Vault emulator.
func ExampleRun_ResolveEnv() {
	srv := keyvaulttest.NewServer(nil)
	defer srv.Close()
	store, err := azurevault.New(srv.VaultURL(), srv.Credential(), &azurevault.Options{ClientOptions: srv.ClientOptions()})
	if err != nil {
		panic(err)
	}
	r := run.New(keyvault.New(store, nil), &run.Options{Getenv: func(string) string { return "" }})
	ctx := context.Background()
	if err := r.SetSecrets(ctx, map[string]string{"db-password": "s3cret"}); err != nil {
		panic(err)
	}

	env, err := r.ResolveEnv(ctx, []string{
		"EPOCHS=10",
		"DB_PASSWORD=${{keyvault:" + srv.VaultURL() + "secrets/db-password}}",
	})
	if err != nil {
		panic(err)
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Printf("%s: %d bytes\n", k, len(v))
	}

	_, err = r.ResolveEnv(ctx, []string{"API_KEY=${{keyvault:" + srv.VaultURL() + "secrets/api-key}}"})
	fmt.Println(errors.Is(err, keyvault.ErrNotFound))
	// Output:
	// EPOCHS: 2 bytes
	// DB_PASSWORD: 6 bytes
	// true
}
