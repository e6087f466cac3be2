package kvemulator

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	recoveryLevel   = "Recoverable+Purgeable"
	recoverableDays = 90
	stateFormat     = 1
	backupMagic     = "keyvaulttest-backup-v1\n"
)

var nameRE = regexp.MustCompile(`^[0-9a-zA-Z-]{1,127}$`)

func validName(name string) bool { return nameRE.MatchString(name) }

// version is one version of a secret, as stored and persisted.
type version struct {
	ID          string            `json:"version"`
	Value       string            `json:"value"`
	ContentType string            `json:"contentType,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Enabled     bool              `json:"enabled"`
	NotBefore   *int64            `json:"nbf,omitempty"`
	Expires     *int64            `json:"exp,omitempty"`
	Created     int64             `json:"created"`
	Updated     int64             `json:"updated"`
}

// secret is a named secret with its versions, oldest first.
type secret struct {
	Name               string     `json:"name"` // case of first creation
	Versions           []*version `json:"versions"`
	DeletedDate        int64      `json:"deletedDate,omitempty"`
	ScheduledPurgeDate int64      `json:"scheduledPurgeDate,omitempty"`
}

func (s *secret) latest() *version { return s.Versions[len(s.Versions)-1] }

func (s *secret) find(id string) *version {
	for _, v := range s.Versions {
		if v.ID == id {
			return v
		}
	}
	return nil
}

type persisted struct {
	Format  int       `json:"format"`
	Secrets []*secret `json:"secrets"`
	Deleted []*secret `json:"deleted"`
}

// store holds the vault's contents. Keys are lower-cased names.
type store struct {
	path    string
	mu      sync.Mutex
	active  map[string]*secret
	deleted map[string]*secret
}

func newStore(path string) *store {
	return &store{path: path, active: map[string]*secret{}, deleted: map[string]*secret{}}
}

// ---- wire shapes ----

type attributesJSON struct {
	Enabled         bool   `json:"enabled"`
	NotBefore       *int64 `json:"nbf,omitempty"`
	Expires         *int64 `json:"exp,omitempty"`
	Created         int64  `json:"created"`
	Updated         int64  `json:"updated"`
	RecoveryLevel   string `json:"recoveryLevel"`
	RecoverableDays int    `json:"recoverableDays"`
}

// bundleJSON is a SecretBundle, a SecretItem, a DeletedSecretBundle or a DeletedSecretItem.
type bundleJSON struct {
	RecoveryID         string            `json:"recoveryId,omitempty"`
	DeletedDate        int64             `json:"deletedDate,omitempty"`
	ScheduledPurgeDate int64             `json:"scheduledPurgeDate,omitempty"`
	Value              *string           `json:"value,omitempty"`
	ID                 string            `json:"id"`
	ContentType        string            `json:"contentType,omitempty"`
	Attributes         attributesJSON    `json:"attributes"`
	Tags               map[string]string `json:"tags,omitempty"`
}

type requestAttributes struct {
	Enabled   *bool  `json:"enabled"`
	NotBefore *int64 `json:"nbf"`
	Expires   *int64 `json:"exp"`
}

type setParams struct {
	Value       *string            `json:"value"`
	ContentType *string            `json:"contentType"`
	Attributes  *requestAttributes `json:"attributes"`
	Tags        map[string]string  `json:"tags"`
}

type updateParams struct {
	ContentType *string            `json:"contentType"`
	Attributes  *requestAttributes `json:"attributes"`
	Tags        map[string]string  `json:"tags"`
}

// item is one element of a listing, with the key it is sorted and paged by.
type item struct {
	key    string
	bundle bundleJSON
}

type bundleOpts struct {
	withValue   bool
	withVersion bool // false: the base id https://HOST/secrets/NAME, as list items carry
	deleted     bool
}

func (s *secret) bundle(v *version, host string, o bundleOpts) bundleJSON {
	b := bundleJSON{
		ID:          "https://" + host + "/secrets/" + s.Name,
		ContentType: v.ContentType,
		Tags:        maps.Clone(v.Tags),
		Attributes: attributesJSON{
			Enabled:         v.Enabled,
			NotBefore:       v.NotBefore,
			Expires:         v.Expires,
			Created:         v.Created,
			Updated:         v.Updated,
			RecoveryLevel:   recoveryLevel,
			RecoverableDays: recoverableDays,
		},
	}
	if o.withVersion {
		b.ID += "/" + v.ID
	}
	if o.withValue {
		val := v.Value
		b.Value = &val
	}
	if o.deleted {
		b.RecoveryID = "https://" + host + "/deletedsecrets/" + s.Name
		b.DeletedDate = s.DeletedDate
		b.ScheduledPurgeDate = s.ScheduledPurgeDate
	}
	return b
}

// ---- errors ----

// apiError is an error answered in Key Vault's error shape.
type apiError struct {
	status int
	code   string
	inner  string
	msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.msg) }

func notFound(name string) *apiError {
	return &apiError{404, "SecretNotFound", "", fmt.Sprintf("A secret with (name/id) %s was not found in this key vault.", name)}
}

func versionNotFound(name, ver string) *apiError {
	return &apiError{404, "SecretNotFound", "", fmt.Sprintf("A secret with (name/id) %s/%s was not found in this key vault.", name, ver)}
}

func deletedNotFound(name string) *apiError {
	return &apiError{404, "SecretNotFound", "", fmt.Sprintf("Deleted Secret not found: %s", name)}
}

func badParameter(msg string) *apiError { return &apiError{400, "BadParameter", "", msg} }

func badName(name string) *apiError {
	return badParameter(fmt.Sprintf("The request URI contains an invalid name: %s", name))
}

func persistFailed() *apiError {
	return &apiError{500, "InternalServerError", "", "The emulator could not persist its state."}
}

func newVersionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func toUnix(t time.Time) int64 { return t.Unix() }

// ---- operations (each takes the lock) ----

func (st *store) set(name string, p *setParams, now time.Time, host string) (bundleJSON, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	key := strings.ToLower(name)
	if d, ok := st.deleted[key]; ok {
		return bundleJSON{}, &apiError{409, "Conflict", "ObjectIsDeletedButRecoverable",
			fmt.Sprintf("Secret %s is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.", d.Name)}
	}
	t := toUnix(now)
	v := &version{ID: newVersionID(), Value: *p.Value, Enabled: true, Created: t, Updated: t, Tags: maps.Clone(p.Tags)}
	if p.ContentType != nil {
		v.ContentType = *p.ContentType
	}
	if a := p.Attributes; a != nil {
		if a.Enabled != nil {
			v.Enabled = *a.Enabled
		}
		v.NotBefore, v.Expires = a.NotBefore, a.Expires
	}
	s, ok := st.active[key]
	if !ok {
		s = &secret{Name: name}
		st.active[key] = s
	}
	s.Versions = append(s.Versions, v)
	if err := st.saveLocked(); err != nil {
		return bundleJSON{}, err
	}
	return s.bundle(v, host, bundleOpts{withValue: true, withVersion: true}), nil
}

// versionLocked finds a live secret's version ("" = the latest); st.mu must
// be held.
func (st *store) versionLocked(name, ver string) (*secret, *version, error) {
	s, ok := st.active[strings.ToLower(name)]
	if !ok {
		return nil, nil, notFound(name)
	}
	v := s.latest()
	if ver != "" {
		if v = s.find(ver); v == nil {
			return nil, nil, versionNotFound(name, ver)
		}
	}
	return s, v, nil
}

func (st *store) get(name, ver, host string) (bundleJSON, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, v, err := st.versionLocked(name, ver)
	if err != nil {
		return bundleJSON{}, err
	}
	if !v.Enabled {
		return bundleJSON{}, &apiError{403, "Forbidden", "SecretDisabled", "Operation get is not allowed on a disabled secret."}
	}
	return s.bundle(v, host, bundleOpts{withValue: true, withVersion: true}), nil
}

func (st *store) update(name, ver string, p *updateParams, now time.Time, host string) (bundleJSON, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, v, err := st.versionLocked(name, ver)
	if err != nil {
		return bundleJSON{}, err
	}
	if p.ContentType != nil {
		v.ContentType = *p.ContentType
	}
	if a := p.Attributes; a != nil {
		if a.Enabled != nil {
			v.Enabled = *a.Enabled
		}
		if a.NotBefore != nil {
			v.NotBefore = a.NotBefore
		}
		if a.Expires != nil {
			v.Expires = a.Expires
		}
	}
	if p.Tags != nil {
		v.Tags = maps.Clone(p.Tags)
	}
	v.Updated = toUnix(now)
	if err := st.saveLocked(); err != nil {
		return bundleJSON{}, err
	}
	return s.bundle(v, host, bundleOpts{withVersion: true}), nil
}

func (st *store) delete(name string, now time.Time, host string) (bundleJSON, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	key := strings.ToLower(name)
	s, ok := st.active[key]
	if !ok {
		return bundleJSON{}, notFound(name)
	}
	delete(st.active, key)
	s.DeletedDate = toUnix(now)
	s.ScheduledPurgeDate = toUnix(now.Add(recoverableDays * 24 * time.Hour))
	st.deleted[key] = s
	if err := st.saveLocked(); err != nil {
		return bundleJSON{}, err
	}
	return s.bundle(s.latest(), host, bundleOpts{withVersion: true, deleted: true}), nil
}

func (st *store) getDeleted(name, host string) (bundleJSON, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.deleted[strings.ToLower(name)]
	if !ok {
		return bundleJSON{}, deletedNotFound(name)
	}
	return s.bundle(s.latest(), host, bundleOpts{withVersion: true, deleted: true}), nil
}

func (st *store) purge(name string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	key := strings.ToLower(name)
	if _, ok := st.deleted[key]; !ok {
		return deletedNotFound(name)
	}
	delete(st.deleted, key)
	return st.saveLocked()
}

func (st *store) recover(name, host string) (bundleJSON, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	key := strings.ToLower(name)
	s, ok := st.deleted[key]
	if !ok {
		return bundleJSON{}, deletedNotFound(name)
	}
	delete(st.deleted, key)
	s.DeletedDate, s.ScheduledPurgeDate = 0, 0
	st.active[key] = s
	if err := st.saveLocked(); err != nil {
		return bundleJSON{}, err
	}
	return s.bundle(s.latest(), host, bundleOpts{withVersion: true}), nil
}

func (st *store) list(host string) []item {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]item, 0, len(st.active))
	for key, s := range st.active {
		out = append(out, item{key, s.bundle(s.latest(), host, bundleOpts{})})
	}
	slices.SortFunc(out, func(a, b item) int { return strings.Compare(a.key, b.key) })
	return out
}

func (st *store) listDeleted(host string) []item {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]item, 0, len(st.deleted))
	for key, s := range st.deleted {
		out = append(out, item{key, s.bundle(s.latest(), host, bundleOpts{deleted: true})})
	}
	slices.SortFunc(out, func(a, b item) int { return strings.Compare(a.key, b.key) })
	return out
}

func (st *store) listVersions(name, host string) []item {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.active[strings.ToLower(name)]
	if !ok {
		return nil
	}
	out := make([]item, 0, len(s.Versions))
	for i, v := range s.Versions {
		out = append(out, item{fmt.Sprintf("%08d", i), s.bundle(v, host, bundleOpts{withVersion: true})})
	}
	return out
}

// backup returns an opaque blob holding every version of the secret.
func (st *store) backup(name string) ([]byte, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.active[strings.ToLower(name)]
	if !ok {
		return nil, notFound(name)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return append([]byte(backupMagic), b...), nil
}

func (st *store) restore(blob []byte, host string) (bundleJSON, error) {
	rest, ok := bytes.CutPrefix(blob, []byte(backupMagic))
	var s secret
	if !ok || json.Unmarshal(rest, &s) != nil || !validName(s.Name) || len(s.Versions) == 0 {
		return bundleJSON{}, malformedBackup()
	}
	s.DeletedDate, s.ScheduledPurgeDate = 0, 0
	st.mu.Lock()
	defer st.mu.Unlock()
	key := strings.ToLower(s.Name)
	if _, ok := st.active[key]; ok {
		return bundleJSON{}, &apiError{409, "Conflict", "", fmt.Sprintf("Secret %s already exists.", s.Name)}
	}
	if _, ok := st.deleted[key]; ok {
		return bundleJSON{}, &apiError{409, "Conflict", "ObjectIsDeletedButRecoverable",
			fmt.Sprintf("Secret %s is currently in a deleted but recoverable state.", s.Name)}
	}
	st.active[key] = &s
	if err := st.saveLocked(); err != nil {
		return bundleJSON{}, err
	}
	return s.bundle(s.latest(), host, bundleOpts{withVersion: true}), nil
}

// ---- persistence ----

func (st *store) load() error {
	if st.path == "" {
		return nil
	}
	b, err := os.ReadFile(st.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	var p persisted
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("read state %s: invalid JSON", st.path)
	}
	if p.Format != stateFormat {
		return fmt.Errorf("read state %s: unknown format %d", st.path, p.Format)
	}
	for _, group := range []struct {
		in  []*secret
		out map[string]*secret
	}{{p.Secrets, st.active}, {p.Deleted, st.deleted}} {
		for _, s := range group.in {
			if s == nil || !validName(s.Name) || len(s.Versions) == 0 {
				return fmt.Errorf("read state %s: invalid secret entry", st.path)
			}
			group.out[strings.ToLower(s.Name)] = s
		}
	}
	return nil
}

// saveLocked writes the state atomically: a temporary file in the same
// directory, fsynced, renamed over the state file, then the directory fsynced.
// The caller holds st.mu, so writes reach the file in the order they happened.
func (st *store) saveLocked() error {
	if st.path == "" {
		return nil
	}
	p := persisted{Format: stateFormat, Secrets: sortedSecrets(st.active), Deleted: sortedSecrets(st.deleted)}
	b, err := json.Marshal(p)
	if err != nil {
		return persistFailed()
	}
	if err := writeFileAtomic(st.path, b); err != nil {
		return persistFailed()
	}
	return nil
}

func sortedSecrets(m map[string]*secret) []*secret {
	out := make([]*secret, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}

func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		_ = f.Close()
		return err
	}
	if _, err = f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err = f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// encodeBlob and decodeBlob are Key Vault's base64url encoding of byte arrays.
func encodeBlob(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func decodeBlob(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	return base64.RawURLEncoding.DecodeString(s)
}
