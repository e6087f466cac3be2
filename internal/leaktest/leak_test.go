package leaktest_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azlog "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
	"github.com/stretchr/testify/require"

	"go.uber.org/goleak"

	"github.com/go-azureml/secrets/internal/syncbuf"
	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/azurevault"
	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
	"github.com/go-azureml/secrets/keyvault/memvault"
)

// Canary values: each is a secret value that must never show up anywhere but
// in an explicit reveal.
var (
	canaryPlain     = "CANARY-plain-7f3a9c"
	canaryMultiLine = "-----BEGIN CANARY-----\nCANARY-line2-0b81d4\n-----END CANARY-----\n"
	canaryUnicode   = "CANARY-ünïcødé-密-5e2d"
	canaryJSON      = `{"user":"u","password":"CANARY-json-91c0ee"}`
)

// canaryNeedles are the substrings searched for: each canary's distinctive
// part, so that a value quoted, escaped or cut across lines is still found.
var canaryNeedles = []string{
	"CANARY-plain-7f3a9c", "CANARY-line2-0b81d4", "ünïcødé-密", `CANARY-json-91c0ee`,
	`ünïcødé`, "CANARY-conn-key-44d1", "CANARY-token-5a5a",
}

// capture collects everything the library could leak through: azcore's log
// listener (every event), slog at debug, and the process's stdout and stderr.
type capture struct {
	syncbuf.Buffer
}

func (c *capture) add(format string, args ...any) { fmt.Fprintf(c, format+"\n", args...) }

// startCapture turns every channel on for the test's duration.
func startCapture(t *testing.T) *capture {
	c := &capture{}
	azlog.SetEvents() // every event
	azlog.SetListener(func(ev azlog.Event, msg string) { c.add("azlog %s: %s", ev, msg) })
	t.Cleanup(func() { azlog.SetListener(nil) })
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(c, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(old) })
	for _, f := range []**os.File{&os.Stdout, &os.Stderr} {
		r, w, err := os.Pipe()
		require.NoError(t, err)
		orig := *f
		*f = w
		done := make(chan struct{})
		go func() { _, _ = io.Copy(c, r); close(done) }()
		t.Cleanup(func() { *f = orig; _ = w.Close(); <-done; _ = r.Close() })
	}
	return c
}

// record writes an error or any returned value in every way a caller might
// print it.
func (c *capture) record(what string, v any) {
	if v == nil {
		return
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		c.add("%s %s: "+verb, what, verb, v)
	}
	if err, ok := v.(error); ok {
		for e := err; e != nil; e = errors.Unwrap(e) {
			c.add("%s unwrap: %v", what, e)
		}
		var re *azcore.ResponseError
		if errors.As(err, &re) {
			c.add("%s response error: %s", what, re.Error())
		}
	}
}

func assertNoCanary(t *testing.T, c *capture) {
	t.Helper()
	out := c.String()
	require.NotEmpty(t, out, "the capture saw nothing: the test is not looking")
	for _, n := range canaryNeedles {
		if i := strings.Index(out, n); i >= 0 {
			lo, hi := max(0, i-300), min(len(out), i+100)
			t.Fatalf("canary %q leaked:\n...%s...", n, out[lo:hi])
		}
	}
}

// protect records a panic's value (none is expected) before failing.
func protect(t *testing.T, c *capture, fn func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			c.add("panic: %v", r)
			t.Errorf("panic: %v", r)
		}
	}()
	fn()
}

var canaries = map[string]string{
	"plain": canaryPlain, "multi-line": canaryMultiLine, "unicode": canaryUnicode, "json": canaryJSON,
}

