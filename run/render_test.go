package run_test

import (
	"context"
	"errors"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/internal/secretref"
	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/memvault"
	"github.com/go-azureml/secrets/run"
	"github.com/go-azureml/secrets/workspace"
)

const otherVault = "https://other.vault.azure.net/"

// conns is a fake ConnectionSource whose connections the test changes.
type conns struct {
	mu    sync.Mutex
	m     map[string]*workspace.Connection
	calls atomic.Int64
}

func (c *conns) ListConnectionSecrets(_ context.Context, name string) (*workspace.Connection, error) {
	c.calls.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if conn, ok := c.m[name]; ok {
		cp := *conn
		return &cp, nil
	}
	return nil, keyvault.ErrNotFound
}

func (c *conns) set(name, key, value string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[name] = &workspace.Connection{Name: name, Target: "https://" + name + ".example/", Credentials: map[string]keyvault.Value{key: keyvault.NewValue(value)}}
}

type renderFixture struct {
	own, other *keyvault.Keyvault
	conns      *conns
	run        *run.Run
}

func newRenderFixture(t *testing.T) *renderFixture {
	t.Helper()
	f := &renderFixture{
		own:   keyvault.New(memvault.New(), nil),
		other: keyvault.New(memvault.New(), nil),
		conns: &conns{m: map[string]*workspace.Connection{}},
	}
	f.run = run.New(f.own, &run.Options{
		Getenv:      env{}.get,
		Connections: f.conns,
		OpenVault: func(_ context.Context, u string) (*keyvault.Keyvault, error) {
			if u != otherVault {
				return nil, errors.New("unexpected vault")
			}
			return f.other, nil
		},
	})
	return f
}

func (f *renderFixture) set(t *testing.T, kv *keyvault.Keyvault, name, value string) keyvault.Properties {
	t.Helper()
	p, err := kv.SetSecret(context.Background(), name, value, nil)
	require.NoError(t, err)
	return p
}

func TestRender(t *testing.T) {
	f := newRenderFixture(t)
	ctx := context.Background()
	p1 := f.set(t, f.own, "db-password", "hunter2")
	f.set(t, f.own, "db-password", "hunter3")
	f.set(t, f.other, "api-key", "k3y")
	f.conns.set("openai", "key", "sk-1")

	tmpl := "machine db login app password ${{keyvault:db-password}}\n" +
		"old=${{ keyvault:db-password/" + p1.Version + " }}\n" +
		"api=${{keyvault:" + otherVault + "secrets/api-key}} twice ${{keyvault:" + otherVault + "secrets/api-key}}\n" +
		"openai=${{azureml://connections/openai/credentials/key}} at ${{azureml://connections/openai/target}}\n" +
		"kept: ${{ github.token }} and ${{ env.X }} and $ {{x}} and ${{\n" +
		"${{ x ${{keyvault:db-password}}\n"
	got, err := f.run.Render(ctx, tmpl)
	require.NoError(t, err)
	assert.Equal(t, "machine db login app password hunter3\n"+
		"old=hunter2\n"+
		"api=k3y twice k3y\n"+
		"openai=sk-1 at https://openai.example/\n"+
		"kept: ${{ github.token }} and ${{ env.X }} and $ {{x}} and ${{\n"+
		"${{ x hunter3\n", got)

	tp, err := run.ParseTemplate(tmpl)
	require.NoError(t, err)
	assert.Len(t, tp.Refs(), 5)

	got, err = f.run.Render(ctx, "no references\n")
	require.NoError(t, err)
	assert.Equal(t, "no references\n", got)
}

func TestRenderOfflineShortForm(t *testing.T) {
	r, err := run.GetContext(context.Background(), &run.Options{
		Getenv:     env{"DB_PASSWORD": "from-env"}.get,
		ConfigPath: emptyDir(t),
	})
	require.NoError(t, err)
	got, err := r.Render(context.Background(), "pw=${{keyvault:db-password}}")
	require.NoError(t, err)
	assert.Equal(t, "pw=from-env", got)
}

func TestRenderErrors(t *testing.T) {
	f := newRenderFixture(t)
	f.set(t, f.own, "db-password", "hunter2")
	tests := []struct {
		name     string
		tmpl     string
		wantLine []string // substrings, one per error line
		is       error
	}{
		{"malformed", "a\nb ${{keyvault:bad_name}}\n", []string{"template line 2: malformed secret reference"}, secretref.ErrMalformed},
		{"malformed URL", "x\ny\nz ${{keyvault:http://evil.example/secrets/a}}", []string{"template line 3: malformed"}, secretref.ErrMalformed},
		{"unclosed", "ok\n${{keyvault:db-password\n", []string{"template line 2: malformed secret reference: no closing }}"}, secretref.ErrMalformed},
		{"bad version", "${{keyvault:db-password/xyz}}", []string{"template line 1: malformed"}, secretref.ErrMalformed},
		{"missing", "pw=${{keyvault:db-password}}\n\nother=${{keyvault:nope}}\nconn=${{azureml://connections/none/target}}\n",
			[]string{"template line 3: ${{keyvault:nope}}: ", "template line 4: ${{azureml://connections/none/target}}: "}, keyvault.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.run.Render(context.Background(), tt.tmpl)
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.is)
			lines := strings.Split(err.Error(), "\n")
			require.Len(t, lines, len(tt.wantLine), err.Error())
			for i, w := range tt.wantLine {
				assert.Contains(t, lines[i], w)
			}
			assert.NotContains(t, err.Error(), "hunter2")
			assert.NotContains(t, err.Error(), "evil", "a malformed reference is not quoted")
			var re *run.RenderError
			assert.ErrorAs(t, err, &re)
		})
	}
	_, err := run.ParseTemplate(strings.Repeat("x", run.MaxTemplateSize+1))
	assert.Error(t, err)
}

