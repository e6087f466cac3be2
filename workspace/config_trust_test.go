//go:build unix

package workspace_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/workspace"
)

const trustConfig = `{"subscription_id":"00000000-1111-2222-3333-444444444444","resource_group":"rg","workspace_name":"ws","key_vault":"https://attacker.vault.azure.net/"}`
const plainConfig = `{"subscription_id":"00000000-1111-2222-3333-444444444444","resource_group":"rg","workspace_name":"ws"}`

// layout makes ROOT/shared/.azureml/config.json and ROOT/shared/project, the
// folder searched from, and returns (config file, project folder).
func layout(t *testing.T, body string) (string, string) {
	t.Helper()
	root := t.TempDir()
	shared := filepath.Join(root, "shared")
	project := filepath.Join(shared, "project")
	require.NoError(t, os.MkdirAll(filepath.Join(shared, ".azureml"), 0o755))
	require.NoError(t, os.MkdirAll(project, 0o755))
	file := filepath.Join(shared, ".azureml", "config.json")
	require.NoError(t, os.WriteFile(file, []byte(body), 0o644))
	return file, project
}

func TestConfigKeyVaultNeedsTrustedFile(t *testing.T) {
	t.Run("own file", func(t *testing.T) {
		_, project := layout(t, trustConfig)
		w, err := workspace.FromConfig(project, nil)
		require.NoError(t, err)
		assert.Equal(t, "https://attacker.vault.azure.net/", w.KeyVault)
	})
	t.Run("file writable by others", func(t *testing.T) {
		file, project := layout(t, trustConfig)
		require.NoError(t, os.Chmod(file, 0o666))
		_, err := workspace.FromConfig(project, nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), file)
		assert.Contains(t, err.Error(), "sets key_vault")
		assert.Contains(t, err.Error(), "writable by others")
	})
	t.Run("folder writable by others", func(t *testing.T) {
		file, project := layout(t, trustConfig)
		require.NoError(t, os.Chmod(filepath.Dir(file), 0o777))
		_, err := workspace.FromConfig(project, nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "its folder")
	})
	t.Run("sticky world-writable folder", func(t *testing.T) {
		file, project := layout(t, trustConfig)
		require.NoError(t, os.Chmod(filepath.Dir(file), 0o777|os.ModeSticky))
		_, err := workspace.FromConfig(project, nil)
		require.Error(t, err, "a /tmp-like folder lets anyone plant the file")
	})
	t.Run("without key_vault the azureml search is kept", func(t *testing.T) {
		file, project := layout(t, plainConfig)
		require.NoError(t, os.Chmod(file, 0o666))
		require.NoError(t, os.Chmod(filepath.Dir(file), 0o777))
		w, err := workspace.FromConfig(project, nil)
		require.NoError(t, err)
		assert.Equal(t, "ws", w.Name)
	})
	t.Run("foreign-owned ancestor config", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("giving a file to another user needs root; CI runs as root and covers this case")
		}
		file, project := layout(t, trustConfig)
		require.NoError(t, os.Chown(file, 4242, 4242))
		require.NoError(t, os.Chown(filepath.Dir(file), 4242, 4242))
		_, err := workspace.FromConfig(project, nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "owned by another user")
		// The folder alone another user's: refused too.
		require.NoError(t, os.Chown(file, 0, 0))
		_, err = workspace.FromConfig(project, nil)
		require.Error(t, err)
	})
}

func TestConfigSizeBound(t *testing.T) {
	_, err := workspace.FromConfig("/dev/zero", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "larger than 1 MiB")
}
