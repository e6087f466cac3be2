package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// amlBin is the amlsecrets binary TestMain builds once, or "" with -short.
var amlBin string

func TestMain(m *testing.M) {
	dir := ""
	if !shortFlag() {
		var err error
		if dir, err = os.MkdirTemp("", "amlsecrets-test-*"); err != nil {
			panic(err)
		}
		amlBin = filepath.Join(dir, "amlsecrets")
		goTool, err := exec.LookPath("go")
		if err != nil {
			panic("build amlsecrets: no go tool on PATH: " + err.Error())
		}
		if out, err := exec.Command(goTool, "build", "-o", amlBin, ".").CombinedOutput(); err != nil {
			_ = os.RemoveAll(dir)
			panic("build amlsecrets: " + err.Error() + "\n" + string(out))
		}
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("os/signal.loop"), goleak.IgnoreTopFunction("os/signal.signal_recv")); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
	os.Exit(code)
}

// shortFlag reports -test.short before testing.Short may be called.
func shortFlag() bool {
	for _, a := range os.Args[1:] {
		if a == "-test.short" || a == "-test.short=true" {
			return true
		}
	}
	return false
}

// staticCred is any bearer token: serve accepts every well-formed one.
type staticCred struct{}

func (staticCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "local-dev-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// clientFor returns an azsecrets client of a serve instance, trusting its CA
// file, with challenge-resource verification off (the host is 127.0.0.1).
func clientFor(t *testing.T, vaultURL, caFile string) (*azsecrets.Client, func()) {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	opts := &azsecrets.ClientOptions{DisableChallengeResourceVerification: true}
	opts.Transport = &http.Client{Transport: tr}
	opts.Retry.MaxRetries = -1
	c, err := azsecrets.NewClient(vaultURL, staticCred{}, opts)
	require.NoError(t, err)
	return c, tr.CloseIdleConnections
}

// readServeLines reads serve's two lines and returns the URL and CA file.
func readServeLines(t *testing.T, r io.Reader) (string, string) {
	t.Helper()
	sc := bufio.NewScanner(r)
	var lines []string
	for len(lines) < 2 && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	require.Len(t, lines, 2, "serve prints two lines")
	url, ok := strings.CutPrefix(lines[0], "AMLSECRETS_KEYVAULT_URL=")
	require.True(t, ok, lines[0])
	assert.Regexp(t, `^https://127\.0\.0\.1:\d+/$`, url)
	ca, ok := strings.CutPrefix(lines[1], "AMLSECRETS_CA_FILE=")
	require.True(t, ok, lines[1])
	return url, ca
}

func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() || amlBin == "" {
		t.Skip("runs the binary")
	}
	return amlBin
}

type serveProc struct {
	cmd      *exec.Cmd
	url, ca  string
	stderr   *strings.Builder
	waitDone chan error
	exited   bool // set by the test goroutine once waitDone was received
}

func startServe(t *testing.T, bin string, args ...string) *serveProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	p := &serveProc{cmd: cmd, stderr: &strings.Builder{}, waitDone: make(chan error, 1)}
	cmd.Stderr = p.stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if !p.exited {
			_ = cmd.Process.Kill()
			<-p.waitDone
		}
	})
	p.url, p.ca = readServeLines(t, stdout)
	go func() {
		_, _ = io.Copy(io.Discard, stdout)
		p.waitDone <- cmd.Wait()
	}()
	return p
}

func (p *serveProc) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(sig))
	select {
	case err := <-p.waitDone:
		p.exited = true
		require.NoError(t, err, "clean exit; stderr: %s", p.stderr.String())
		assert.Equal(t, 0, p.cmd.ProcessState.ExitCode())
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// TestServeProcess starts serve as a separate process, round-trips a secret
// through azsecrets, stops it with SIGTERM, and restarts it on the same state.
func TestServeProcess(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "vault.json")
	ctx := context.Background()

	p := startServe(t, bin, "--state", state, "--vault-name", "devvault")
	c, closeIdle := clientFor(t, p.url, p.ca)
	set, err := c.SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{Value: to.Ptr("hunter2")}, nil)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(*set.ID), p.url+"secrets/db-password/"), "ids carry the request's host")
	got, err := c.GetSecret(ctx, "db-password", "", nil)
	require.NoError(t, err)
	assert.Equal(t, "hunter2", *got.Value)
	closeIdle()
	p.stop(t, syscall.SIGTERM)
	assert.NotContains(t, p.stderr.String(), "hunter2")
	_, err = os.Stat(p.ca)
	assert.ErrorIs(t, err, os.ErrNotExist, "the temporary CA file is removed on exit")
	info, err := os.Stat(state)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	caOut := filepath.Join(dir, "ca.pem")
	p2 := startServe(t, bin, "--state", state, "--ca-out", caOut, "--throttle", "100/1s", "--latency", "1ms")
	assert.Equal(t, caOut, p2.ca)
	c2, closeIdle2 := clientFor(t, p2.url, p2.ca)
	got, err = c2.GetSecret(ctx, "db-password", "", nil)
	require.NoError(t, err, "the state survived the restart")
	assert.Equal(t, "hunter2", *got.Value)
	assert.Equal(t, set.ID.Version(), got.ID.Version())
	closeIdle2()
	p2.stop(t, syscall.SIGINT)
	_, err = os.Stat(caOut)
	assert.NoError(t, err, "--ca-out is kept")

	// SIGKILL right after an acknowledged write loses nothing.
	p3 := startServe(t, bin, "--state", state, "--ca-out", caOut)
	c3, closeIdle3 := clientFor(t, p3.url, p3.ca)
	_, err = c3.SetSecret(ctx, "acked", azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil)
	require.NoError(t, err)
	closeIdle3()
	require.NoError(t, p3.cmd.Process.Kill())
	require.Error(t, <-p3.waitDone)
	p3.exited = true
	p4 := startServe(t, bin, "--state", state, "--ca-out", caOut)
	c4, closeIdle4 := clientFor(t, p4.url, p4.ca)
	got, err = c4.GetSecret(ctx, "acked", "", nil)
	require.NoError(t, err, "the acknowledged write survived SIGKILL")
	assert.Equal(t, "v", *got.Value)
	closeIdle4()
	p4.stop(t, syscall.SIGTERM)
}

