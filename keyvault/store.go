package keyvault

import (
	"context"
	"iter"
	"time"
)

// Store is the seam between Keyvault and a vault: four small, dumb methods
// with no caching, batching or retries of their own (Keyvault does that
// once, for every store). memvault and azurevault implement it;
// keyvaulttest.RunConformance checks that an implementation behaves as Key
// Vault does.
//
// Every method must be safe for concurrent use, treat names
// case-insensitively, reject invalid names with an error wrapping
// ErrInvalidName, report failures with errors that wrap this package's
// sentinels (see Classify), return context errors unchanged, and never share
// memory with its callers (maps passed in or out are copies).
type Store interface {
	// GetSecret returns a version of the named secret; version "" means the
	// latest. A missing or deleted name or version is ErrNotFound; a disabled
	// version is ErrDisabled (with ErrPermission).
	GetSecret(ctx context.Context, name, version string) (Secret, error)
	// SetSecret stores value as a new version of the named secret, creating
	// the secret if need be. A name that is deleted but not yet purged is
	// ErrConflict. opts nil means defaults.
	SetSecret(ctx context.Context, name, value string, opts *SetSecretOptions) (Properties, error)
	// DeleteSecret deletes the secret and all its versions (a soft delete
	// where the store supports recovery). A missing name is ErrNotFound.
	DeleteSecret(ctx context.Context, name string) error
	// ListSecrets yields the properties of the latest version of every
	// secret that is not deleted. It never yields values. A non-nil error
	// ends the sequence.
	ListSecrets(ctx context.Context) iter.Seq2[Properties, error]
}

// Optional abilities a Store may have, found by type assertion as io/fs does.
// Keyvault's methods of the same names use them and return an error wrapping
// errors.ErrUnsupported for a store without them.
type (
	// VersionLister lists every version of a secret (values excluded).
	VersionLister interface {
		ListSecretVersions(ctx context.Context, name string) iter.Seq2[Properties, error]
	}
	// PropertiesUpdater changes a version's metadata without changing its
	// value; version "" means the latest.
	PropertiesUpdater interface {
		UpdateSecretProperties(ctx context.Context, name, version string, opts *UpdateSecretPropertiesOptions) (Properties, error)
	}
	// DeletedLister lists deleted secrets that can still be recovered.
	DeletedLister interface {
		ListDeletedSecrets(ctx context.Context) iter.Seq2[DeletedSecret, error]
	}
	// Recoverer restores a deleted secret, with all its versions.
	Recoverer interface {
		RecoverDeletedSecret(ctx context.Context, name string) (Properties, error)
	}
	// Purger removes a deleted secret for good, freeing its name.
	Purger interface {
		PurgeDeletedSecret(ctx context.Context, name string) error
	}
)

// UpdateSecretPropertiesOptions say what to change; nil fields stay as they
// are.
type UpdateSecretPropertiesOptions struct {
	// ContentType, when non-nil, replaces the content type.
	ContentType *string
	// Tags, when non-nil, replace all the tags.
	Tags map[string]string
	// Enabled, when non-nil, enables or disables the version.
	Enabled *bool
	// Expires and NotBefore, when non-nil, replace the bounds; a pointer to
	// the zero time removes one.
	Expires, NotBefore *time.Time
}

// DeletedSecret describes a deleted secret that can be recovered or purged.
type DeletedSecret struct {
	Properties
	// DeletedDate is when it was deleted.
	DeletedDate time.Time
	// ScheduledPurgeDate is when the vault will purge it.
	ScheduledPurgeDate time.Time
	// RecoveryID identifies it for recovery, where the store has one.
	RecoveryID string
}
