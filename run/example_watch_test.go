package run_test

import (
	"context"
	"fmt"
	"time"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/memvault"
	"github.com/go-azureml/secrets/run"
)

// A template rendered with a secret in it, as `amlsecrets inject` does: the
// short form ${{keyvault:NAME}} reads the run's own vault.
func ExampleRun_Render() {
	ctx := context.Background()
	r := run.New(keyvault.New(memvault.New(), nil), &run.Options{Getenv: func(string) string { return "" }})
	if err := r.SetSecrets(ctx, map[string]string{"db-password": "hunter2"}); err != nil {
		panic(err)
	}
	netrc, err := r.Render(ctx, "machine db.example login app password ${{keyvault:db-password}}\n")
	if err != nil {
		panic(err)
	}
	fmt.Print(netrc) // a real program writes it to a 0600 file, never to stdout

	_, err = r.Render(ctx, "user app\npassword ${{keyvault:db-pasword}}\n")
	fmt.Println(err)
	// Output:
	// machine db.example login app password hunter2
	// template line 2: ${{keyvault:db-pasword}}: get secret db-pasword: not found (SecretNotFound)
}

// A long-running job follows a rotating password: Watch yields the current
// version at once, then each new one.
func ExampleRun_Watch() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kv := keyvault.New(memvault.New(), nil)
	r := run.New(kv, &run.Options{Getenv: func(string) string { return "" }})
	if _, err := kv.SetSecret(ctx, "db-password", "first", nil); err != nil {
		panic(err)
	}
	n := 0
	for s, err := range r.Watch(ctx, "db-password", &keyvault.WatchOptions{Interval: 100 * time.Millisecond}) {
		if err != nil {
			fmt.Println("keeping the current connection:", err)
			continue
		}
		n++
		fmt.Printf("connect with password %d (%d bytes)\n", n, s.Value.Len())
		if n == 2 {
			break
		}
		// The password rotates (elsewhere, in a real job).
		if _, err := kv.SetSecret(ctx, "db-password", "second", nil); err != nil {
			panic(err)
		}
	}
	// Output:
	// connect with password 1 (5 bytes)
	// connect with password 2 (6 bytes)
}
