package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/go-azureml/secrets/internal/dotenv"
	amlrun "github.com/go-azureml/secrets/run"
)

type execFlags struct {
	vaultFlags
	dotenv string
	watch  execWatchFlags
}

func newExecCmd() *cobra.Command {
	var f execFlags
	cmd := &cobra.Command{
		Use:   "exec [--dotenv FILE] [--watch] -- CMD [ARGS...]",
		Short: "Run a command with the secret references in its environment resolved",
		Long: `exec resolves every secret reference in the environment (plus the variables
of --dotenv FILE) and then replaces itself with CMD, so that signals reach the
command directly and its exit status is exec's. A reference is a whole value
(a value holding one as only a part, such as pw=${{keyvault:...}}, is an
error: give the reference a variable of its own):

  ${{keyvault:https://VAULT.vault.azure.net/secrets/NAME}}          latest version
  ${{keyvault:https://VAULT.vault.azure.net/secrets/NAME/VERSION}}  that version
  ${{keyvault:https://127.0.0.1:PORT/secrets/NAME}}                 the local emulator (amlsecrets serve)
  ${{azureml://connections/CONN}}                   a workspace connection, as JSON
  ${{azureml://connections/CONN/credentials/KEY}}   one of its credentials
  ${{azureml://connections/CONN/metadata/KEY}}      one of its metadata entries
  ${{azureml://connections/CONN/target}}            its target

Variables already in the environment win over those of the .env file, as
python-dotenv and docker compose do. Nothing is written to stdout or stderr
unless a reference fails, in which case CMD is not run; the error names the
variable and the reference, never a value. Connections need a workspace:
--config, or a config.json found from the current directory. --vault and
AMLSECRETS_KEYVAULT_URL name the vault of an offline run (for references to
other vaults, each reference's own URL is used).

With --watch, exec runs CMD as a child instead, forwards every signal to it,
and polls the references every --watch-interval: when a value changes, it
stops CMD (SIGTERM, then SIGKILL after --grace) and starts it again with the
new values; changes within --debounce of each other restart it once. A
failed poll is reported on stderr (variable and reference, never a value)
and never restarts CMD. When CMD exits on its own, exec exits with its
status (128+N for a signal N).`,
		Example: `  export DB_PASSWORD='${{keyvault:https://myvault.vault.azure.net/secrets/db-password}}'
  amlsecrets exec -- python train.py

  amlsecrets exec --dotenv .env -- sh -c 'psql "postgres://app:$DB_PASSWORD@db/app"'

  amlsecrets exec --watch --watch-interval 30s -- ./server`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("exec needs a command: amlsecrets exec [--dotenv FILE] -- CMD [ARGS...]")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runExec(cmd, &f, args) },
	}
	f.add(cmd)
	cmd.Flags().StringVar(&f.dotenv, "dotenv", "", "add the variables of this .env file (the environment's own win)")
	f.watch.add(cmd)
	cmd.Flags().SetInterspersed(false) // flags after CMD are CMD's
	return cmd
}

// execEnv returns environ with the variables of the .env file added (those
// already in environ win).
func execEnv(environ []string, dotFile string) ([]string, error) {
	if dotFile == "" {
		return environ, nil
	}
	file, err := os.Open(dotFile)
	if err != nil {
		return nil, fmt.Errorf("--dotenv: %w", err)
	}
	defer file.Close()
	pairs, err := dotenv.ParsePairs(file)
	if err != nil {
		return nil, fmt.Errorf("--dotenv %s: %w", dotFile, err)
	}
	have := map[string]bool{}
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		have[k] = true
	}
	out := append([]string(nil), environ...)
	last := map[string]int{} // key -> index in out, so the file's last value wins
	for _, p := range pairs {
		if have[p.Key] {
			continue
		}
		if i, ok := last[p.Key]; ok {
			out[i] = p.Key + "=" + p.Value
			continue
		}
		last[p.Key] = len(out)
		out = append(out, p.Key+"="+p.Value)
	}
	return out, nil
}

func runExec(cmd *cobra.Command, f *execFlags, args []string) error {
	path, err := exec.LookPath(args[0])
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	environ, err := execEnv(os.Environ(), f.dotenv)
	if err != nil {
		return err
	}
	if f.watch.on {
		return runExecWatch(cmd, f, path, args, environ)
	}
	ctx, cancel := f.context(cmd)
	resolved, err := resolveEnv(ctx, &f.vaultFlags, environ)
	cancel()
	if err != nil {
		return withCause(ctx, err)
	}
	// Replace this process: the command gets our pid, signals and exit
	// status. syscall.Exec returns only on failure.
	err = syscall.Exec(path, args, resolved)
	return fmt.Errorf("exec %s: %w", args[0], err)
}

// resolveEnv resolves the references in environ with run.ResolveEnv, the
// vault picked as for the other commands.
func resolveEnv(ctx context.Context, f *vaultFlags, environ []string) ([]string, error) {
	out, err := amlrun.ResolveEnv(ctx, environ, &amlrun.ResolveOptions{RunOptions: cliRunOptions(f, environ)})
	if err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	return out, nil
}
