package keyvault_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/memvault"
)

func ExampleNew() {
	// memvault for a test; azurevault.New for a real vault. The Keyvault on
	// top is the same.
	kv := keyvault.New(memvault.New(), nil)
	if _, err := kv.SetSecret(context.Background(), "db-password", "s3cret", nil); err != nil {
		panic(err)
	}
	v, err := kv.GetSecret(context.Background(), "db-password")
	fmt.Println(v, err)
	// Output: s3cret <nil>
}

func ExampleKeyvault_SetSecret() {
	ctx := context.Background()
	kv := keyvault.New(memvault.New(), nil)
	p, err := kv.SetSecret(ctx, "api-key", `{"key":"k"}`, &keyvault.SetSecretOptions{
		ContentType: "application/json",
		Tags:        map[string]string{"owner": "ml-team"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Name, p.ContentType, p.Tags["owner"], len(p.Version))

	// Key Vault forbids '_': the error says so before anything is sent.
	_, err = kv.SetSecret(ctx, "api_key", "k", nil)
	fmt.Println(errors.Is(err, keyvault.ErrInvalidName))
	fmt.Println(err)
	// Output:
	// api-key application/json ml-team 32
	// true
	// set secret api_key: invalid secret name "api_key": a name is 1-127 characters of 0-9, a-z, A-Z and '-'; Key Vault forbids '_': did you mean "api-key"?
}

func ExampleKeyvault_SetSecrets() {
	ctx := context.Background()
	kv := keyvault.New(memvault.New(), nil)
	err := kv.SetSecrets(ctx, map[string]string{"db-user": "trainer", "db-password": "s3cret"})
	fmt.Println(err)
	names, _ := kv.ListSecrets(ctx)
	for _, p := range names {
		fmt.Println(p.Name)
	}
	// Output:
	// <nil>
	// db-password
	// db-user
}

func ExampleKeyvault_GetSecret() {
	ctx := context.Background()
	kv := keyvault.New(memvault.New(), nil)
	_, err := kv.GetSecret(ctx, "never-set")
	fmt.Println(errors.Is(err, keyvault.ErrNotFound))
	fmt.Println(err)
	// Output:
	// true
	// get secret never-set: not found (SecretNotFound)
}

func ExampleKeyvault_GetSecrets() {
	ctx := context.Background()
	kv := keyvault.New(memvault.New(), nil)
	_ = kv.SetSecrets(ctx, map[string]string{"db-user": "trainer", "db-password": "s3cret"})

	// Unlike azureml-core, a missing name is an error, never a silent None.
	got, err := kv.GetSecrets(ctx, []string{"db-user", "db-password", "api-key"})
	fmt.Println(got["db-user"], got["db-password"], len(got))
	fmt.Println(errors.Is(err, keyvault.ErrNotFound))
	fmt.Println(err)
	// Output:
	// trainer s3cret 2
	// true
	// get secrets: 1 of 3 failed: api-key: not found (SecretNotFound)
}

func ExampleKeyvault_ListSecrets() {
	ctx := context.Background()
	kv := keyvault.New(memvault.New(), nil)
	_ = kv.SetSecrets(ctx, map[string]string{"b": "2", "a": "1"})
	ps, err := kv.ListSecrets(ctx) // names and metadata, never values
	for _, p := range ps {
		fmt.Println(p.Name, p.Enabled)
	}
	fmt.Println(err)
	// Output:
	// a true
	// b true
	// <nil>
}

func ExampleKeyvault_DeleteSecret() {
	ctx := context.Background()
	kv := keyvault.New(memvault.New(), nil)
	_, _ = kv.SetSecret(ctx, "old-token", "t", nil)
	fmt.Println(kv.DeleteSecret(ctx, "old-token"))
	// Key Vault deletes softly: the name stays taken until it is purged.
	_, err := kv.SetSecret(ctx, "old-token", "t2", nil)
	fmt.Println(errors.Is(err, keyvault.ErrConflict))
	fmt.Println(kv.PurgeSecret(ctx, "old-token"))
	_, err = kv.SetSecret(ctx, "old-token", "t2", nil)
	fmt.Println(err)
	// Output:
	// <nil>
	// true
	// <nil>
	// <nil>
}

func ExampleKeyvault_DeleteSecrets() {
	ctx := context.Background()
	kv := keyvault.New(memvault.New(), nil)
	_ = kv.SetSecrets(ctx, map[string]string{"a": "1", "b": "2"})
	err := kv.DeleteSecrets(ctx, []string{"a", "b", "c"})
	fmt.Println(err)
	// Output: delete secrets: 1 of 3 failed: c: not found (SecretNotFound)
}

func ExampleValue() {
	v := keyvault.NewValue("s3cret")
	fmt.Printf("%v %s %q %#v\n", v, v, v, v)
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	logger.Info("loaded", "db-password", v)
	fmt.Println(v.Reveal()) // the one explicit way to read it
	// Output:
	// [REDACTED] [REDACTED] [REDACTED] [REDACTED]
	// level=INFO msg=loaded db-password=[REDACTED]
	// s3cret
}

// Watch yields the latest version at once and then each new one; every
// watch of a name on the Keyvault shares one poll.
func ExampleKeyvault_Watch() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kv := keyvault.New(memvault.New(), nil)
	if _, err := kv.SetSecret(ctx, "api-key", "k1", nil); err != nil {
		panic(err)
	}
	for s, err := range kv.Watch(ctx, "api-key", &keyvault.WatchOptions{Interval: 100 * time.Millisecond}) {
		if err != nil {
			fmt.Println(err) // a failed poll; the watch goes on
			continue
		}
		fmt.Println(s.Name, s.Value, s.Value.Reveal())
		if s.Value.Reveal() == "k2" {
			break
		}
		if _, err := kv.SetSecret(ctx, "api-key", "k2", nil); err != nil {
			panic(err)
		}
	}
	// Output:
	// api-key [REDACTED] k1
	// api-key [REDACTED] k2
}
