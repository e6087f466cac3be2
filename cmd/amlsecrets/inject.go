package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/spf13/cobra"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/azurevault"
	amlrun "github.com/go-azureml/secrets/run"
)

type injectFlags struct {
	vaultFlags
	in, out  string
	mode     string
	watch    bool
	interval time.Duration
}

func newInjectCmd() *cobra.Command {
	var f injectFlags
	cmd := &cobra.Command{
		Use:   "inject [-i TEMPLATE] -o FILE [--watch]",
		Short: "Render a template with secret references into a file readable only by you",
		Long: `inject reads a template (the file -i, or stdin) in which secret references may
appear anywhere, any number of times, replaces each with its value, and writes
the result to the file -o: atomically (a temporary file in the same folder,
renamed over FILE), created with mode --mode (default 0600; a mode that makes
it world-readable or world-writable is refused). References:

  ${{keyvault:NAME}}                                  the run's vault, latest version
  ${{keyvault:NAME/VERSION}}                          that version
  ${{keyvault:https://VAULT.vault.azure.net/secrets/NAME[/VERSION]}}  any vault
  ${{azureml://connections/CONN[/credentials/KEY|/metadata/KEY|/target]}}

The run's vault is the one exec uses: --vault, else AMLSECRETS_KEYVAULT_URL,
else the default vault of --config or a config.json found from the current
directory; with none of them, NAME is read from the environment (db-password
from db-password or DB_PASSWORD), read-only.
Other ${{...}} expressions are kept as they are. An error names the template
line and the reference, never a value; then FILE is left as it was. With
--watch, inject keeps running and renders FILE again each time a value behind
a reference changes (polled every --watch-interval); a failed poll is
reported on stderr and FILE keeps its last good content. Stop it with
SIGINT or SIGTERM. -o - writes to stdout (not with --watch).`,
		Example: `  printf 'machine db.example login app password ${{keyvault:db-password}}\n' |
    amlsecrets inject -o ~/.netrc

  amlsecrets inject -i kaggle.json.tmpl -o ~/.kaggle/kaggle.json --watch`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runInject(cmd, &f) },
	}
	f.add(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&f.in, "in", "i", "", "the template file (default: stdin)")
	fl.StringVarP(&f.out, "out", "o", "", "the file to write (required; - for stdout)")
	fl.StringVar(&f.mode, "mode", "0600", "the output file's permissions, in octal; never world-readable")
	fl.BoolVar(&f.watch, "watch", false, "keep running and render the file again when a value changes")
	fl.DurationVar(&f.interval, "watch-interval", keyvault.DefaultWatchInterval, "with --watch: how often to poll the vault (at least 100ms)")
	return cmd
}

// maxTemplate bounds the template read from a file or stdin.
const maxTemplate = amlrun.MaxTemplateSize

func runInject(cmd *cobra.Command, f *injectFlags) error {
	if f.out == "" {
		return usageError{errors.New("inject needs -o FILE (or -o - for stdout)")}
	}
	if f.out == "-" && f.watch {
		return usageError{errors.New("inject --watch needs -o FILE, not stdout")}
	}
	mode, err := parseMode(f.mode)
	if err != nil {
		return err
	}
	if err := checkInterval(f.watch, f.interval); err != nil {
		return err
	}
	text, err := readTemplate(cmd.InOrStdin(), f.in)
	if err != nil {
		return err
	}
	tmpl, err := amlrun.ParseTemplate(text)
	if err != nil {
		return fmt.Errorf("inject %s: %w", templateName(f.in), err)
	}
	ctx, cancel := f.context(cmd)
	defer cancel()
	r, err := amlrun.GetContext(ctx, cliRunOptions(&f.vaultFlags, os.Environ()))
	if err != nil {
		return withCause(ctx, err)
	}
	if !f.watch {
		out, err := r.RenderTemplate(ctx, tmpl)
		if err != nil {
			return withCause(ctx, fmt.Errorf("inject %s: %w", templateName(f.in), err))
		}
		if f.out == "-" {
			_, err := io.WriteString(cmd.OutOrStdout(), out)
			return err
		}
		return writeSecretFile(f.out, []byte(out), mode)
	}
	cancel()
	return injectWatch(cmd, f, r, tmpl, mode)
}

