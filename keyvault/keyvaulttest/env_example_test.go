package keyvaulttest_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
	"github.com/go-azureml/secrets/run"
)

// Code that calls run.GetContext (or otherwise picks its vault from the
// environment) is pointed at the emulator with Setenv, in a test function:
//
//	func TestTrain(t *testing.T) {
//		srv := keyvaulttest.NewServer(nil)
//		t.Cleanup(srv.Close)
//		srv.Setenv(t)
//		// ... code that calls run.GetContext(ctx, opts) ...
//	}
//
// Here, exampleT stands in for the test's t, so that the example runs. The
// run's cache is off, so that the fault injected after SetSecrets is hit
// rather than answered from the cache.
func ExampleServer_Setenv() {
	t := &exampleT{}
	defer t.cleanup()

	srv := keyvaulttest.NewServer(nil)
	defer srv.Close()
	srv.Setenv(t)

	ctx := context.Background()
	r, err := run.GetContext(ctx, &run.Options{
		KeyvaultOptions: &keyvault.Options{Cache: &keyvault.CacheOptions{Disabled: true}},
	})
	if err != nil {
		panic(err)
	}
	if err := r.SetSecrets(ctx, map[string]string{"db-password": "s3cret"}); err != nil {
		panic(err)
	}
	srv.FailNext(1, 503) // one 503, which the run's vault retries
	v, err := r.GetSecret(ctx, "db-password")
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Source(), len(v), "bytes")
	fmt.Println("faults hit:", srv.Stats().Faults)
	// Output:
	// vault-url 6 bytes
	// faults hit: 1
}

// exampleT stands in for a test's *testing.T outside a test: the methods
// Setenv uses, undone by cleanup as a test's end undoes them.
type exampleT struct {
	testing.TB // nil: only the methods below are called
	undo       []func()
}

func (t *exampleT) Helper() {}

func (t *exampleT) TempDir() string {
	d, err := os.MkdirTemp("", "keyvaulttest-example-*")
	if err != nil {
		panic(err)
	}
	t.undo = append(t.undo, func() { os.RemoveAll(d) })
	return d
}

func (t *exampleT) Setenv(k, v string) {
	old, had := os.LookupEnv(k)
	os.Setenv(k, v)
	t.undo = append(t.undo, func() {
		if had {
			os.Setenv(k, old)
		} else {
			os.Unsetenv(k)
		}
	})
}

func (t *exampleT) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func (t *exampleT) cleanup() {
	for i := len(t.undo) - 1; i >= 0; i-- {
		t.undo[i]()
	}
}
