package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/go-azureml/secrets/keyvault"
)

// Deleted secrets: recover, purge and delete --purge.
//
// Key Vault's soft delete is not instant: right after a delete, the deleted
// secret may answer 404 for a few seconds; right after a recover, the secret
// itself may. These commands wait that out, within propagationWait and
// --timeout, so that `delete`, `recover`, `get` in a script just works.

// propagationWait bounds how long a command waits for a delete or a recover
// to show.
const propagationWait = 15 * time.Second

// waitPropagation calls fn until it succeeds, fails with an error retryOn
// does not accept, propagationWait passes or ctx ends; it returns fn's last
// error.
func waitPropagation(ctx context.Context, retryOn func(error) bool, fn func(context.Context) error) error {
	deadline := time.Now().Add(propagationWait)
	delay := 100 * time.Millisecond
	for {
		err := fn(ctx)
		if err == nil || !retryOn(err) || time.Now().Add(delay).After(deadline) {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay = min(2*delay, 2*time.Second)
	}
}

func isNotFound(err error) bool { return errors.Is(err, keyvault.ErrNotFound) }

// isLive reports whether name is a secret that is not deleted (its latest
// version reads). Any failure, permission denied included, counts as no.
func isLive(ctx context.Context, kv *keyvault.Keyvault, name string) bool {
	_, err := kv.GetSecretVersion(ctx, name, "")
	return err == nil || errors.Is(err, keyvault.ErrDisabled)
}

// notDeletedError says a name given to recover or purge is a live secret.
type notDeletedError struct{ op, name, advice string }

func (e *notDeletedError) Error() string {
	return fmt.Sprintf("%s %s: the secret is not deleted; %s", e.op, e.name, e.advice)
}

// recoverOne recovers name and waits until it reads again.
func recoverOne(ctx context.Context, kv *keyvault.Keyvault, name string) error {
	if isLive(ctx, kv, name) {
		return &notDeletedError{"recover secret", name, "there is nothing to recover"}
	}
	err := waitPropagation(ctx, isNotFound, func(ctx context.Context) error {
		_, err := kv.RecoverSecret(ctx, name)
		return err
	})
	if err != nil {
		return err
	}
	return waitPropagation(ctx, isNotFound, func(ctx context.Context) error {
		_, err := kv.GetSecretVersion(ctx, name, "")
		if errors.Is(err, keyvault.ErrDisabled) {
			return nil // recovered; its latest version is disabled
		}
		if err != nil {
			return &keyvault.Error{Op: "recover secret", Name: name, Err: fmt.Errorf("recovered, but does not read yet: %w", err)}
		}
		return nil
	})
}

// purgeOne purges the deleted secret name; wasDeleted skips the check that
// the name is not a live secret (delete --purge just deleted it).
func purgeOne(ctx context.Context, kv *keyvault.Keyvault, name string, wasDeleted bool) error {
	if !wasDeleted && isLive(ctx, kv, name) {
		return &notDeletedError{"purge secret", name, "delete and purge it with 'amlsecrets delete --purge " + name + "'"}
	}
	return waitPropagation(ctx, isNotFound, func(ctx context.Context) error {
		return kv.PurgeSecret(ctx, name)
	})
}

// namesArgs checks one or more secret names.
func namesArgs(verb string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return usageError{fmt.Errorf("%s takes one or more secret names", verb)}
		}
		return nil
	}
}

// eachName runs fn for each name in turn, reporting "VERB NAME: ok" or the
// failure on stderr, and returns a batch summary if any failed.
func eachName(cmd *cobra.Command, f *vaultFlags, verb string, names []string, fn func(context.Context, *keyvault.Keyvault, string) error) error {
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
	stderr := cmd.ErrOrStderr()
	be := &keyvault.BatchError{Op: verb + " secrets", Failed: map[string]error{}, Total: len(names)}
	for _, n := range names {
		if ctx.Err() != nil {
			return withCause(ctx, ctx.Err())
		}
		err := withCause(ctx, fn(ctx, kv, n))
		if err != nil {
			be.Failed[n] = err
			if len(names) > 1 { // one name: its error says it
				fmt.Fprintf(stderr, "%s %s: %s\n", verb, n, causeOf(err))
			}
			continue
		}
		fmt.Fprintf(stderr, "%s %s: ok\n", verb, n)
	}
	if len(names) == 1 && len(be.Failed) == 1 {
		return be.Failed[names[0]] // one name: its own error, with its hint
	}
	if len(be.Failed) > 0 {
		return batchSummary(verb, be)
	}
	return nil
}

