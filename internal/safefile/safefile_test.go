//go:build unix

package safefile_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/internal/safefile"
)

// otherUID is a uid that is neither the test's nor root's.
const otherUID = 4242

// chownOther gives path to another user, or skips when the test cannot
// (only root can give a file away).
func chownOther(t *testing.T, path string) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("giving a file to another user needs root; run as root (as CI does) to cover this case")
	}
	require.NoError(t, os.Chown(path, otherUID, otherUID))
}

func TestReadTrusted(t *testing.T) {
	write := func(t *testing.T, mode os.FileMode) string {
		p := filepath.Join(t.TempDir(), "ca.pem")
		require.NoError(t, os.WriteFile(p, []byte("pem"), 0o600))
		require.NoError(t, os.Chmod(p, mode))
		return p
	}
	t.Run("own file 0600", func(t *testing.T) {
		b, err := safefile.ReadTrusted(write(t, 0o600), 100, "CA file")
		require.NoError(t, err)
		assert.Equal(t, "pem", string(b))
	})
	t.Run("own file 0644", func(t *testing.T) {
		_, err := safefile.ReadTrusted(write(t, 0o644), 100, "CA file")
		require.NoError(t, err)
	})
	for _, mode := range []os.FileMode{0o666, 0o620, 0o602} {
		t.Run("mode "+mode.String(), func(t *testing.T) {
			p := write(t, mode)
			_, err := safefile.ReadTrusted(p, 100, "CA file")
			require.ErrorIs(t, err, safefile.ErrUntrusted)
			assert.Contains(t, err.Error(), p)
			assert.Contains(t, err.Error(), "writable by group or others")
		})
	}
	t.Run("another user's file", func(t *testing.T) {
		p := write(t, 0o644)
		chownOther(t, p)
		_, err := safefile.ReadTrusted(p, 100, "CA file")
		require.ErrorIs(t, err, safefile.ErrUntrusted)
		assert.Contains(t, err.Error(), "owned by another user")
	})
	t.Run("symlink to another user's file", func(t *testing.T) {
		p := write(t, 0o644)
		chownOther(t, p)
		l := filepath.Join(t.TempDir(), "link.pem")
		require.NoError(t, os.Symlink(p, l))
		_, err := safefile.ReadTrusted(l, 100, "CA file")
		require.ErrorIs(t, err, safefile.ErrUntrusted)
	})
	t.Run("not a regular file", func(t *testing.T) {
		_, err := safefile.ReadTrusted(t.TempDir(), 100, "CA file")
		require.ErrorIs(t, err, safefile.ErrUntrusted)
		assert.Contains(t, err.Error(), "not a regular file")
	})
	t.Run("too large", func(t *testing.T) {
		_, err := safefile.ReadTrusted(write(t, 0o600), 2, "CA file")
		require.ErrorIs(t, err, safefile.ErrTooLarge)
	})
}

func TestCheckDir(t *testing.T) {
	d := t.TempDir()
	require.NoError(t, os.Chmod(d, 0o755))
	require.NoError(t, safefile.CheckDir(d, "config folder"))
	require.NoError(t, os.Chmod(d, 0o777))
	require.ErrorIs(t, safefile.CheckDir(d, "config folder"), safefile.ErrUntrusted)
	require.NoError(t, os.Chmod(d, 0o755))
	chownOther(t, d)
	require.ErrorIs(t, safefile.CheckDir(d, "config folder"), safefile.ErrUntrusted)
}

func TestReadFileDevZero(t *testing.T) {
	_, err := safefile.ReadFile("/dev/zero", 1<<20, "--from-file /dev/zero")
	var tl *safefile.TooLargeError
	require.True(t, errors.As(err, &tl), "%v", err)
	assert.Equal(t, "--from-file /dev/zero: larger than 1 MiB, the most accepted", err.Error())
}

func TestReader(t *testing.T) {
	b, err := io.ReadAll(safefile.Reader(strings.NewReader("12345"), 5, "x"))
	require.NoError(t, err)
	assert.Equal(t, "12345", string(b))
	b, err = io.ReadAll(safefile.Reader(strings.NewReader("123456"), 5, "x"))
	require.ErrorIs(t, err, safefile.ErrTooLarge)
	assert.Equal(t, "12345", string(b))
}
