// Package memvault is an in-memory keyvault.Store that behaves as Azure Key
// Vault does: every set makes a new version (32 lowercase hex characters),
// names are case-insensitive, disabled versions cannot be read, and deletes
// are soft (a deleted name cannot be set again until it is recovered or
// purged).
//
// It implements the optional keyvault abilities too: VersionLister,
// PropertiesUpdater, DeletedLister, Recoverer and Purger. Everything passed in
// or out is copied, and a Store is safe for concurrent use. It passes
// keyvaulttest.RunConformance, the same suite the Azure-backed store passes.
// Its rules are those of the emulator behind keyvaulttest.NewServer (one
// model serves both), without the emulator's propagation delay: every
// change is visible at once.
//
// # Testing
//
// Use it wherever code takes a *keyvault.Keyvault or a keyvault.Store:
//
//	kv := keyvault.New(memvault.New(), nil)
//	_, _ = kv.SetSecret(ctx, "db-password", "s3cret", nil)
package memvault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"iter"
	"maps"
	"sync"
	"time"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/internal/kvmodel"
)

var (
	_ keyvault.Store             = (*Store)(nil)
	_ keyvault.VersionLister     = (*Store)(nil)
	_ keyvault.PropertiesUpdater = (*Store)(nil)
	_ keyvault.DeletedLister     = (*Store)(nil)
	_ keyvault.Recoverer         = (*Store)(nil)
	_ keyvault.Purger            = (*Store)(nil)
)

// RecoverableDays is how long a deleted secret stays recoverable before its
// scheduled purge date, as in Key Vault's default.
const RecoverableDays = kvmodel.RecoverableDays

// Options configure a Store. A nil *Options means defaults.
type Options struct {
	// Now returns the current time; nil means time.Now. Tests inject a
	// clock here.
	Now func() time.Time
	// DisableSoftDelete makes deletes final, as in a vault without soft
	// delete: the name can be set again at once.
	DisableSoftDelete bool
}

// Store is an in-memory vault. The zero value is not usable; call New.
type Store struct {
	mu  sync.RWMutex
	now func() time.Time
	m   *kvmodel.Model[*version] // no propagation delay
}

// version is one version: its properties (Name is the secret's) and value.
// Once stored it is never modified: an update stores a new copy.
type version struct {
	props keyvault.Properties
	value string
}

func (v *version) VersionID() string    { return v.props.Version }
func (v *version) VersionEnabled() bool { return v.props.Enabled }

// anyTime stands for the time in the model's reads and checks: without a
// propagation delay nothing is hidden, whatever the clock says, so memvault
// reads its clock only for the timestamps it stores.
var anyTime time.Time

// New returns an empty Store with soft delete on.
func New() *Store { return NewWithOptions(nil) }

// NewWithOptions returns an empty Store configured by opts (nil means
// defaults).
func NewWithOptions(opts *Options) *Store {
	s := &Store{now: time.Now, m: kvmodel.New[*version]()}
	if opts != nil {
		if opts.Now != nil {
			s.now = opts.Now
		}
		s.m.HardDelete = opts.DisableSoftDelete
	}
	return s
}

func (s *Store) check(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return keyvault.ValidateName(name)
}

func notFound(what string) error {
	return &keyvault.ServiceError{Kinds: []error{keyvault.ErrNotFound}, Code: what}
}

// storeError is a refusal of the model as the keyvault errors Key Vault's
// answers classify to.
func storeError(err error) error {
	me, ok := err.(*kvmodel.Error)
	if !ok {
		return err
	}
	switch me.Kind {
	case kvmodel.NotFound:
		return notFound("SecretNotFound")
	case kvmodel.VersionNotFound:
		return notFound("SecretVersionNotFound")
	case kvmodel.DeletedNotFound:
		return notFound("DeletedSecretNotFound")
	case kvmodel.Disabled:
		return keyvault.Classify(403, "SecretDisabled", nil)
	case kvmodel.IsDeleted:
		return keyvault.Classify(409, "ObjectIsDeletedButRecoverable", nil)
	case kvmodel.BeingDeleted:
		return keyvault.Classify(409, "ObjectIsBeingDeleted", nil)
	case kvmodel.BeingRecovered:
		return keyvault.Classify(409, "ObjectIsBeingRecovered", nil)
	}
	return keyvault.Classify(409, "Conflict", nil)
}