func newRecoverCmd() *cobra.Command {
	var f vaultFlags
	cmd := &cobra.Command{
		Use:   "recover NAME...",
		Short: "Recover deleted secrets",
		Long: `recover brings back each named deleted secret with all its versions, and
waits until it reads again (a deletion or a recovery takes a few seconds to
show in Key Vault). It reports each name's outcome on stderr ("recover NAME:
ok") and exits non-zero if any failed.`,
		Example: `  amlsecrets delete db-password
  amlsecrets recover db-password
  amlsecrets get db-password`,
		Args: namesArgs("recover"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachName(cmd, &f, "recover", args, recoverOne)
		},
	}
	f.add(cmd)
	return cmd
}

func newPurgeCmd() *cobra.Command {
	var f vaultFlags
	cmd := &cobra.Command{
		Use:   "purge NAME...",
		Short: "Purge deleted secrets for good, so that their names can be set again",
		Long: `purge removes each named deleted secret for good: its versions cannot be
recovered afterwards, and its name can be set again. The secret must be
deleted first ('amlsecrets delete --purge NAME' does both). It reports each
name's outcome on stderr ("purge NAME: ok") and exits non-zero if any failed.
Purging needs the 'Key Vault Secrets Officer' role (or a purge access policy).`,
		Example: `  amlsecrets purge db-password
  amlsecrets delete --purge db-password   # delete and purge`,
		Args: namesArgs("purge"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachName(cmd, &f, "purge", args, func(ctx context.Context, kv *keyvault.Keyvault, name string) error {
				return purgeOne(ctx, kv, name, false)
			})
		},
	}
	f.add(cmd)
	return cmd
}

// deleteAndPurge deletes name and purges it (delete --purge). A name that is
// already deleted (delete answers not found) is purged all the same.
func deleteAndPurge(ctx context.Context, kv *keyvault.Keyvault, name string) error {
	err := kv.DeleteSecret(ctx, name)
	switch {
	case isNotFound(err):
		// Deleted before (or never there): purge once, without waiting.
		return kv.PurgeSecret(ctx, name)
	case err != nil:
		return err
	}
	return purgeOne(ctx, kv, name, true)
}

// conflictHint is the hint for a 409 on name: deleted but not purged.
func conflictHint(name string) string {
	if name == "" {
		name = "NAME"
	}
	return fmt.Sprintf("the name is deleted but not purged: 'amlsecrets recover %s' brings it back, 'amlsecrets purge %s' frees the name (or use another name)", name, name)
}

// deletedJSON is what list --deleted --json prints for a deleted secret.
type deletedJSON struct {
	secretJSON
	Deleted        *time.Time `json:"deleted,omitempty"`
	ScheduledPurge *time.Time `json:"scheduledPurge,omitempty"`
}

// listDeleted is list --deleted: the deleted secrets' names (or metadata).
func listDeleted(ctx context.Context, cmd *cobra.Command, kv *keyvault.Keyvault, asJSON bool) error {
	ds, err := kv.ListDeletedSecrets(ctx)
	if err != nil {
		return withCause(ctx, err)
	}
	return writeList(cmd.OutOrStdout(), asJSON, ds, func(d keyvault.DeletedSecret) string { return d.Name }, func(d keyvault.DeletedSecret) deletedJSON {
		return deletedJSON{secretJSON: toJSON(d.Properties), Deleted: timePtr(d.DeletedDate), ScheduledPurge: timePtr(d.ScheduledPurgeDate)}
	})
}