// TestServeInProcess runs serve through runContext and stops it by ending the context.
func TestServeInProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- runContext(ctx, []string{"serve", "--vault-name", "inproc"}, strings.NewReader(""), pw, &stderr)
		_ = pw.Close()
	}()
	url, ca := readServeLines(t, pr)
	go func() { _, _ = io.Copy(io.Discard, pr) }()

	c, closeIdle := clientFor(t, url, ca)
	_, err := c.SetSecret(context.Background(), "x", azsecrets.SetSecretParameters{Value: to.Ptr("y")}, nil)
	require.NoError(t, err)
	closeIdle()
	cancel()
	select {
	case code := <-done:
		assert.Equal(t, exitOK, code, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	assert.Contains(t, stderr.String(), `vault "inproc" listening`)
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"help", []string{"--help"}, exitOK, ""},
		{"no args", nil, exitOK, ""},
		{"unknown command", []string{"bogus"}, exitUsage, "unknown command"},
		{"unknown flag", []string{"serve", "--nope"}, exitUsage, "unknown flag"},
		{"extra arg", []string{"serve", "extra"}, exitUsage, "unknown command"},
		{"bad throttle", []string{"serve", "--throttle", "x"}, exitUsage, "--throttle"},
		{"bad latency", []string{"serve", "--latency", "soon"}, exitUsage, "latency"},
		{"negative latency", []string{"serve", "--latency", "-1s"}, exitUsage, "latency"},
		{"bad vault name", []string{"serve", "--vault-name", "no_underscores"}, exitError, "vault name"},
		{"bad addr", []string{"serve", "--addr", "127.0.0.1:99999"}, exitError, "serve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(tt.args, strings.NewReader(""), &stdout, &stderr)
			assert.Equal(t, tt.code, code, stderr.String())
			assert.Contains(t, stderr.String(), tt.stderr)
			if tt.code == exitOK {
				assert.Contains(t, stdout.String(), "serve")
			}
		})
	}
}

func TestParseThrottle(t *testing.T) {
	tests := []struct {
		in      string
		n       int
		w       time.Duration
		wantErr bool
	}{
		{"", 0, 0, false},
		{"200/1s", 200, time.Second, false},
		{"5/200ms", 5, 200 * time.Millisecond, false},
		{"300/10s", 300, 10 * time.Second, false},
		{"10/s", 10, time.Second, false},
		{"10/m", 10, time.Minute, false},
		{"200", 0, 0, true},
		{"0/1s", 0, 0, true},
		{"-1/1s", 0, 0, true},
		{"x/1s", 0, 0, true},
		{"10/0s", 0, 0, true},
		{"10/later", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, w, err := parseThrottle(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.n, n)
			assert.Equal(t, tt.w, w)
		})
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/tmp/ca.pem":      "/tmp/ca.pem",
		"/tmp/my ca.pem":   "'/tmp/my ca.pem'",
		"/tmp/it's.pem":    `'/tmp/it'\''s.pem'`,
		"/tmp/$(rm -rf x)": "'/tmp/$(rm -rf x)'",
	} {
		assert.Equal(t, want, shellQuote(in))
	}
	// The quoted form survives a real shell's eval.
	sh, err := exec.LookPath("sh")
	if errors.Is(err, exec.ErrNotFound) {
		t.Skip("no sh")
	}
	out, err := exec.Command(sh, "-c", `eval "X="$1; printf %s "$X"`, "sh", shellQuote("/tmp/it's a $(x).pem")).Output()
	require.NoError(t, err)
	assert.Equal(t, "/tmp/it's a $(x).pem", string(out))
}
