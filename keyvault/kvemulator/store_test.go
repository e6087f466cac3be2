package kvemulator

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// call serves one request past authentication and faults, on the calling
// goroutine (so that inside a synctest bubble the server's clock is the
// bubble's), and returns the status and body.
func call(t *testing.T, srv *Server, method, path, body string) (int, string) {
	t.Helper()
	if !strings.Contains(path, "api-version=") {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "api-version=2026-04-01"
	}
	req := httptest.NewRequest(method, "https://"+srv.vaultHost+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	rec := httptest.NewRecorder()
	srv.write(rec, srv.handle(req, match(effectiveMethod(req), req.URL.EscapedPath())), false)
	return rec.Code, rec.Body.String()
}

func start(t *testing.T, o *Options) *Server {
	t.Helper()
	srv, err := Start(o)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	return srv
}

// TestPropagation: delete, recover and purge show only after the delay, as in
// Key Vault; a client that polls sees them.
func TestPropagation(t *testing.T) {
	const d = 2 * time.Second
	srv := start(t, &Options{PropagationDelay: d})
	synctest.Test(t, func(t *testing.T) {
		st, _ := call(t, srv, "PUT", "/secrets/x", `{"value":"v"}`)
		require.Equal(t, 200, st)
		st, backup := call(t, srv, "POST", "/secrets/x/backup", "")
		require.Equal(t, 200, st)

		st, _ = call(t, srv, "DELETE", "/secrets/x", "")
		require.Equal(t, 200, st)
		st, _ = call(t, srv, "GET", "/secrets/x/", "")
		assert.Equal(t, 404, st, "gone from /secrets at once")
		st, _ = call(t, srv, "GET", "/deletedsecrets/x", "")
		assert.Equal(t, 404, st, "not yet at /deletedsecrets")
		st, body := call(t, srv, "PUT", "/secrets/x", `{"value":"w"}`)
		assert.Equal(t, 409, st)
		assert.Contains(t, body, "ObjectIsBeingDeleted")
		st, body = call(t, srv, "GET", "/deletedsecrets", "")
		assert.Equal(t, 200, st)
		assert.Contains(t, body, `"value":[]`)
		st, _ = call(t, srv, "DELETE", "/deletedsecrets/x", "")
		assert.Equal(t, 404, st, "purge before the delete shows")
		time.Sleep(d)
		st, _ = call(t, srv, "GET", "/deletedsecrets/x", "")
		assert.Equal(t, 200, st)
		_, body = call(t, srv, "GET", "/deletedsecrets", "")
		assert.Contains(t, body, "/deletedsecrets/x")

		st, _ = call(t, srv, "POST", "/deletedsecrets/x/recover", "")
		require.Equal(t, 200, st)
		st, _ = call(t, srv, "GET", "/secrets/x/", "")
		assert.Equal(t, 404, st, "not yet back at /secrets")
		st, _ = call(t, srv, "GET", "/deletedsecrets/x", "")
		assert.Equal(t, 404, st, "gone from /deletedsecrets at once")
		_, body = call(t, srv, "GET", "/secrets", "")
		assert.NotContains(t, body, "/secrets/x")
		st, _ = call(t, srv, "PUT", "/secrets/x", `{"value":"w"}`)
		assert.Equal(t, 409, st)
		time.Sleep(d)
		st, _ = call(t, srv, "GET", "/secrets/x/", "")
		assert.Equal(t, 200, st)

		st, _ = call(t, srv, "DELETE", "/secrets/x", "")
		require.Equal(t, 200, st)
		time.Sleep(d)
		st, _ = call(t, srv, "DELETE", "/deletedsecrets/x", "")
		require.Equal(t, 204, st)
		restore := `{"value":"` + jsonField(t, backup, "value") + `"}`
		st, body = call(t, srv, "POST", "/secrets/restore", restore)
		assert.Equal(t, 409, st, "restore right after a purge: %s", body)
		time.Sleep(d)
		st, _ = call(t, srv, "POST", "/secrets/restore", restore)
		assert.Equal(t, 200, st)
	})
}

func jsonField(t *testing.T, body, field string) string {
	t.Helper()
	_, rest, ok := strings.Cut(body, `"`+field+`":"`)
	require.True(t, ok, body)
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// TestNoPropagationDelay: a negative delay makes every change visible at once.
func TestNoPropagationDelay(t *testing.T) {
	srv := start(t, &Options{PropagationDelay: -1})
	call(t, srv, "PUT", "/secrets/x", `{"value":"v"}`)
	call(t, srv, "DELETE", "/secrets/x", "")
	st, _ := call(t, srv, "GET", "/deletedsecrets/x", "")
	assert.Equal(t, 200, st)
	st, _ = call(t, srv, "POST", "/deletedsecrets/x/recover", "")
	assert.Equal(t, 200, st)
	st, _ = call(t, srv, "GET", "/secrets/x/", "")
	assert.Equal(t, 200, st)
}

// TestFailedSaveChangesNothing: a write whose save fails answers 500 and is
// visible neither now nor after a restart.
func TestFailedSaveChangesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.json")
	srv := start(t, &Options{StatePath: path, PropagationDelay: -1})
	st, _ := call(t, srv, "PUT", "/secrets/kept", `{"value":"v1"}`)
	require.Equal(t, 200, st)

	srv.store.log.failWrites = errors.New("disk full")
	for _, tc := range []struct{ method, path, body string }{
		{"PUT", "/secrets/kept", `{"value":"v2"}`},
		{"PUT", "/secrets/new", `{"value":"n"}`},
		{"PATCH", "/secrets/kept/", `{"contentType":"changed"}`},
		{"DELETE", "/secrets/kept", ""},
	} {
		st, body := call(t, srv, tc.method, tc.path, tc.body)
		assert.Equal(t, 500, st, "%s %s: %s", tc.method, tc.path, body)
	}
	st, body := call(t, srv, "GET", "/secrets/kept/", "")
	assert.Equal(t, 200, st)
	assert.Contains(t, body, `"value":"v1"`)
	assert.NotContains(t, body, "changed")
	st, _ = call(t, srv, "GET", "/secrets/new/", "")
	assert.Equal(t, 404, st)

	srv.store.log.failWrites = nil
	st, _ = call(t, srv, "PUT", "/secrets/after", `{"value":"a"}`)
	require.Equal(t, 200, st)
	srv.Close()

	srv2 := start(t, &Options{StatePath: path})
	st, body = call(t, srv2, "GET", "/secrets/kept/", "")
	assert.Equal(t, 200, st)
	assert.Contains(t, body, `"value":"v1"`)
	st, _ = call(t, srv2, "GET", "/secrets/new/", "")
	assert.Equal(t, 404, st)
	st, _ = call(t, srv2, "GET", "/secrets/after/", "")
	assert.Equal(t, 200, st)
}

// TestPoisonRestore: a backup blob with a null version gets 400, is not
// stored, and the vault keeps serving, restarts included.
func TestPoisonRestore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.json")
	srv := start(t, &Options{StatePath: path})
	for _, blob := range []string{
		`{"name":"poison","versions":[null]}`,
		`{"name":"poison","versions":[]}`,
		`{"name":"poison"}`,
		`{"name":"bad_name","versions":[{"version":"0123456789abcdef0123456789abcdef","value":"v","enabled":true}]}`,
		`{"name":"poison","versions":[{"version":"nothex","value":"v"}]}`,
		`{"name":"poison","versions":[{"version":"0123456789abcdef0123456789abcdef"},{"version":"0123456789abcdef0123456789abcdef"}]}`,
	} {
		st, body := call(t, srv, "POST", "/secrets/restore", `{"value":"`+encodeBlob([]byte(backupMagic+blob))+`"}`)
		assert.Equal(t, 400, st, blob)
		assert.Contains(t, body, "Malformed backup blob")
	}
	st, _ := call(t, srv, "GET", "/secrets", "")
	assert.Equal(t, 200, st)
	srv.Close()
	srv2 := start(t, &Options{StatePath: path})
	st, _ = call(t, srv2, "GET", "/secrets", "")
	assert.Equal(t, 200, st)
}

