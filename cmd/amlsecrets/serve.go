package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/go-azureml/secrets/internal/hosts"
	"github.com/go-azureml/secrets/internal/safefile"
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
	// allowRemote lets --addr be a non-loopback address; tokenFile then
	// holds the one bearer token accepted.
	allowRemote bool
	tokenFile   string
	job         jobFlags
}

// maxTokenFileBytes bounds --token-file.
const maxTokenFileBytes = 4 << 10

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
${{keyvault:...}} references that name it, survive a restart. Unless --ca-out
says where, the CA is written into a new private folder (mode 0700) that is
removed on exit.

serve listens on loopback only. A non-loopback --addr (0.0.0.0, [::], :PORT,
a LAN address) is refused unless --allow-remote is given; then serve warns,
and accepts only the bearer token in --token-file (a file of your own, not
writable by group or others), instead of any token. Clients on other machines
are not loopback clients: they use that token and trust the CA themselves.

With --state the vault's contents survive restarts: every write is appended to
the file and synced before it is applied and acknowledged, and the file is
compacted as it grows. It holds secret values in plain text (mode 0600); keep
it out of version control.

As in Key Vault, a delete, recover or purge takes a moment to show
(--propagation-delay): poll, as the Azure SDKs' pollers do.` + serveJobHelp,
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
	fl.BoolVar(&f.allowRemote, "allow-remote", false, "allow a non-loopback --addr; needs --token-file")
	fl.StringVar(&f.tokenFile, "token-file", "", "with --allow-remote: the one bearer token accepted (a file only you can write)")
	addJobFlags(fl, &f.job)
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
	if err := checkJobFlags(cmd, &f.job); err != nil || f.job.on {
		if err != nil {
			return err
		}
		return runServeJob(cmd, f, limit, window, propagate)
	}
	token, err := remoteToken(f)
	if err != nil {
		return err
	}
	if f.allowRemote {
		fmt.Fprintf(cmd.ErrOrStderr(), "amlsecrets serve: warning: --allow-remote: listening on %s, reachable from other machines; only the token in %s is accepted, and values travel to whoever holds it\n", f.addr, f.tokenFile)
	}
	srv, err := kvemulator.Start(&kvemulator.Options{
		Addr:             f.addr,
		VaultName:        f.vaultName,
		AcceptAnyToken:   token == "",
		Token:            token,
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
		// A fresh private folder: no other user can guess, plant or take
		// over the path AMLSECRETS_CA_FILE names, even after serve exits.
		dir, err := os.MkdirTemp("", "amlsecrets-serve-*")
		if err != nil {
			return fmt.Errorf("serve: write CA: %w", err)
		}
		defer os.RemoveAll(dir)
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("serve: write CA: %w", err)
		}
		caPath = filepath.Join(dir, "ca.pem")
		if err := os.WriteFile(caPath, srv.CACertPEM(), 0o600); err != nil {
			return fmt.Errorf("serve: write CA: %w", err)
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

// remoteToken checks --addr, --allow-remote and --token-file: a non-loopback
// address needs --allow-remote, which needs a token file. It returns the
// token ("" when serve accepts any token, on loopback).
func remoteToken(f *serveFlags) (string, error) {
	host, _, err := net.SplitHostPort(f.addr)
	if err != nil {
		return "", usageError{fmt.Errorf("invalid --addr %q: want HOST:PORT, e.g. 127.0.0.1:8443", f.addr)}
	}
	if !f.allowRemote {
		if f.tokenFile != "" {
			return "", usageError{errors.New("--token-file needs --allow-remote")}
		}
		if !hosts.IsLoopback(host) {
			return "", usageError{fmt.Errorf("--addr %s listens beyond this machine, where anyone could use the vault (serve accepts any token); use a loopback address such as 127.0.0.1:0, or pass --allow-remote --token-file FILE", f.addr)}
		}
		return "", nil
	}
	if f.tokenFile == "" {
		return "", usageError{errors.New("--allow-remote needs --token-file FILE: the one bearer token serve then accepts")}
	}
	b, err := safefile.ReadTrusted(f.tokenFile, maxTokenFileBytes, "--token-file")
	if err != nil {
		return "", usageError{fmt.Errorf("serve: %w", err)}
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
		return "", usageError{fmt.Errorf("--token-file %s: want one token (no spaces), e.g. from 'openssl rand -hex 32'", f.tokenFile)}
	}
	return tok, nil
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
