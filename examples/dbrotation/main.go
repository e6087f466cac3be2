// Command dbrotation is a long-running job (a training job of days, an
// online endpoint of months) whose database password rotates while it runs.
// It watches the secret with run.Run.Watch and, each time the vault holds a
// new version, opens a new connection with it before dropping the old one;
// a failed poll keeps the current connection. With -demo it runs against an
// in-process Key Vault emulator, with a fake database whose password is
// rotated twice, and no Azure account.
//
// It never prints the password, only its version and length.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/azurevault"
	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
	"github.com/go-azureml/secrets/run"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := mainErr(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dbrotation:", err)
		os.Exit(1)
	}
}

func mainErr(ctx context.Context, args []string, out io.Writer) error {
	fl := flag.NewFlagSet("dbrotation", flag.ContinueOnError)
	demo := fl.Bool("demo", false, "run against an in-process Key Vault emulator and a fake database whose password rotates twice")
	name := fl.String("secret", "db-password", "the secret holding the database password")
	interval := fl.Duration("interval", keyvault.DefaultWatchInterval, "how often to ask the vault for a new version")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *demo {
		return runDemo(ctx, *name, out)
	}
	r, err := run.GetContext(ctx, nil)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "run:", r)
	// A real job opens its database driver here; this one only says so.
	return serve(ctx, r, *name, *interval, logDB{out}, out)
}

// Database opens a connection with a password.
type Database interface {
	Connect(ctx context.Context, password string) (io.Closer, error)
}

// serve is the job: it keeps one connection open with the current password
// and reconnects on every new version, until ctx ends.
func serve(ctx context.Context, r *run.Run, name string, interval time.Duration, db Database, out io.Writer) error {
	var conn io.Closer
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for s, err := range r.Watch(ctx, name, &keyvault.WatchOptions{Interval: interval}) {
		if err != nil {
			// The vault throttled, was unreachable, ...: keep going with
			// the connection we have. The error names the secret, never
			// its value.
			fmt.Fprintf(out, "watch: %v (keeping the current connection)\n", err)
			continue
		}
		next, err := db.Connect(ctx, s.Value.Reveal())
		if err != nil {
			fmt.Fprintf(out, "connect with %s version %s: %v (keeping the current connection)\n", s.Name, short(s.Version), err)
			continue
		}
		if conn != nil {
			conn.Close()
		}
		conn = next
		fmt.Fprintf(out, "connected with %s version %s (%d bytes)\n", s.Name, short(s.Version), s.Value.Len())
	}
	if err := ctx.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func short(version string) string {
	if len(version) > 8 {
		return version[:8]
	}
	return version
}

// logDB stands for a real database driver.
type logDB struct{ out io.Writer }

func (logDB) Connect(context.Context, string) (io.Closer, error) { return io.NopCloser(nil), nil }

// fakeDB accepts only its current password, which rotate changes.
type fakeDB struct {
	mu       sync.Mutex
	password string
}

func (d *fakeDB) Connect(_ context.Context, password string) (io.Closer, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if password != d.password {
		return nil, errors.New("password authentication failed")
	}
	return io.NopCloser(nil), nil
}

// demoOut serializes the demo's and the job's lines, and tells the demo
// each time the job reports a connection.
type demoOut struct {
	mu        sync.Mutex
	w         io.Writer
	connected chan struct{}
}

func (o *demoOut) Write(p []byte) (int, error) {
	o.mu.Lock()
	n, err := o.w.Write(p)
	o.mu.Unlock()
	if bytes.HasPrefix(p, []byte("connected ")) {
		o.connected <- struct{}{}
	}
	return n, err
}

func (d *fakeDB) rotate(password string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.password = password
}

// runDemo starts the emulator, stores a first password, runs the job with a
// 100 ms watch interval and rotates the password twice (database first, then
// vault, as a rotation function does).
func runDemo(ctx context.Context, name string, w io.Writer) error {
	out := &demoOut{w: w, connected: make(chan struct{})}
	srv := keyvaulttest.NewServer(nil)
	defer srv.Close()
	fmt.Fprintf(out, "demo: started the Key Vault emulator for %s (in process, loopback only)\n", srv.VaultURL())
	store, err := azurevault.New(srv.VaultURL(), srv.Credential(), &azurevault.Options{ClientOptions: srv.ClientOptions()})
	if err != nil {
		return err
	}
	kv := keyvault.New(store, nil)
	db := &fakeDB{password: "first-password"}
	if _, err := kv.SetSecret(ctx, name, db.password, nil); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, run.New(kv, nil), name, 100*time.Millisecond, db, out) }()

	for i, pw := range []string{"second-password", "third-password!"} {
		select {
		case <-out.connected:
		case err := <-done:
			return err
		}
		db.rotate(pw)
		if _, err := kv.SetSecret(ctx, name, pw, nil); err != nil {
			return err
		}
		fmt.Fprintf(out, "demo: rotated %s (%d of 2)\n", name, i+1)
	}
	select {
	case <-out.connected:
	case err := <-done:
		return err
	}
	cancel()
	if err := <-done; err != nil {
		return err
	}
	fmt.Fprintln(out, "demo: done")
	return nil
}