// TestMalformedStateRefused: a state file the server could not serve stops
// Start with an error naming the file and line, never a panic.
func TestMalformedStateRefused(t *testing.T) {
	for name, content := range map[string]string{
		"null version v1":    `{"format":1,"secrets":[{"name":"poison","versions":[null]}]}`,
		"null secret v1":     `{"format":1,"secrets":[null]}`,
		"null version v2":    `{"format":2}` + "\n" + `{"op":"put","name":"poison","secret":{"name":"poison","versions":[null]}}` + "\n",
		"bad op":             `{"format":2}` + "\n" + `{"op":"drop","name":"x"}` + "\n",
		"bad name":           `{"format":2}` + "\n" + `{"op":"ver","name":"a_b","v":{"version":"0123456789abcdef0123456789abcdef"}}` + "\n",
		"not JSON":           `{"format":2}` + "\n" + `garbage` + "\n",
		"unknown format":     `{"format":9}`,
		"header not JSON":    `vault`,
		"nil version ver":    `{"format":2}` + "\n" + `{"op":"ver","name":"x"}` + "\n",
		"name mismatch":      `{"format":2}` + "\n" + `{"op":"put","name":"x","secret":{"name":"y","versions":[{"version":"0123456789abcdef0123456789abcdef"}]}}` + "\n",
		"oversized value":    `{"format":2}` + "\n" + `{"op":"ver","name":"x","v":{"version":"0123456789abcdef0123456789abcdef","value":"` + strings.Repeat("a", MaxValueBytes+1) + `"}}` + "\n",
		"duplicate versions": `{"format":1,"secrets":[{"name":"d","versions":[{"version":"0123456789abcdef0123456789abcdef"},{"version":"0123456789abcdef0123456789abcdef"}]}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vault.json")
			require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
			_, err := Start(&Options{StatePath: path})
			require.Error(t, err)
			assert.Contains(t, err.Error(), path)
		})
	}
}

// TestStateLogRecovery: a partial last line (a kill mid-append) is ignored,
// format 1 files still load, and stale temporary files are removed.
func TestStateLogRecovery(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vault.json")
	const v = "0123456789abcdef0123456789abcdef"
	content := `{"format":2}` + "\n" +
		`{"op":"ver","name":"Whole","v":{"version":"` + v + `","value":"w","enabled":true}}` + "\n" +
		`{"op":"ver","name":"cut","v":{"vers`
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	stale := filepath.Join(dir, ".vault.json.tmp-4242")
	require.NoError(t, os.WriteFile(stale, []byte("secret"), 0o600))
	srv := start(t, &Options{StatePath: path})
	st, body := call(t, srv, "GET", "/secrets/whole/", "")
	assert.Equal(t, 200, st)
	assert.Contains(t, body, "/secrets/Whole/"+v)
	st, _ = call(t, srv, "GET", "/secrets/cut/", "")
	assert.Equal(t, 404, st)
	assert.NoFileExists(t, stale)
	srv.Close()

	require.NoError(t, os.WriteFile(path, []byte(`{"format":1,"secrets":[{"name":"old","versions":[{"version":"`+v+`","value":"o","enabled":true}]}],"deleted":[]}`), 0o600))
	srv = start(t, &Options{StatePath: path})
	st, _ = call(t, srv, "GET", "/secrets/old/", "")
	assert.Equal(t, 200, st)
}

// TestStartChecksStateWritable: serve refuses a state file it cannot write.
func TestStartChecksStateWritable(t *testing.T) {
	_, err := Start(&Options{StatePath: filepath.Join(t.TempDir(), "no-such-dir", "vault.json")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot be written")
}

// TestGroupCommit: concurrent writers share fsyncs, every write survives a
// restart, and the log is compacted as it grows.
func TestGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.json")
	srv := start(t, &Options{StatePath: path})
	const writers, each = 16, 100
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				st, body := call(t, srv, "PUT", fmt.Sprintf("/secrets/w%d-%d", w, i%10), fmt.Sprintf(`{"value":"%d"}`, i))
				if st != 200 {
					t.Errorf("set: %d %s", st, body)
					return
				}
			}
		})
	}
	wg.Wait()
	syncs := srv.store.log.syncs
	t.Logf("%d writes, %d fsyncs", writers*each, syncs)
	assert.Less(t, syncs, writers*each, "concurrent writes share fsyncs")
	fi, err := os.Stat(path)
	require.NoError(t, err)
	srv.Close()

	srv2 := start(t, &Options{StatePath: path})
	for w := range writers {
		for k := range 10 {
			st, body := call(t, srv2, "GET", fmt.Sprintf("/secrets/w%d-%d/", w, k), "")
			require.Equal(t, 200, st)
			assert.Contains(t, body, fmt.Sprintf(`"value":"%d"`, 90+k))
		}
		st, body := call(t, srv2, "GET", fmt.Sprintf("/secrets/w%d-0/versions", w), "")
		require.Equal(t, 200, st)
		assert.Equal(t, 10, strings.Count(body, `"id"`), "every version kept")
	}
	fi2, err := os.Stat(path)
	require.NoError(t, err)
	assert.Less(t, fi2.Size(), fi.Size()+1, "the restart compacted the log")
}

// TestListPagesWithHiddenEntries: a page skips entries still propagating.
func TestListPagesWithHiddenEntries(t *testing.T) {
	srv := start(t, &Options{PropagationDelay: time.Hour})
	for i := range 30 {
		call(t, srv, "PUT", fmt.Sprintf("/secrets/s%02d", i), `{"value":"v"}`)
	}
	for i := range 30 {
		if i%2 == 0 {
			call(t, srv, "DELETE", fmt.Sprintf("/secrets/s%02d", i), "")
		}
	}
	st, body := call(t, srv, "GET", "/secrets?maxresults=10", "")
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, 10, strings.Count(body, `"id"`))
	assert.Contains(t, body, "s01")
	assert.NotContains(t, body, "s00")
	st, body = call(t, srv, "GET", "/deletedsecrets", "")
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, 0, strings.Count(body, `"id"`), "deletes still propagating")
	assert.Contains(t, body, `"nextLink":null`)
}
