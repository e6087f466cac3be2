// Command amlsecrets manages the secrets of an Azure Machine Learning
// workspace's Key Vault (set, get, list, delete, recover, purge), runs commands with secret
// references resolved (exec) and runs a local Key Vault emulator (serve).
//
// Exit status: 0 ok, 1 other error, 2 usage, 3 not found, 4 permission
// denied, 5 throttled; exec exits with its command's status.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitOK         = 0
	exitError      = 1
	exitUsage      = 2
	exitNotFound   = 3
	exitPermission = 4
	exitThrottled  = 5
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// run executes the command line args and returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdin, stdout, stderr)
}

// runContext is run with a context that, when done, stops long-running
// commands (serve) as SIGINT would.
func runContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var status exitStatus
	if errors.As(err, &status) {
		return int(status) // exec's command's own status; it said what it had to
	}
	code := exitCode(err)
	msg := errorText(err)
	if code == exitUsage {
		if !strings.Contains(msg, "--help") {
			msg = addHint(msg, "("+helpHint(cmd)+")", " ")
		}
	} else if h := hint(err); h != "" {
		msg = addHint(msg, h, "; ")
	}
	fmt.Fprintf(stderr, "amlsecrets: %s\n", msg)
	return code
}

// usageError marks an error in how the command was invoked (exit status 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// newRootCmd builds the amlsecrets command tree.
func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "amlsecrets",
		Short:         "Azure ML workspace secrets from the command line, and a local Key Vault emulator",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          rootArgs,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		Version:       versionString(debug.ReadBuildInfo()),
	}
	root.SetVersionTemplate("amlsecrets {{.Version}}\n")
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(newServeCmd(), newSetCmd(), newGetCmd(), newListCmd(), newDeleteCmd(), newRecoverCmd(), newPurgeCmd(), newExecCmd(), newInjectCmd())
	return root
}

// noArgs is cobra.NoArgs returning a usageError.
func noArgs(cmd *cobra.Command, args []string) error {
	if err := cobra.NoArgs(cmd, args); err != nil {
		return usageError{err}
	}
	return nil
}
