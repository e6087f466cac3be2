package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/go-azureml/secrets/keyvault"
)

// argvAdvice is how a refused command-line value is explained.
const argvAdvice = "values are never taken from the command line, which shows in 'ps' and in shell history: " +
	"use 'amlsecrets set NAME --stdin' (e.g. printf %s \"$VALUE\" | amlsecrets set NAME --stdin) or 'amlsecrets set NAME --from-env VAR'"

// withCause turns a context deadline error into the --timeout cause.
func withCause(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil || !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ke *keyvault.Error
	if errors.As(err, &ke) {
		return &keyvault.Error{Op: ke.Op, Name: ke.Name, Err: context.Cause(ctx)}
	}
	return context.Cause(ctx)
}

// causeOf drops the "op name: " prefix of a *keyvault.Error.
func causeOf(err error) string {
	var ke *keyvault.Error
	if errors.As(err, &ke) && ke.Err != nil {
		return oneLine(ke.Err.Error())
	}
	return oneLine(err.Error())
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// checkName validates a name given on the command line. A NAME=VALUE
// argument is refused without echoing it.
func checkName(name string) error {
	if strings.Contains(name, "=") {
		return usageError{errors.New("a NAME=VALUE argument: " + argvAdvice)}
	}
	if err := keyvault.ValidateName(name); err != nil {
		return usageError{err}
	}
	return nil
}

// ---- get ----

type getFlags struct {
	vaultFlags
	json    bool
	version string
}

func newGetCmd() *cobra.Command {
	var f getFlags
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Print a secret's value",
		Long: `get prints the value of the latest version of a secret (or of --version),
alone and followed by a newline, for use in $(...). With --json it prints the
version's metadata and the value as one JSON object: the explicit reveal.`,
		Example: `  DB_PASSWORD="$(amlsecrets get db-password)"
  amlsecrets get db-password --json | jq .version`,
		Args: exactArgs(1, "get takes one secret name"),
		RunE: func(cmd *cobra.Command, args []string) error { return runGet(cmd, &f, args[0]) },
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&f.json, "json", false, "print metadata and the value as JSON")
	cmd.Flags().StringVar(&f.version, "version", "", "a version id (default: the latest)")
	return cmd
}

// secretJSON is what get --json and list --json print.
type secretJSON struct {
	Name        string            `json:"name"`
	Version     string            `json:"version,omitempty"`
	ContentType string            `json:"contentType,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Enabled     bool              `json:"enabled"`
	Created     *time.Time        `json:"created,omitempty"`
	Updated     *time.Time        `json:"updated,omitempty"`
	Expires     *time.Time        `json:"expires,omitempty"`
	NotBefore   *time.Time        `json:"notBefore,omitempty"`
	Value       *string           `json:"value,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func toJSON(p keyvault.Properties) secretJSON {
	return secretJSON{
		Name: p.Name, Version: p.Version, ContentType: p.ContentType, Tags: p.Tags, Enabled: p.Enabled,
		Created: timePtr(p.Created), Updated: timePtr(p.Updated), Expires: timePtr(p.Expires), NotBefore: timePtr(p.NotBefore),
	}
}

func runGet(cmd *cobra.Command, f *getFlags, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	ctx, cancel, kv, err := f.vaultFlags.open(cmd)
	if err != nil {
		return err
	}
	defer cancel()
	out := cmd.OutOrStdout()
	if !f.json && f.version == "" {
		v, err := kv.GetSecret(ctx, name)
		if err != nil {
			return withCause(ctx, err)
		}
		_, err = io.WriteString(out, v+"\n")
		return err
	}
	s, err := kv.GetSecretVersion(ctx, name, f.version)
	if err != nil {
		return withCause(ctx, err)
	}
	if !f.json {
		_, err = io.WriteString(out, s.Value.Reveal()+"\n")
		return err
	}
	j := toJSON(s.Properties)
	v := s.Value.Reveal()
	j.Value = &v
	return writeJSON(out, j)
}

// ---- list ----

type listFlags struct {
	vaultFlags
	json    bool
	deleted bool
}

