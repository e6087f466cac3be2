package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/internal/syncbuf"
)

// bgProc is the amlsecrets binary running in the background.
type bgProc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncbuf.Buffer
	done           chan struct{}
}

func startBG(t *testing.T, env []string, dir string, args ...string) *bgProc {
	t.Helper()
	cmd := exec.Command(buildBinary(t), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.Dir = dir
	p := &bgProc{cmd: cmd, stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	// A child of exec that outlives it (exec killed) holds its stdout and
	// stderr: Wait stops copying them this long after exec exits, instead
	// of waiting for the child.
	cmd.WaitDelay = 5 * time.Second
	require.NoError(t, cmd.Start())
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		// SIGTERM first: exec forwards it to its child, which exits, so
		// that a test that failed half way leaves no process behind.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for the process to exit and returns its status.
func (p *bgProc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("amlsecrets did not exit; stderr: %s", p.stderr.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

// waitFile waits up to 30 s (a cold process under the race detector on a
// busy machine) for the file at path to hold exactly want, and fails with
// what it holds and exec's stderr at that moment.
func (p *bgProc) waitFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for readFile(path) != want {
		select {
		case <-p.done:
			t.Fatalf("amlsecrets exited (%v); %s holds %q, want %q; stderr: %s", p.cmd.ProcessState, filepath.Base(path), readFile(path), want, p.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s %s holds %q, want %q; stderr: %s", filepath.Base(path), readFile(path), want, p.stderr.String())
		}
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func TestInject(t *testing.T) {
	v := startVault(t, nil)
	set := func(t *testing.T, name, value string) {
		t.Helper()
		r := cli(t, cliOpts{env: with(v.env, "V="+value)}, "set", name, "--from-env", "V")
		require.Equal(t, 0, r.code, r.stderr)
	}
	set(t, "db-password", "hunter2")
	set(t, "api-key", "k3y")
	tmpl := "machine db login app password ${{keyvault:db-password}}\n" +
		`{"key": "${{keyvault:` + v.srv.ListenURL() + `secrets/api-key}}"}` + "\n"
	want := "machine db login app password hunter2\n{\"key\": \"k3y\"}\n"

	t.Run("two references into a 0600 file", func(t *testing.T) {
		dir := t.TempDir()
		in := filepath.Join(dir, "netrc.tmpl")
		require.NoError(t, os.WriteFile(in, []byte(tmpl), 0o644))
		out := filepath.Join(dir, "netrc")
		r := cli(t, cliOpts{env: v.env}, "inject", "-i", in, "-o", out)
		require.Equal(t, 0, r.code, r.stderr)
		assert.Empty(t, r.stdout)
		assert.Empty(t, r.stderr)
		assert.Equal(t, want, readFile(out))
		fi, err := os.Stat(out)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		assert.Len(t, entries, 2, "no temporary file left behind")

		// An existing, wider file is replaced by a 0600 one.
		require.NoError(t, os.WriteFile(out, []byte("old"), 0o644))
		r = cli(t, cliOpts{env: v.env, stdin: tmpl}, "inject", "-o", out)
		require.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, want, readFile(out))
		fi, err = os.Stat(out)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	})
	t.Run("stdout", func(t *testing.T) {
		r := cli(t, cliOpts{env: v.env, stdin: tmpl}, "inject", "-o", "-")
		require.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, want, r.stdout)
	})
	t.Run("usage", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "f")
		for _, args := range [][]string{
			{"inject"},
			{"inject", "-o", out, "--mode", "0644"},
			{"inject", "-o", out, "--mode", "0602"},
			{"inject", "-o", out, "--mode", "xyz"},
			{"inject", "-o", "-", "--watch"},
			{"inject", "-o", out, "--watch", "--watch-interval", "10ms"},
		} {
			r := cli(t, cliOpts{env: v.env, stdin: tmpl}, args...)
			assert.Equal(t, exitUsage, r.code, "%v: %s", args, r.stderr)
			requireOneLineError(t, r)
		}
		_, err := os.Stat(out)
		assert.True(t, os.IsNotExist(err), "nothing written")
	})
	t.Run("malformed and missing references name the line", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "f")
		r := cli(t, cliOpts{env: v.env, stdin: "a\nb ${{keyvault:bad_name}}\n"}, "inject", "-o", out)
		assert.Equal(t, exitError, r.code, r.stderr)
		requireOneLineError(t, r)
		assert.Contains(t, r.stderr, "stdin: template line 2: malformed secret reference")

		r = cli(t, cliOpts{env: v.env, stdin: "pw=${{keyvault:db-password}}\nx=${{keyvault:nope}}\n"}, "inject", "-o", out)
		assert.Equal(t, exitNotFound, r.code, r.stderr)
		requireOneLineError(t, r)
		assert.Contains(t, r.stderr, "template line 2: ${{keyvault:nope}}")
		assert.NotContains(t, r.stderr, "hunter2")
		_, err := os.Stat(out)
		assert.True(t, os.IsNotExist(err), "nothing written")
	})
	t.Run("watch re-renders on change", func(t *testing.T) {
		dir := t.TempDir()
		in := filepath.Join(dir, "t")
		require.NoError(t, os.WriteFile(in, []byte(tmpl), 0o600))
		out := filepath.Join(dir, "out")
		p := startBG(t, v.env, dir, "inject", "-i", in, "-o", out, "--watch", "--watch-interval", "100ms")
		require.Eventually(t, func() bool { return readFile(out) == want }, 10*time.Second, 20*time.Millisecond, "first render; stderr: %s", p.stderr.String())
		set(t, "db-password", "hunter3")
		require.Eventually(t, func() bool { return strings.Contains(readFile(out), "password hunter3\n") }, 5*time.Second, 20*time.Millisecond, "stderr: %s", p.stderr.String())
		fi, err := os.Stat(out)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
		assert.Equal(t, 0, p.wait(t), p.stderr.String())
		assert.NotContains(t, p.stderr.String(), "hunter")
	})
}

// childScript is a child for exec --watch: it appends "start $DB_PASSWORD"
// to the file $OUT, "usr1" on SIGUSR1, and "term" on SIGTERM, after which it
// exits with $TERM_STATUS.
const childScript = `echo "start $DB_PASSWORD" >> "$OUT"
trap 'echo usr1 >> "$OUT"' USR1
trap 'echo term >> "$OUT"; exit $TERM_STATUS' TERM
while :; do sleep 0.05; done`

func TestExecWatch(t *testing.T) {
	v := startVault(t, nil)
	set := func(t *testing.T, value string) {
		t.Helper()
		r := cli(t, cliOpts{env: with(v.env, "V="+value)}, "set", "db-password", "--from-env", "V")
		require.Equal(t, 0, r.code, r.stderr)
	}
	set(t, "v1")
	ref := "DB_PASSWORD=${{keyvault:" + v.srv.ListenURL() + "secrets/db-password}}"
	const grace = 2 * time.Second
	watchArgs := []string{"exec", "--watch", "--watch-interval", "100ms", "--grace", grace.String(), "--debounce", "100ms", "--", "sh", "-c", childScript}

	t.Run("restart on change, signals, exit status", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "out")
		p := startBG(t, with(v.env, ref, "OUT="+out, "TERM_STATUS=0"), dir, watchArgs...)
		p.waitFile(t, out, "start v1\n")

		// A signal to exec reaches the child.
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGUSR1))
		require.Eventually(t, func() bool { return strings.Contains(readFile(out), "usr1\n") }, 5*time.Second, 10*time.Millisecond)

		// A change restarts it with the new value within interval + grace.
		set(t, "v2")
		changed := time.Now()
		require.Eventually(t, func() bool { return strings.HasSuffix(readFile(out), "term\nstart v2\n") }, 10*time.Second, 10*time.Millisecond, "stderr: %s", p.stderr.String())
		took := time.Since(changed)
		t.Logf("restarted %s after the change", took)
		assert.Less(t, took, 100*time.Millisecond+grace, "restarted within interval + grace")
		assert.Equal(t, "start v1\nusr1\nterm\nstart v2\n", readFile(out))
		assert.Contains(t, p.stderr.String(), "DB_PASSWORD changed; restarting sh")

		// A new version with the same value does not restart it.
		set(t, "v2")
		select {
		case <-p.done:
			t.Fatal("exited")
		case <-time.After(500 * time.Millisecond):
		}
		assert.Equal(t, "start v1\nusr1\nterm\nstart v2\n", readFile(out))

		// SIGTERM to exec: forwarded, and exec exits with the child's status.
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
		assert.Equal(t, 0, p.wait(t), p.stderr.String())
		assert.NotContains(t, p.stderr.String(), "v1")
		assert.NotContains(t, p.stderr.String(), "v2")
	})

	t.Run("a 503 burst does not restart the child", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "out")
		p := startBG(t, with(v.env, ref, "OUT="+out, "TERM_STATUS=0"), dir, watchArgs...)
		p.waitFile(t, out, "start v2\n")
		v.srv.FailNext(12, 503)
		require.Eventually(t, func() bool { return strings.Contains(p.stderr.String(), "keeps running with the values it has") }, 10*time.Second, 10*time.Millisecond)
		// The burst ends: the vault answers again, with the same value.
		require.Eventually(t, func() bool { return v.srv.Stats().Count("GetSecret", 200) > 0 }, 10*time.Second, 10*time.Millisecond)
		before := v.srv.Stats().Count("GetSecret", 200)
		require.Eventually(t, func() bool { return v.srv.Stats().Count("GetSecret", 200) > before+2 }, 10*time.Second, 10*time.Millisecond, "polls go on after the burst")
		assert.Equal(t, "start v2\n", readFile(out), "not restarted")
		assert.Contains(t, p.stderr.String(), "DB_PASSWORD")
		assert.NotContains(t, p.stderr.String(), "v2")
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
		assert.Equal(t, 0, p.wait(t))
	})

	t.Run("exit status passes through", func(t *testing.T) {
		r := cli(t, cliOpts{env: with(v.env, ref)}, "exec", "--watch", "--watch-interval", "100ms", "--", "sh", "-c", `test "$DB_PASSWORD" = v2 && exit 7`)
		assert.Equal(t, 7, r.code, r.stderr)
		assert.Empty(t, r.stderr)

		dir := t.TempDir()
		out := filepath.Join(dir, "out")
		p := startBG(t, with(v.env, ref, "OUT="+out, "TERM_STATUS=42"), dir, watchArgs...)
		p.waitFile(t, out, "start v2\n")
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
		assert.Equal(t, 42, p.wait(t), p.stderr.String())
	})

	t.Run("missing reference: the command does not run", func(t *testing.T) {
		r := cli(t, cliOpts{env: with(v.env, "X=${{keyvault:"+v.srv.ListenURL()+"secrets/nope}}")}, "exec", "--watch", "--", "sh", "-c", "echo ran")
		assert.Equal(t, exitNotFound, r.code, r.stderr)
		assert.Empty(t, r.stdout)
		requireOneLineError(t, r)
		assert.Contains(t, r.stderr, "nope")
	})

	t.Run("usage", func(t *testing.T) {
		r := cli(t, cliOpts{env: v.env}, "exec", "--watch", "--watch-interval", "50ms", "--", "true")
		assert.Equal(t, exitUsage, r.code, r.stderr)
		requireOneLineError(t, r)
	})
}