// GetSecret returns a copy of a version of the named secret ("" = latest).
func (s *Store) GetSecret(ctx context.Context, name, ver string) (keyvault.Secret, error) {
	if err := s.check(ctx, name); err != nil {
		return keyvault.Secret{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, v, err := kvmodel.Readable(s.m.Get(kvmodel.Key(name)), name, ver, anyTime)
	if err != nil {
		return keyvault.Secret{}, storeError(err)
	}
	return keyvault.Secret{Properties: v.props.Clone(), Value: keyvault.NewValue(v.value)}, nil
}

// SetSecret stores a new version of the named secret.
func (s *Store) SetSecret(ctx context.Context, name, value string, opts *keyvault.SetSecretOptions) (keyvault.Properties, error) {
	if err := s.check(ctx, name); err != nil {
		return keyvault.Properties{}, err
	}
	if err := keyvault.ValidateValue(value); err != nil {
		return keyvault.Properties{}, err
	}
	ver, err := newVersion()
	if err != nil {
		return keyvault.Properties{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := kvmodel.Key(name)
	v := &version{value: value}
	v.props.Version = ver
	e, err := s.m.Set(s.m.Get(key), name, v, anyTime)
	if err != nil {
		return keyvault.Properties{}, storeError(err)
	}
	// v is not visible until Put: its properties are filled in first.
	now := s.now().UTC().Truncate(time.Second)
	p := keyvault.Properties{
		Name: e.S.Name, Version: ver, Enabled: opts.IsEnabled(),
		Created: now, Updated: now,
	}
	if opts != nil {
		p.ContentType = opts.ContentType
		if len(opts.Tags) > 0 {
			p.Tags = maps.Clone(opts.Tags)
		}
		p.Expires, p.NotBefore = opts.Expires, opts.NotBefore
	}
	v.props = p
	s.m.Put(key, e)
	return p.Clone(), nil
}

// DeleteSecret deletes the named secret (softly, unless soft delete is off).
func (s *Store) DeleteSecret(ctx context.Context, name string) error {
	if err := s.check(ctx, name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := kvmodel.Key(name)
	cur := s.m.Get(key)
	if _, _, err := kvmodel.LiveVersion(cur, name, "", anyTime); err != nil {
		return storeError(err)
	}
	now := anyTime
	if !s.m.HardDelete {
		now = s.now() // the deleted and scheduled purge dates
	}
	e, _, err := s.m.Delete(cur, name, now)
	if err != nil {
		return storeError(err)
	}
	s.m.Put(key, e)
	return nil
}

// ListSecrets yields copies of the latest version's properties of every live
// secret, sorted by name. The snapshot is taken when iteration starts.
func (s *Store) ListSecrets(ctx context.Context) iter.Seq2[keyvault.Properties, error] {
	return func(yield func(keyvault.Properties, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(keyvault.Properties{}, err)
			return
		}
		s.mu.RLock()
		secrets, _ := s.m.Page(false, "", s.m.LiveCount(), anyTime, nil)
		out := make([]keyvault.Properties, 0, len(secrets))
		for _, sec := range secrets {
			out = append(out, sec.Latest().props.Clone())
		}
		s.mu.RUnlock()
		for _, p := range out {
			if err := ctx.Err(); err != nil {
				yield(keyvault.Properties{}, err)
				return
			}
			if !yield(p, nil) {
				return
			}
		}
	}
}

// ListSecretVersions yields copies of every version's properties, oldest
// first.
func (s *Store) ListSecretVersions(ctx context.Context, name string) iter.Seq2[keyvault.Properties, error] {
	return func(yield func(keyvault.Properties, error) bool) {
		if err := s.check(ctx, name); err != nil {
			yield(keyvault.Properties{}, err)
			return
		}
		s.mu.RLock()
		var out []keyvault.Properties
		if sec, _, err := kvmodel.LiveVersion(s.m.Get(kvmodel.Key(name)), name, "", anyTime); err == nil {
			for _, v := range sec.Versions {
				out = append(out, v.props.Clone())
			}
		}
		s.mu.RUnlock()
		for _, p := range out {
			if !yield(p, nil) {
				return
			}
		}
	}
}

// UpdateSecretProperties changes a version's metadata ("" = latest).
func (s *Store) UpdateSecretProperties(ctx context.Context, name, ver string, opts *keyvault.UpdateSecretPropertiesOptions) (keyvault.Properties, error) {
	if err := s.check(ctx, name); err != nil {
		return keyvault.Properties{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := kvmodel.Key(name)
	e, v, err := s.m.Update(s.m.Get(key), name, ver, anyTime, func(old *version) *version {
		p := old.props.Clone()
		if opts != nil {
			if opts.ContentType != nil {
				p.ContentType = *opts.ContentType
			}
			if opts.Tags != nil {
				p.Tags = maps.Clone(opts.Tags)
				if len(p.Tags) == 0 {
					p.Tags = nil
				}
			}
			if opts.Enabled != nil {
				p.Enabled = *opts.Enabled
			}
			if opts.Expires != nil {
				p.Expires = *opts.Expires
			}
			if opts.NotBefore != nil {
				p.NotBefore = *opts.NotBefore
			}
		}
		p.Updated = s.now().UTC().Truncate(time.Second)
		return &version{props: p, value: old.value}
	})
	if err != nil {
		return keyvault.Properties{}, storeError(err)
	}
	s.m.Put(key, e)
	return v.props.Clone(), nil
}

// ListDeletedSecrets yields the deleted secrets, sorted by name.
func (s *Store) ListDeletedSecrets(ctx context.Context) iter.Seq2[keyvault.DeletedSecret, error] {
	return func(yield func(keyvault.DeletedSecret, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(keyvault.DeletedSecret{}, err)
			return
		}
		s.mu.RLock()
		secrets, _ := s.m.Page(true, "", s.m.Len(), anyTime, nil)
		out := make([]keyvault.DeletedSecret, 0, len(secrets))
		for _, d := range secrets {
			out = append(out, keyvault.DeletedSecret{
				Properties:         d.Latest().props.Clone(),
				DeletedDate:        time.Unix(d.DeletedDate, 0).UTC(),
				ScheduledPurgeDate: time.Unix(d.ScheduledPurgeDate, 0).UTC(),
				RecoveryID:         "deletedsecrets/" + d.Name,
			})
		}
		s.mu.RUnlock()
		for _, d := range out {
			if !yield(d, nil) {
				return
			}
		}
	}
}

// RecoverDeletedSecret brings back a deleted secret with all its versions.
func (s *Store) RecoverDeletedSecret(ctx context.Context, name string) (keyvault.Properties, error) {
	if err := s.check(ctx, name); err != nil {
		return keyvault.Properties{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := kvmodel.Key(name)
	e, sec, err := s.m.Recover(s.m.Get(key), name, anyTime)
	if err != nil {
		return keyvault.Properties{}, storeError(err)
	}
	s.m.Put(key, e)
	return sec.Latest().props.Clone(), nil
}

// PurgeDeletedSecret forgets a deleted secret for good.
func (s *Store) PurgeDeletedSecret(ctx context.Context, name string) error {
	if err := s.check(ctx, name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := kvmodel.Key(name)
	e, _, err := s.m.Purge(s.m.Get(key), name, anyTime)
	if err != nil {
		return storeError(err)
	}
	s.m.Put(key, e)
	return nil
}

// Len returns the number of live (not deleted) secrets.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.m.LiveCount()
}

func newVersion() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("memvault: new version id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
