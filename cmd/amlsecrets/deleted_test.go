package main

import (
	"time"

	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDeleteRecoverPurge(t *testing.T) {
	v := startVault(t, nil)
	env := with(v.env, "P=hunter2", "Q=s3cret")
	ok := func(r result) {
		t.Helper()
		require.Equal(t, 0, r.code, r.stderr)
	}

	ok(cli(t, cliOpts{env: env}, "set", "db-password", "--from-env", "P"))
	r := cli(t, cliOpts{env: env}, "delete", "db-password")
	ok(r)
	assert.Equal(t, "delete db-password: ok\n", r.stderr)
	// A delete takes a moment to show in the deleted list, as in Key Vault
	// (the emulator's propagation delay): poll.
	for range 50 {
		if r = cli(t, cliOpts{env: env}, "list", "--deleted"); r.code != 0 || r.stdout != "" {
			break
		}
	}
	ok(r)
	assert.Equal(t, "db-password\n", r.stdout)

	// The deleted name is taken: the error names both ways out.
	r = cli(t, cliOpts{env: env}, "set", "db-password", "--from-env", "Q")
	assert.Equal(t, exitError, r.code)
	requireOneLineError(t, r)
	assert.Contains(t, r.stderr, "'amlsecrets recover db-password'")
	assert.Contains(t, r.stderr, "'amlsecrets purge db-password'")

	// delete, recover, get: the value is back.
	r = cli(t, cliOpts{env: env}, "recover", "db-password")
	ok(r)
	assert.Equal(t, "recover db-password: ok\n", r.stderr)
	r = cli(t, cliOpts{env: env}, "get", "db-password")
	ok(r)
	assert.Equal(t, "hunter2\n", r.stdout)

	// Recovering or purging a live secret says it is not deleted.
	r = cli(t, cliOpts{env: env}, "recover", "db-password")
	assert.Equal(t, exitError, r.code)
	assert.Contains(t, r.stderr, "not deleted")
	r = cli(t, cliOpts{env: env}, "purge", "db-password")
	assert.Equal(t, exitError, r.code)
	assert.Contains(t, r.stderr, "amlsecrets delete --purge db-password")

	// delete --purge, then set of the same name succeeds.
	r = cli(t, cliOpts{env: env}, "delete", "--purge", "db-password")
	ok(r)
	assert.Equal(t, "delete db-password: ok\n", r.stderr)
	ok(cli(t, cliOpts{env: env}, "set", "db-password", "--from-env", "Q"))
	r = cli(t, cliOpts{env: env}, "get", "db-password")
	ok(r)
	assert.Equal(t, "s3cret\n", r.stdout)

	// delete, then purge: the name is free.
	ok(cli(t, cliOpts{env: env}, "delete", "db-password"))
	ok(cli(t, cliOpts{env: env}, "purge", "db-password"))
	ok(cli(t, cliOpts{env: env}, "set", "db-password", "--from-env", "P"))

	// A name that was never there: not found, after --timeout at most.
	r = cli(t, cliOpts{env: env}, "recover", "never-was", "--timeout", "1s")
	assert.Equal(t, exitNotFound, r.code, r.stderr)
	requireOneLineError(t, r)
	assert.Contains(t, r.stderr, "never-was")
	assert.Contains(t, r.stderr, "amlsecrets list --deleted")

	// Usage.
	r = cli(t, cliOpts{env: env}, "purge")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "purge takes one or more secret names")
}

// TestDeletePropagation: with a propagation delay (as Key Vault has), each
// command waits it out: delete, recover, get returns the value; delete
// --purge, set succeeds; a set during a deletion says to wait.
func TestDeletePropagation(t *testing.T) {
	v := startVault(t, &keyvaulttest.ServerOptions{AcceptAnyToken: true, PropagationDelay: 700 * time.Millisecond})
	env := with(v.env, "P=hunter2")
	ok := func(r result) {
		t.Helper()
		require.Equal(t, 0, r.code, r.stderr)
	}
	ok(cli(t, cliOpts{env: env}, "set", "db-password", "--from-env", "P"))
	ok(cli(t, cliOpts{env: env}, "delete", "db-password"))
	r := cli(t, cliOpts{env: env}, "set", "db-password", "--from-env", "P")
	if r.code != 0 { // unless the deletion propagated already (a slow machine)
		assert.Contains(t, r.stderr, "ObjectIsBeingDeleted")
		assert.Contains(t, r.stderr, "try again in a few seconds")
	}
	ok(cli(t, cliOpts{env: env}, "recover", "db-password"))
	r = cli(t, cliOpts{env: env}, "get", "db-password")
	ok(r)
	assert.Equal(t, "hunter2\n", r.stdout)
	ok(cli(t, cliOpts{env: env}, "delete", "--purge", "db-password"))
	ok(cli(t, cliOpts{env: env}, "set", "db-password", "--from-env", "P"))
}
