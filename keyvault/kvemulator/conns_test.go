package kvemulator_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/keyvault/kvemulator"
)

// dialTLS opens a TLS connection straight to the server's listener.
func dialTLS(t *testing.T, srv *kvemulator.Server) *tls.Conn {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c, err := tls.Dial("tcp", srv.Addr().String(), &tls.Config{RootCAs: pool, ServerName: strings.TrimSuffix(strings.TrimPrefix(srv.VaultURL(), "https://"), "/")})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// idleConn opens a connection, sends one keep-alive request on it, reads the
// answer and leaves the connection idle.
func idleConn(t *testing.T, srv *kvemulator.Server) *tls.Conn {
	t.Helper()
	c := dialTLS(t, srv)
	_, err := fmt.Fprintf(c, "GET /secrets/x/?api-version=2026-04-01 HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", srv.VaultName()+".vault.azure.net", srv.Token())
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	return c
}

// closedByServer reports whether the server has closed c, waiting up to d.
func closedByServer(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestIdleConnectionsClosed: idle keep-alive connections are closed by the
// idle timeout, and silent ones by the header timeout.
func TestIdleConnectionsClosed(t *testing.T) {
	// The header timeout also bounds the server's side of the TLS
	// handshake, which under -race on a loaded machine can take longer than
	// the idle timeout: it gets 2 s so that every connection is set up.
	srv := newServer(t, &kvemulator.Options{IdleTimeout: 300 * time.Millisecond, ReadHeaderTimeout: 2 * time.Second})
	const n = 300
	var idle []*tls.Conn
	for range n {
		idle = append(idle, idleConn(t, srv))
	}
	var silent []net.Conn
	for range 50 {
		c, err := net.Dial("tcp", srv.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		silent = append(silent, c)
	}
	for i, c := range idle {
		require.True(t, closedByServer(c, 10*time.Second), "idle connection %d still open", i)
	}
	for i, c := range silent {
		require.True(t, closedByServer(c, 10*time.Second), "silent connection %d still open", i)
	}
	assert.Eventually(t, func() bool { return srv.OpenConns() == 0 }, 10*time.Second, 10*time.Millisecond)
}

// TestConnectionCapShedsIdle: past MaxConns the idle connections are shed
// and a working client still gets in.
func TestConnectionCapShedsIdle(t *testing.T) {
	const maxConns = 50
	srv := newServer(t, &kvemulator.Options{MaxConns: maxConns})
	for range 4 * maxConns {
		idleConn(t, srv)
	}
	assert.LessOrEqual(t, srv.OpenConns(), maxConns)
	c := newClient(t, srv, -1)
	_, err := c.GetSecret(t.Context(), "x", "", nil)
	assert.Equal(t, http.StatusNotFound, respErr(t, err).StatusCode, "a working client gets in")
}

// TestOversizedBody: a body announced larger than MaxBodyBytes gets 413
// before it is sent; one sent chunked gets 413 once it passes the limit.
func TestOversizedBody(t *testing.T) {
	const limit = 64 << 10
	srv := newServer(t, &kvemulator.Options{MaxBodyBytes: limit})
	c := dialTLS(t, srv)
	host := srv.VaultName() + ".vault.azure.net"
	_, err := fmt.Fprintf(c, "PUT /secrets/big?api-version=2026-04-01 HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"value\":\"",
		host, srv.Token(), 1<<30)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err, "answered without the body being sent")
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)

	c2 := dialTLS(t, srv)
	_, err = fmt.Fprintf(c2, "PUT /secrets/big?api-version=2026-04-01 HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", host, srv.Token())
	require.NoError(t, err)
	chunk := strings.Repeat("a", 16<<10)
	go func() {
		for range 16 { // 256 KiB, four times the limit
			if _, err := fmt.Fprintf(c2, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
				return
			}
		}
	}()
	resp, err = http.ReadResponse(bufio.NewReader(c2), nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, string(b))
	assert.Contains(t, string(b), "RequestEntityTooLarge")
}
