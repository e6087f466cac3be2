package keyvaulttest

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-azureml/secrets/run/jobemu"
)

// StartJob starts, for this test, the world an Azure ML job sees (see
// package jobemu: the vault emulator, a managed identity or user-identity
// endpoint, a fake ARM with the workspace and its connections) and sets
// every variable of the job's environment with t.Setenv, so that
// run.GetContext in this process takes the job path. The world is closed
// when the test ends. opts nil means defaults; opts.CAFile defaults to a
// file in t.TempDir().
func StartJob(t testing.TB, opts *jobemu.Options) *jobemu.Job {
	t.Helper()
	var o jobemu.Options
	if opts != nil {
		o = *opts
	}
	if o.CAFile == "" {
		o.CAFile = filepath.Join(t.TempDir(), "ca.pem")
	}
	j, err := jobemu.Start(&o)
	if err != nil {
		t.Fatalf("keyvaulttest: start job world: %v", err)
	}
	t.Cleanup(j.Close)
	for _, kv := range j.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return j
}
