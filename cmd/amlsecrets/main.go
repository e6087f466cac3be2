// Command amlsecrets manages the secrets of an Azure Machine Learning
// workspace's Key Vault and runs a local Key Vault emulator.
//
// Exit status: 0 on success, 1 on error, 2 on a usage error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
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
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "amlsecrets: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") {
		fmt.Fprintln(stderr, "Run 'amlsecrets --help' for usage.")
		return exitUsage
	}
	return exitError
}

// usageError marks an error in how the command was invoked (exit status 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// newRootCmd builds the amlsecrets command tree.
func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "amlsecrets",
		Short: "Azure ML workspace secrets from the command line, and a local Key Vault emulator",
		Long: `amlsecrets sets, gets, lists and deletes the secrets of an Azure Machine Learning
workspace's default Key Vault, and runs a local Key Vault emulator (serve) that
speaks the real REST protocol, for development and tests without Azure.

Secret values never appear in logs or error messages.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noArgs,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newServeCmd())
	return root
}

// noArgs is cobra.NoArgs returning a usageError.
func noArgs(cmd *cobra.Command, args []string) error {
	if err := cobra.NoArgs(cmd, args); err != nil {
		return usageError{err}
	}
	return nil
}
