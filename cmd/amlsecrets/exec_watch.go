package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/go-azureml/secrets/keyvault"
	amlrun "github.com/go-azureml/secrets/run"
)

// exec --watch defaults.
const (
	defaultGrace    = 10 * time.Second
	defaultDebounce = time.Second
)

// execWatchFlags are exec's --watch flags.
type execWatchFlags struct {
	on       bool
	interval time.Duration
	grace    time.Duration
	debounce time.Duration
}

func (w *execWatchFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&w.on, "watch", false, "run CMD as a child and restart it when a value behind a reference changes")
	fl.DurationVar(&w.interval, "watch-interval", keyvault.DefaultWatchInterval, "with --watch: how often to poll the vault (at least 100ms)")
	fl.DurationVar(&w.grace, "grace", defaultGrace, "with --watch: how long CMD has to exit after SIGTERM before SIGKILL")
	fl.DurationVar(&w.debounce, "debounce", defaultDebounce, "with --watch: changes within this time of each other restart CMD once")
}

// exitStatus is an error that makes amlsecrets exit with that status and
// print nothing: the status of exec's command.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// watchEvent is one yield of run.WatchEnv.
type watchEvent struct {
	env []string
	err error
}

// child is one run of the command.
type child struct {
	cmd  *exec.Cmd
	own  bool          // in its own process group: signal the group
	done chan struct{} // closed when it has exited and been waited for
}

func (c *child) signal(s syscall.Signal) {
	select {
	case <-c.done:
		return // reaped: its pid may belong to another process now
	default:
	}
	if c.own {
		_ = syscall.Kill(-c.cmd.Process.Pid, s)
		return
	}
	_ = c.cmd.Process.Signal(s)
}

// terminating reports whether s asks a process to end.
func terminating(s syscall.Signal) bool {
	return s == syscall.SIGINT || s == syscall.SIGTERM || s == syscall.SIGQUIT || s == syscall.SIGHUP
}

// status is the child's exit status as a shell reports it: its code, or
// 128+N when signal N ended it.
func (c *child) status() int {
	ps := c.cmd.ProcessState
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// runExecWatch is exec --watch: CMD runs as a child, restarted when the
// values behind its references change.
func runExecWatch(cmd *cobra.Command, f *execFlags, path string, args, environ []string) error {
	w := f.watch
	if err := checkInterval(true, w.interval); err != nil {
		return err
	}
	if w.grace < 0 || w.debounce < 0 {
		return usageError{errors.New("--grace and --debounce must not be negative")}
	}
	stderr := cmd.ErrOrStderr()

	// Signals: caught from the start, so that none is lost while the first
	// values are fetched.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs)
	defer signal.Stop(sigs)

	base := cmd.Context()
	if base == nil {
		base = context.Background()
	}
	ctx, cancel := context.WithCancel(base)
	defer cancel()

	initCtx, initCancel := f.context(cmd)
	r, err := amlrun.GetContext(initCtx, cliRunOptions(&f.vaultFlags, environ))
	if err != nil {
		initCancel()
		return withCause(initCtx, fmt.Errorf("exec: %w", err))
	}

	events := make(chan watchEvent)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		defer close(events)
		for env, err := range r.WatchEnv(ctx, environ, &keyvault.WatchOptions{Interval: w.interval}) {
			select {
			case events <- watchEvent{env, err}:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() {
		cancel()
		<-watchDone
	}()

	// The first values, within --timeout, as a one-shot exec.
	var env []string
	for env == nil {
		select {
		case ev, ok := <-events:
			initCancel()
			if !ok {
				return errors.New("exec: the references could not be resolved")
			}
			if ev.err != nil {
				return fmt.Errorf("exec: %w", ev.err)
			}
			env = ev.env
		case <-initCtx.Done():
			initCancel()
			return withCause(initCtx, fmt.Errorf("exec: %w", initCtx.Err()))
		case sig := <-sigs:
			if s, ok := sig.(syscall.Signal); ok && terminating(s) {
				initCancel()
				return exitStatus(128 + int(s))
			}
		}
	}

	interactive := stdinTerminal(cmd.InOrStdin())
	start := func(env []string) (*child, error) {
		c := &exec.Cmd{Path: path, Args: args, Env: env, Stdin: cmd.InOrStdin(), Stdout: cmd.OutOrStdout(), Stderr: stderr}
		// Outside a terminal the child gets its own process group, so that
		// each signal reaches it (and its children) once, from us. In a
		// terminal it stays in ours, so that it can read the terminal; the
		// terminal's own signals then reach it directly.
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: !interactive}
		if err := c.Start(); err != nil {
			return nil, fmt.Errorf("exec %s: %w", args[0], err)
		}
		ch := &child{cmd: c, own: !interactive, done: make(chan struct{})}
		go func() {
			_ = c.Wait()
			close(ch.done)
		}()
		return ch, nil
	}

	cur, err := start(env)
	if err != nil {
		return err
	}
	var (
		pending  []string // values waiting for the debounce to end
		debounce <-chan time.Time
		stopping bool // cur was sent SIGTERM for a restart
		kill     <-chan time.Time
		quitting bool // a terminating signal was forwarded: do not restart
	)
	for {
		select {
		case sig := <-sigs:
			s, ok := sig.(syscall.Signal)
			if !ok || s == syscall.SIGCHLD || s == syscall.SIGURG {
				continue
			}
			if interactive && (s == syscall.SIGINT || s == syscall.SIGQUIT || s == syscall.SIGTSTP) {
				// The terminal sent it to the whole process group, the
				// child included; but it ends the watch.
				quitting = quitting || s != syscall.SIGTSTP
				continue
			}
			quitting = quitting || terminating(s)
			cur.signal(s)

		case ev, ok := <-events:
			if !ok {
				events = nil // nothing left to watch
				continue
			}
			if ev.err != nil {
				fmt.Fprintf(stderr, "amlsecrets: exec --watch: %s; %s keeps running with the values it has\n", oneLine(ev.err.Error()), args[0])
				continue
			}
			if slices.Equal(ev.env, env) {
				pending, debounce = nil, nil
				continue
			}
			pending = ev.env
			if debounce == nil {
				debounce = time.After(w.debounce)
			}

		case <-debounce:
			debounce = nil
			if quitting || stopping || pending == nil {
				continue
			}
			fmt.Fprintf(stderr, "amlsecrets: exec --watch: %s changed; restarting %s\n", strings.Join(changedVars(env, pending), ", "), args[0])
			stopping = true
			cur.signal(syscall.SIGTERM)
			kill = time.After(w.grace)

		case <-kill:
			kill = nil
			if stopping {
				fmt.Fprintf(stderr, "amlsecrets: exec --watch: %s did not exit within %s (--grace) of SIGTERM; sending SIGKILL\n", args[0], w.grace)
				cur.signal(syscall.SIGKILL)
			}

		case <-cur.done:
			if !stopping || quitting {
				return exitStatus(cur.status())
			}
			stopping, kill = false, nil
			env, pending = pending, nil
			if cur, err = start(env); err != nil {
				return err
			}
		}
	}
}

// changedVars names the variables whose values differ between two
// environments (same keys, same order: WatchEnv's yields).
func changedVars(a, b []string) []string {
	var out []string
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			k, _, _ := strings.Cut(b[i], "=")
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		out = []string{"a value"}
	}
	return out
}

// stdinTerminal reports whether r is a terminal: a character device other than
// /dev/null.
func stdinTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}
