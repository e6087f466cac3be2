//go:build unix

package kvemulator_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/keyvault/kvemulator"
)

// A state file read back at start decides what the vault answers: one that
// another user owns or could have written is refused.
func TestStateFileMustBeOwn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	srv := mustStart(&kvemulator.Options{StatePath: path})
	_, err := newClient(t, srv, -1).SetSecret(context.Background(), "keep", azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil)
	require.NoError(t, err)
	srv.Close()

	require.NoError(t, os.Chmod(path, 0o666))
	_, err = kvemulator.Start(&kvemulator.Options{StatePath: path})
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)
	assert.Contains(t, err.Error(), "writable by group or others")

	require.NoError(t, os.Chmod(path, 0o600))
	if os.Getuid() != 0 {
		t.Skip("giving a file to another user needs root; CI runs as root and covers this case")
	}
	require.NoError(t, os.Chown(path, 4242, 4242))
	_, err = kvemulator.Start(&kvemulator.Options{StatePath: path})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "owned by another user")
}