func newListCmd() *cobra.Command {
	var f listFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the secrets' names",
		Long: `list prints the name of every secret, one per line, sorted. With --json it
prints a JSON array of each secret's metadata (name, content type, tags,
enabled, times; a list carries no version: 'amlsecrets get NAME --json' shows
the latest one). It never prints values. With --deleted it lists the deleted
secrets instead, which 'amlsecrets recover' and 'amlsecrets purge' take.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runList(cmd, &f) },
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&f.json, "json", false, "print metadata as a JSON array (never values)")
	cmd.Flags().BoolVar(&f.deleted, "deleted", false, "list the deleted secrets instead, which 'amlsecrets recover' or 'amlsecrets purge' take")
	return cmd
}

func runList(cmd *cobra.Command, f *listFlags) error {
	ctx, cancel, kv, err := f.vaultFlags.open(cmd)
	if err != nil {
		return err
	}
	defer cancel()
	if f.deleted {
		return listDeleted(ctx, cmd, kv, f.json)
	}
	props, err := kv.ListSecrets(ctx)
	if err != nil {
		return withCause(ctx, err)
	}
	return writeList(cmd.OutOrStdout(), f.json, props, func(p keyvault.Properties) string { return p.Name }, toJSON)
}

// writeList prints items as list does: each one's name on a line of its
// own, or with --json an indented JSON array of each one's metadata (never
// a value).
func writeList[T, J any](out io.Writer, asJSON bool, items []T, name func(T) string, meta func(T) J) error {
	if asJSON {
		js := make([]J, 0, len(items))
		for _, it := range items {
			js = append(js, meta(it))
		}
		return writeJSON(out, js)
	}
	var b strings.Builder
	for _, it := range items {
		b.WriteString(name(it))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(out, b.String())
	return err
}

// writeJSON prints v as indented JSON.
func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// ---- delete ----

func newDeleteCmd() *cobra.Command {
	var f deleteFlags
	cmd := &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete secrets",
		Long: `delete deletes each named secret with all its versions (a soft delete where
the vault keeps deleted secrets, as every new Azure vault does). It reports
each name's outcome on stderr ("delete NAME: ok") and exits non-zero if any
failed. Every name is checked first; if one is invalid nothing is deleted.

A deleted secret keeps its name: setting it again fails until it is
recovered ('amlsecrets recover NAME') or purged ('amlsecrets purge NAME').
--purge deletes and purges at once, for good.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("delete takes one or more secret names")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runDelete(cmd, &f, args) },
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&f.purge, "purge", false, "also purge each secret, for good, so that its name can be set again")
	return cmd
}

type deleteFlags struct {
	vaultFlags
	purge bool
}

func runDelete(cmd *cobra.Command, f *deleteFlags, names []string) error {
	if f.purge {
		return eachName(cmd, &f.vaultFlags, "delete", names, deleteAndPurge)
	}
	for _, n := range names {
		if err := checkName(n); err != nil {
			return err
		}
	}
	ctx, cancel, kv, err := f.open(cmd)
	if err != nil {
		return err
	}
	defer cancel()
	err = withCause(ctx, kv.DeleteSecrets(ctx, names))
	stderr := cmd.ErrOrStderr()
	var be *keyvault.BatchError
	if err != nil && !errors.As(err, &be) {
		return err // the whole batch failed (e.g. --timeout)
	}
	for _, n := range names {
		if e, failed := failedName(be, n); failed {
			fmt.Fprintf(stderr, "delete %s: %s\n", n, causeOf(withCause(ctx, e)))
		} else {
			fmt.Fprintf(stderr, "delete %s: ok\n", n)
		}
	}
	if be != nil {
		return batchSummary("delete", be)
	}
	return nil
}

// failedName returns the failure of name in be (names are case-insensitive).
func failedName(be *keyvault.BatchError, name string) (error, bool) {
	if be == nil {
		return nil, false
	}
	if e, ok := be.Failed[name]; ok {
		return e, true
	}
	for n, e := range be.Failed {
		if keyvault.NameKey(n) == keyvault.NameKey(name) {
			return e, true
		}
	}
	return nil, false
}

// batchSummaryError is the one-line error a batch command ends with; it
// keeps the *keyvault.BatchError reachable for the exit status.
type batchSummaryError struct {
	verb string
	be   *keyvault.BatchError
}

func (e *batchSummaryError) Error() string {
	return fmt.Sprintf("%s: %d of %d failed: %s", e.verb, len(e.be.Failed), e.be.Total, strings.Join(e.be.Names(), ", "))
}

func (e *batchSummaryError) Unwrap() error { return e.be }

func batchSummary(verb string, be *keyvault.BatchError) error {
	return &batchSummaryError{verb: verb, be: be}
}

// exactArgs is cobra.ExactArgs(n) returning a usageError with msg.
func exactArgs(n int, msg string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s, got %d arguments", msg, len(args))}
		}
		return nil
	}
}