func TestWatchTemplate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newRenderFixture(t)
		f.set(t, f.own, "db-password", "v1")
		f.conns.set("openai", "key", "sk-1")
		tp, err := run.ParseTemplate("pw=${{keyvault:db-password}} key=${{azureml://connections/openai/credentials/key}}")
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		opts := &keyvault.WatchOptions{Interval: 100 * time.Millisecond, Jitter: -1}
		out := make(chan string)
		errs := make(chan error)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for s, err := range f.run.WatchTemplate(ctx, tp, opts) {
				if err != nil {
					errs <- err
					continue
				}
				out <- s
			}
		}()
		assert.Equal(t, "pw=v1 key=sk-1", <-out)

		// Nothing changed: several intervals pass with no yield.
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Empty(t, out)

		// A new version with the same value yields nothing either.
		f.set(t, f.own, "db-password", "v1")
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Empty(t, out)

		start := time.Now()
		f.set(t, f.own, "db-password", "v2")
		assert.Equal(t, "pw=v2 key=sk-1", <-out)
		assert.LessOrEqual(t, time.Since(start), 100*time.Millisecond)

		f.conns.set("openai", "key", "sk-2")
		assert.Equal(t, "pw=v2 key=sk-2", <-out)

		// A failed poll yields the error, then the watch goes on.
		require.NoError(t, f.own.DeleteSecret(context.Background(), "db-password"))
		err = <-errs
		assert.ErrorIs(t, err, keyvault.ErrNotFound)
		assert.Contains(t, err.Error(), "template line 1: ${{keyvault:db-password}}")
		cancel()
		<-done
	})
}

func TestWatchEnv(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newRenderFixture(t)
		f.set(t, f.other, "api-key", "k1")
		environ := []string{"PLAIN=x", "API_KEY=${{keyvault:" + otherVault + "secrets/api-key}}"}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		next, stop := iter.Pull2(f.run.WatchEnv(ctx, environ, &keyvault.WatchOptions{Interval: 100 * time.Millisecond}))
		defer stop()
		env, err, ok := next()
		require.True(t, ok)
		require.NoError(t, err)
		assert.Equal(t, []string{"PLAIN=x", "API_KEY=k1"}, env)
		f.set(t, f.other, "api-key", "k2")
		env, err, ok = next()
		require.True(t, ok)
		require.NoError(t, err)
		assert.Equal(t, []string{"PLAIN=x", "API_KEY=k2"}, env)
		stop()
	})

	t.Run("first failure, then the values", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := newRenderFixture(t)
			environ := []string{"DB=${{keyvault:" + otherVault + "secrets/later}}"}
			next, stop := iter.Pull2(f.run.WatchEnv(context.Background(), environ, &keyvault.WatchOptions{Interval: 100 * time.Millisecond}))
			defer stop()
			_, err, ok := next()
			require.True(t, ok)
			var re *run.ResolveError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, "DB", re.Variable)
			f.set(t, f.other, "later", "now")
			env, err, ok := next()
			require.True(t, ok)
			require.NoError(t, err)
			assert.Equal(t, []string{"DB=now"}, env)
		})
	})

	t.Run("malformed ends the watch", func(t *testing.T) {
		f := newRenderFixture(t)
		n := 0
		for _, err := range f.run.WatchEnv(context.Background(), []string{"X=${{keyvault:nope nope}}"}, nil) {
			n++
			assert.ErrorIs(t, err, secretref.ErrMalformed)
		}
		assert.Equal(t, 1, n)
	})
}

func TestRunWatchOffline(t *testing.T) {
	r, err := run.GetContext(context.Background(), &run.Options{Getenv: env{"DB_PASSWORD": "pw"}.get, ConfigPath: emptyDir(t)})
	require.NoError(t, err)
	var got []string
	for s, err := range r.Watch(context.Background(), "db-password", nil) {
		require.NoError(t, err)
		got = append(got, s.Value.Reveal())
	}
	assert.Equal(t, []string{"pw"}, got, "the local source yields once")

	n := 0
	for env, err := range r.WatchEnv(context.Background(), []string{"A=b"}, nil) {
		require.NoError(t, err)
		assert.Equal(t, []string{"A=b"}, env)
		n++
	}
	assert.Equal(t, 1, n)
}
