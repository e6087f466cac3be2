package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/internal/syncbuf"
)

// serveInProcess runs `amlsecrets serve args...` in process and returns the
// URL and CA file it printed, its stderr and a stop function that returns
// its exit status.
func serveInProcess(t *testing.T, args ...string) (url, ca string, stderr *syncbuf.Buffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr = &syncbuf.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- runContext(ctx, append([]string{"serve"}, args...), strings.NewReader(""), pw, stderr)
		_ = pw.Close()
	}()
	url, ca = readServeLines(t, pr)
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	stopped := false
	code := 0
	stop = func() int {
		if stopped {
			return code
		}
		stopped = true
		cancel()
		select {
		case code = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("serve did not stop")
		}
		return code
	}
	t.Cleanup(func() { stop() })
	return url, ca, stderr, stop
}

// The CA lives in a fresh private folder that is removed on exit, so no
// other user can plant a file at the path AMLSECRETS_CA_FILE names.
func TestServeCAInPrivateFolder(t *testing.T) {
	_, ca, stderr, stop := serveInProcess(t)
	fi, err := os.Stat(ca)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	di, err := os.Stat(filepath.Dir(ca))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), di.Mode().Perm(), "the CA's folder is private")
	assert.NotEqual(t, os.TempDir(), filepath.Dir(ca), "not directly in the shared temporary folder")
	assert.Equal(t, exitOK, stop(), stderr.String())
	_, err = os.Stat(filepath.Dir(ca))
	assert.ErrorIs(t, err, os.ErrNotExist, "the folder is removed on exit")
}

func TestServeRefusesNonLoopbackAddr(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "10.1.2.3:8443", "example.com:443"} {
		t.Run(addr, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := runContext(t.Context(), []string{"serve", "--addr", addr}, strings.NewReader(""), &stdout, &stderr)
			assert.Equal(t, exitUsage, code)
			assert.Empty(t, stdout.String(), "nothing listens, nothing printed")
			assert.Contains(t, stderr.String(), "--allow-remote")
			assert.Contains(t, stderr.String(), "listens beyond this machine")
		})
	}
	var stdout, stderr strings.Builder
	code := runContext(t.Context(), []string{"serve", "--addr", "0.0.0.0:0", "--allow-remote"}, strings.NewReader(""), &stdout, &stderr)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr.String(), "--token-file")

	loose := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(loose, []byte("tok"), 0o600))
	require.NoError(t, os.Chmod(loose, 0o666))
	stderr.Reset()
	code = runContext(t.Context(), []string{"serve", "--addr", "0.0.0.0:0", "--allow-remote", "--token-file", loose}, strings.NewReader(""), &stdout, &stderr)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr.String(), "writable by group or others")
}

// With --allow-remote, serve warns and accepts only the configured token.
func TestServeAllowRemoteNeedsToken(t *testing.T) {
	tokFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokFile, []byte("s3cr3t-remote-token\n"), 0o600))
	url, ca, stderr, _ := serveInProcess(t, "--addr", "0.0.0.0:0", "--allow-remote", "--token-file", tokFile)
	assert.Contains(t, stderr.String(), "warning: --allow-remote")

	pem, err := os.ReadFile(ca)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	get := func(token string) int {
		req, err := http.NewRequest(http.MethodGet, url+"secrets?api-version=7.5", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusUnauthorized, get("any-other-token"))
	assert.Equal(t, http.StatusUnauthorized, get("amlsecrets-local-emulator"))
	assert.Equal(t, http.StatusOK, get("s3cr3t-remote-token"))
}