// exercise drives a Keyvault through every method, success and failure,
// recording what each returns.
func exercise(t *testing.T, c *capture, kv *keyvault.Keyvault) {
	ctx := t.Context()
	for n, v := range canaries {
		p, err := kv.SetSecret(ctx, n, v, &keyvault.SetSecretOptions{ContentType: "text/plain"})
		require.NoError(t, err)
		c.record("set "+n, p)
	}
	require.NoError(t, kv.SetSecrets(ctx, map[string]string{"batch-a": canaryPlain, "batch-b": canaryMultiLine}))
	for n, v := range canaries {
		got, err := kv.GetSecret(ctx, n)
		require.NoError(t, err)
		require.Equal(t, v, got, "the explicit reveal returns the value")
		s, err := kv.GetSecretVersion(ctx, n, "")
		require.NoError(t, err)
		c.record("secret "+n, s)
		c.record("secret value "+n, s.Value)
		slog.Debug("got secret", "secret", s, "value", s.Value)
	}
	got, err := kv.GetSecrets(ctx, []string{"plain", "json", "missing", "bad_name"})
	require.Error(t, err)
	require.Len(t, got, 2)
	c.record("get secrets error", err)
	ps, err := kv.ListSecrets(ctx)
	require.NoError(t, err)
	c.record("list", ps)
	off := false
	_, err = kv.SetSecret(ctx, "plain", canaryPlain+"-disabled", &keyvault.SetSecretOptions{Enabled: &off})
	require.NoError(t, err)
	_, err = kv.GetSecret(ctx, "plain")
	require.ErrorIs(t, err, keyvault.ErrDisabled)
	c.record("disabled", err)
	_, err = kv.SetSecret(ctx, "too-big", canaryPlain+strings.Repeat("x", keyvault.MaxValueBytes), nil)
	require.ErrorIs(t, err, keyvault.ErrInvalidValue)
	c.record("too big", err)
	_, err = kv.SetSecret(ctx, "bad_name", canaryPlain, nil)
	require.ErrorIs(t, err, keyvault.ErrInvalidName)
	c.record("bad name", err)
	err = kv.SetSecrets(ctx, map[string]string{"ok-name": canaryPlain, "bad_name": canaryJSON})
	require.Error(t, err)
	c.record("bad batch", err)
	require.NoError(t, kv.DeleteSecret(ctx, "json"))
	_, err = kv.SetSecret(ctx, "json", canaryJSON, nil)
	require.ErrorIs(t, err, keyvault.ErrConflict)
	c.record("conflict", err)
	c.record("keyvault", kv)
}

func TestNoLeakMemvault(t *testing.T) {
	c := startCapture(t)
	protect(t, c, func() { exercise(t, c, keyvault.New(memvault.New(), nil)) })
	assertNoCanary(t, c)
}

func TestNoLeakAzurevaultOverEmulator(t *testing.T) {
	c := startCapture(t)
	srv := keyvaulttest.NewServer(nil)
	defer srv.Close()
	co := srv.ClientOptions()
	co.Retry.MaxRetries = 1
	co.Retry.RetryDelay = time.Millisecond
	co.Logging.AllowedHeaders = []string{"Authorization"} // even asked to, azcore must not log it
	store, err := azurevault.New(srv.VaultURL(), srv.Credential(), &azurevault.Options{ClientOptions: co})
	require.NoError(t, err)
	c.record("store", store)
	kv := keyvault.New(store, &keyvault.Options{Cache: &keyvault.CacheOptions{Disabled: true}, Retry: &keyvault.RetryOptions{MaxAttempts: 1}})
	protect(t, c, func() { exercise(t, c, kv) })

	// Failures on the wire: throttled, permission, server errors, dropped
	// connections and truncated bodies (which cut a value in half).
	ctx := t.Context()
	faults := []struct {
		name string
		arm  func()
	}{
		{"throttled", func() { srv.FailNext(4, 429) }},
		{"forbidden", func() { srv.FailNext(4, 403) }},
		{"unavailable", func() { srv.FailNext(4, 503) }},
		{"dropped", func() { srv.DropNext(4) }},
		{"truncated", func() { srv.TruncateNext(4) }},
	}
	for _, f := range faults {
		protect(t, c, func() {
			f.arm()
			_, err := kv.GetSecret(ctx, "unicode")
			c.record(f.name+" get", err)
			_, err = kv.SetSecret(ctx, "plain", canaryPlain, nil)
			c.record(f.name+" set", err)
			_, err = kv.GetSecrets(ctx, []string{"unicode", "multi-line"})
			c.record(f.name+" get secrets", err)
		})
		srv.FailNext(0, 0)
		srv.DropNext(0)
		srv.TruncateNext(0)
	}
	assertNoCanary(t, c)
	require.Contains(t, c.String(), "azlog", "azcore's logger was listened to")
}

// TestMain fails the package if any test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
