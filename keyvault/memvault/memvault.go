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
//
// # Testing
//
// Use it wherever code takes a *keyvault.Keyvault or a keyvault.Store:
//
//	kv := keyvault.New(memvault.New(), nil)
//	_, _ = kv.SetSecret(ctx, "db-password", "s3cret", nil)
package memvault

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"iter"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/go-azureml/secrets/keyvault"
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
const RecoverableDays = 90

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
	mu      sync.RWMutex
	now     func() time.Time
	soft    bool
	live    map[string]*secret // by keyvault.NameKey
	deleted map[string]*deletedSecret
}

type version struct {
	props keyvault.Properties
	value string
}

type secret struct {
	name     string     // as first spelled
	versions []*version // oldest first; the last is the latest
}

type deletedSecret struct {
	s                *secret
	deleted, purgeAt time.Time
}

// New returns an empty Store with soft delete on.
func New() *Store { return NewWithOptions(nil) }

// NewWithOptions returns an empty Store configured by opts (nil means
// defaults).
func NewWithOptions(opts *Options) *Store {
	s := &Store{now: time.Now, soft: true, live: map[string]*secret{}, deleted: map[string]*deletedSecret{}}
	if opts != nil {
		if opts.Now != nil {
			s.now = opts.Now
		}
		s.soft = !opts.DisableSoftDelete
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

// GetSecret returns a copy of a version of the named secret ("" = latest).
func (s *Store) GetSecret(ctx context.Context, name, ver string) (keyvault.Secret, error) {
	if err := s.check(ctx, name); err != nil {
		return keyvault.Secret{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, err := s.find(name, ver)
	if err != nil {
		return keyvault.Secret{}, err
	}
	if !v.props.Enabled {
		return keyvault.Secret{}, keyvault.Classify(403, "SecretDisabled", nil)
	}
	return keyvault.Secret{Properties: v.props.Clone(), Value: keyvault.NewValue(v.value)}, nil
}

func (s *Store) find(name, ver string) (*version, error) {
	sec, ok := s.live[keyvault.NameKey(name)]
	if !ok {
		return nil, notFound("SecretNotFound")
	}
	if ver == "" {
		return sec.versions[len(sec.versions)-1], nil
	}
	for _, v := range sec.versions {
		if v.props.Version == ver {
			return v, nil
		}
	}
	return nil, notFound("SecretVersionNotFound")
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
	key := keyvault.NameKey(name)
	if _, gone := s.deleted[key]; gone {
		return keyvault.Properties{}, keyvault.Classify(409, "ObjectIsDeletedButRecoverable", nil)
	}
	sec, ok := s.live[key]
	if !ok {
		sec = &secret{name: name}
		s.live[key] = sec
	}
	now := s.now().UTC().Truncate(time.Second)
	p := keyvault.Properties{
		Name: sec.name, Version: ver, Enabled: opts.IsEnabled(),
		Created: now, Updated: now,
	}
	if opts != nil {
		p.ContentType = opts.ContentType
		if len(opts.Tags) > 0 {
			p.Tags = maps.Clone(opts.Tags)
		}
		p.Expires, p.NotBefore = opts.Expires, opts.NotBefore
	}
	sec.versions = append(sec.versions, &version{props: p, value: value})
	return p.Clone(), nil
}

// DeleteSecret deletes the named secret (softly, unless soft delete is off).
func (s *Store) DeleteSecret(ctx context.Context, name string) error {
	if err := s.check(ctx, name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := keyvault.NameKey(name)
	sec, ok := s.live[key]
	if !ok {
		return notFound("SecretNotFound")
	}
	delete(s.live, key)
	if s.soft {
		now := s.now().UTC().Truncate(time.Second)
		s.deleted[key] = &deletedSecret{s: sec, deleted: now, purgeAt: now.AddDate(0, 0, RecoverableDays)}
	}
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
		out := make([]keyvault.Properties, 0, len(s.live))
		for _, sec := range s.live {
			out = append(out, sec.versions[len(sec.versions)-1].props.Clone())
		}
		s.mu.RUnlock()
		slices.SortFunc(out, func(a, b keyvault.Properties) int {
			return cmp.Compare(keyvault.NameKey(a.Name), keyvault.NameKey(b.Name))
		})
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
		if sec, ok := s.live[keyvault.NameKey(name)]; ok {
			for _, v := range sec.versions {
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
	v, err := s.find(name, ver)
	if err != nil {
		return keyvault.Properties{}, err
	}
	p := v.props.Clone()
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
	v.props = p
	return p.Clone(), nil
}

// ListDeletedSecrets yields the deleted secrets, sorted by name.
func (s *Store) ListDeletedSecrets(ctx context.Context) iter.Seq2[keyvault.DeletedSecret, error] {
	return func(yield func(keyvault.DeletedSecret, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(keyvault.DeletedSecret{}, err)
			return
		}
		s.mu.RLock()
		out := make([]keyvault.DeletedSecret, 0, len(s.deleted))
		for _, d := range s.deleted {
			out = append(out, keyvault.DeletedSecret{
				Properties:  d.s.versions[len(d.s.versions)-1].props.Clone(),
				DeletedDate: d.deleted, ScheduledPurgeDate: d.purgeAt,
				RecoveryID: "deletedsecrets/" + d.s.name,
			})
		}
		s.mu.RUnlock()
		slices.SortFunc(out, func(a, b keyvault.DeletedSecret) int {
			return cmp.Compare(keyvault.NameKey(a.Name), keyvault.NameKey(b.Name))
		})
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
	key := keyvault.NameKey(name)
	d, ok := s.deleted[key]
	if !ok {
		return keyvault.Properties{}, notFound("DeletedSecretNotFound")
	}
	delete(s.deleted, key)
	s.live[key] = d.s
	return d.s.versions[len(d.s.versions)-1].props.Clone(), nil
}

// PurgeDeletedSecret forgets a deleted secret for good.
func (s *Store) PurgeDeletedSecret(ctx context.Context, name string) error {
	if err := s.check(ctx, name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := keyvault.NameKey(name)
	if _, ok := s.deleted[key]; !ok {
		return notFound("DeletedSecretNotFound")
	}
	delete(s.deleted, key)
	return nil
}

// Len returns the number of live (not deleted) secrets.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.live)
}

func newVersion() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("memvault: new version id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