// injectWatch renders tmpl into f.out at once and again on every change,
// until SIGINT or SIGTERM.
func injectWatch(cmd *cobra.Command, f *injectFlags, r *amlrun.Run, tmpl *amlrun.Template, mode os.FileMode) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stderr := cmd.ErrOrStderr()
	first := true
	var last string
	deadline := time.AfterFunc(max(f.timeout, 0), stop) // bounds the first render, as a one-shot inject's
	if f.timeout <= 0 {
		deadline.Stop()
	}
	defer deadline.Stop()
	for out, err := range r.WatchTemplate(ctx, tmpl, &keyvault.WatchOptions{Interval: f.interval}) {
		if err != nil {
			if first {
				return fmt.Errorf("inject %s: %w", templateName(f.in), err)
			}
			fmt.Fprintf(stderr, "amlsecrets: inject --watch: %s; %s keeps its last content\n", oneLine(err.Error()), f.out)
			continue
		}
		if !first && out == last {
			continue
		}
		if err := writeSecretFile(f.out, []byte(out), mode); err != nil {
			if first {
				return err
			}
			fmt.Fprintf(stderr, "amlsecrets: inject --watch: %s\n", oneLine(err.Error()))
			continue
		}
		if !first {
			fmt.Fprintf(stderr, "amlsecrets: inject --watch: a value changed; %s rendered again\n", f.out)
		}
		first, last = false, out
		deadline.Stop()
	}
	if first && ctx.Err() != nil && cmd.Context().Err() == nil {
		return &timeoutError{f.timeout}
	}
	return nil
}

func templateName(in string) string {
	if in == "" || in == "-" {
		return "stdin"
	}
	return in
}

// readTemplate reads the template from in, or stdin when in is "" or "-",
// at most maxTemplate bytes.
func readTemplate(stdin io.Reader, in string) (string, error) {
	src := stdin
	if in != "" && in != "-" {
		file, err := os.Open(in)
		if err != nil {
			return "", fmt.Errorf("inject: template: %w", err)
		}
		defer file.Close()
		src = file
	}
	b, err := io.ReadAll(io.LimitReader(src, maxTemplate+1))
	if err != nil {
		return "", fmt.Errorf("inject: read %s: %w", templateName(in), err)
	}
	if len(b) > maxTemplate {
		return "", fmt.Errorf("inject: template %s is larger than %d bytes", templateName(in), maxTemplate)
	}
	return string(b), nil
}

// parseMode parses an octal file mode and refuses one that lets others (not
// the owner or the group) read or write the file.
func parseMode(s string) (os.FileMode, error) {
	m, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O"), 8, 32)
	if err != nil || m > 0o777 {
		return 0, usageError{fmt.Errorf("--mode %q: want octal permissions such as 0600", s)}
	}
	if m&0o006 != 0 {
		return 0, usageError{fmt.Errorf("--mode %s would let every user of the machine read or write the secrets; use 0600 (or 0640 for a group)", s)}
	}
	if m&0o600 != 0o600 {
		return 0, usageError{fmt.Errorf("--mode %s: the owner needs to read and write the file (0600)", s)}
	}
	return os.FileMode(m), nil
}

// writeSecretFile writes data to path atomically (writeFileAtomic: a
// temporary file created 0600 in the same folder, set to mode, renamed over
// path), so that a reader sees the old content or the new, never a part, and
// no one else can read the secrets even for a moment.
func writeSecretFile(path string, data []byte, mode os.FileMode) error {
	if err := writeFileAtomic(path, data, mode); err != nil {
		return fmt.Errorf("inject: write %s: %w", path, err)
	}
	return nil
}

// checkInterval checks a --watch-interval flag.
func checkInterval(watch bool, d time.Duration) error {
	if watch && d < keyvault.MinWatchInterval {
		return usageError{fmt.Errorf("--watch-interval %s: want at least %s", d, keyvault.MinWatchInterval)}
	}
	return nil
}

// cliRunOptions are the options of the run that resolves references for
// exec and inject: the vault picked as for the other commands (--vault beats
// AMLSECRETS_KEYVAULT_URL; --config names the workspace), environ listing
// the environment.
func cliRunOptions(f *vaultFlags, environ []string) *amlrun.Options {
	getenv := os.Getenv
	if f.vault != "" {
		getenv = func(k string) string {
			if k == azurevault.EnvKeyvaultURL {
				return f.vault
			}
			return os.Getenv(k)
		}
	}
	co := azcore.ClientOptions{Retry: cliRetry}
	caFile := strings.TrimSpace(getenv(azurevault.EnvCAFile))
	return &amlrun.Options{
		Getenv:          getenv,
		Environ:         func() []string { return environ },
		ConfigPath:      f.config,
		ClientOptions:   co,
		KeyvaultOptions: cliKeyvaultOptions(),
		OpenVault: func(_ context.Context, vaultURL string) (*keyvault.Keyvault, error) {
			return openURL(vaultURL, caFile, co, getenv)
		},
	}
}
