package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/go-azureml/secrets/keyvault/kvemulator"
)

// Names of the variables serve prints, which the library honours.
const (
	envKeyVaultURL = "AMLSECRETS_KEYVAULT_URL"
	envCAFile      = "AMLSECRETS_CA_FILE"
)

// shutdownTimeout bounds how long serve waits for in-flight requests on exit.
const shutdownTimeout = 5 * time.Second

type serveFlags struct {
	addr      string
	vaultName string
	latency   time.Duration
	throttle  string
	caOut     string
	state     string
	propagate time.Duration
}

// newServeCmd builds `amlsecrets serve`.
func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a local Azure Key Vault emulator",
		Long: `serve runs a local HTTPS emulator of the Azure Key Vault secrets API (the same
one Go tests start in process) until SIGINT or SIGTERM.

It prints two KEY=VALUE lines on stdout once it is ready, then keeps
serving (so redirect them to a file and load that, rather than eval "$(...)"):

  AMLSECRETS_KEYVAULT_URL=https://127.0.0.1:PORT/
  AMLSECRETS_CA_FILE=PATH

amlsecrets and programs using this library honour both: they trust the CA file
and, for a loopback vault only, relax challenge-resource verification and use
a local credential. The emulator accepts any well-formed bearer token, so other
SDKs work too once they trust the CA and turn challenge-resource verification
off. The CA is generated afresh at each start, and the port too unless
--addr fixes it: with --addr 127.0.0.1:8443 the vault URL, and so the
${{keyvault:...}} references that name it, survive a restart.

With --state the vault's contents survive restarts: every write is appended to
the file and synced before it is applied and acknowledged, and the file is
compacted as it grows. It holds secret values in plain text (mode 0600); keep
it out of version control.

As in Key Vault, a delete, recover or purge takes a moment to show
(--propagation-delay): poll, as the Azure SDKs' pollers do.`,
		Example: `  amlsecrets serve --addr 127.0.0.1:8443 --state vault.json > amlsecrets.env &
  until grep -q AMLSECRETS_CA_FILE amlsecrets.env 2>/dev/null; do sleep 0.2; done
  set -a; . ./amlsecrets.env; set +a   # export both variables

  amlsecrets serve --addr 127.0.0.1:8443 --ca-out ca.pem --throttle 200/1s --latency 20ms`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", "127.0.0.1:0", "address to listen on (port 0: any free port)")
	fl.StringVar(&f.vaultName, "vault-name", "local", "the vault's name")
	fl.DurationVar(&f.latency, "latency", 0, "delay added to every request, e.g. 20ms")
	fl.StringVar(&f.throttle, "throttle", "", "throttle to N requests per WINDOW, e.g. 200/1s; then 429 with Retry-After")
	fl.StringVar(&f.caOut, "ca-out", "", "write the CA certificate (PEM) to this file (default: a temporary file, removed on exit)")
	fl.StringVar(&f.state, "state", "", "persist the vault to this file across restarts")
	fl.DurationVar(&f.propagate, "propagation-delay", kvemulator.DefaultPropagationDelay, "how long a delete, recover or purge takes to show, as in Key Vault (0: at once)")
	return cmd
}

// parseThrottle parses N/WINDOW (e.g. 200/1s; a bare unit means 1 of it: 200/s).
func parseThrottle(s string) (int, time.Duration, error) {
	if s == "" {
		return 0, 0, nil
	}
	ns, ws, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(ns)
	if !ok || err != nil || n <= 0 {
		return 0, 0, fmt.Errorf("invalid --throttle %q: want N/WINDOW, e.g. 200/1s", s)
	}
	if ws != "" && (ws[0] < '0' || ws[0] > '9') {
		ws = "1" + ws
	}
	w, err := time.ParseDuration(ws)
	if err != nil || w <= 0 {
		return 0, 0, fmt.Errorf("invalid --throttle %q: want N/WINDOW, e.g. 200/1s", s)
	}
	return n, w, nil
}

func runServe(cmd *cobra.Command, f *serveFlags) (err error) {
	limit, window, err := parseThrottle(f.throttle)
	if err != nil {
		return usageError{err}
	}
	if f.latency < 0 {
		return usageError{errors.New("--latency must not be negative")}
	}
	if f.propagate < 0 {
		return usageError{errors.New("--propagation-delay must not be negative")}
	}
	propagate := f.propagate
	if propagate == 0 {
		propagate = -1 // the emulator's "none"
	}
	srv, err := kvemulator.Start(&kvemulator.Options{
		Addr:             f.addr,
		VaultName:        f.vaultName,
		AcceptAnyToken:   true,
		Latency:          f.latency,
		ThrottleLimit:    limit,
		ThrottleWindow:   window,
		StatePath:        f.state,
		PropagationDelay: propagate,
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()

	caPath := f.caOut
	if caPath == "" {
		tmp, err := os.CreateTemp("", "amlsecrets-ca-*.pem")
		if err != nil {
			return fmt.Errorf("serve: write CA: %w", err)
		}
		caPath = tmp.Name()
		defer os.Remove(caPath)
		_, werr := tmp.Write(srv.CACertPEM())
		if cerr := tmp.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("serve: write CA: %w", werr)
		}
	} else if err := writeFileAtomic(caPath, srv.CACertPEM(), 0o644); err != nil {
		return fmt.Errorf("serve: write CA: %w", err)
	}
	if abs, err := filepath.Abs(caPath); err == nil {
		caPath = abs
	}

	out := cmd.OutOrStdout()
	if _, err := fmt.Fprintf(out, "%s=%s\n%s=%s\n", envKeyVaultURL, srv.ListenURL(), envCAFile, shellQuote(caPath)); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "amlsecrets serve: vault %q listening on %s; stop with Ctrl-C\n", srv.VaultName(), srv.ListenURL())
	<-ctx.Done()
	return nil
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,-]+$`)

// shellQuote quotes s for a POSIX shell's eval, when it needs it.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, fsynced and renamed.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(perm); err == nil {
		if _, err = tmp.Write(data); err == nil {
			err = tmp.Sync()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
