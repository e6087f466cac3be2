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
	"strings"
	"sync"
	"time"

	"github.com/go-azureml/secrets/keyvault/internal/kvmodel"
)

const (
	recoveryLevel   = "Recoverable+Purgeable"
	recoverableDays = kvmodel.RecoverableDays
	backupMagic     = "keyvaulttest-backup-v1\n"
)

// validName is Key Vault's name rule, whose one home is keyvault.ValidateName.
func validName(name string) bool { return kvmodel.ValidName(name) }

// validVersionID reports whether id is 32 lowercase hex characters.
func validVersionID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := range len(id) {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// version is one version of a secret, as stored and persisted: the wire's
// attributes, in Unix seconds. Once stored it is never modified: an update
// stores a new copy.
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

// VersionID is the version's ID, for the model.
func (v *version) VersionID() string { return v.ID }

// VersionEnabled reports whether the version's value may be read, for the model.
func (v *version) VersionEnabled() bool { return v.Enabled }

// The vault's contents are Key Vault's model (kvmodel), shared with
// memvault; the emulator adds the wire, persistence and propagation.
type (
	secret = kvmodel.Secret[*version]
	entry  = kvmodel.Entry[*version]
	model  = kvmodel.Model[*version]
)

// checkVersion refuses a version read from a state file or a backup blob
// that the server could not serve.
func checkVersion(v *version) error {
	if v == nil || !validVersionID(v.ID) || len(v.Value) > MaxValueBytes {
		return errors.New("invalid version")
	}
	return nil
}

// store holds the vault's contents. Readers take mu shared and see only
// committed entries. Writers are serialized by wmu: each validates against
// the committed entries and the staged ones, stages a new entry with its log
// record, and waits until a group commit has written and fsynced the record;
// only then is the entry committed (visible). A failed save commits nothing.
type store struct {
	now func() time.Time // the server's clock

	mu sync.RWMutex
	m  *model // committed entries; its Delay is the propagation of delete, recover and purge

	wmu        sync.Mutex
	cond       *sync.Cond // on wmu: a group commit finished
	pend       map[string]*entry
	batch      []staged
	committing bool

	log *stateLog // nil: in memory only
}

type staged struct {
	key string
	e   *entry
	rec []byte
	w   *waiter
}

type waiter struct {
	done bool
	err  error
}

func newStore(delay time.Duration, now func() time.Time) *store {
	m := kvmodel.New[*version]()
	m.Delay = delay
	st := &store{now: now, m: m, pend: map[string]*entry{}}
	st.cond = sync.NewCond(&st.wmu)
	return st
}

// ---- wire shapes ----

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

// modelError answers a refusal of the model in Key Vault's words.
func modelError(err error) error {
	me, ok := err.(*kvmodel.Error)
	if !ok {
		return err
	}
	name := me.Name
	switch me.Kind {
	case kvmodel.NotFound:
		return notFound(name)
	case kvmodel.VersionNotFound:
		return versionNotFound(name, me.Version)
	case kvmodel.DeletedNotFound:
		return deletedNotFound(name)
	case kvmodel.Disabled:
		return &apiError{403, "Forbidden", "SecretDisabled", "Operation get is not allowed on a disabled secret."}
	case kvmodel.BeingDeleted:
		return &apiError{409, "Conflict", "ObjectIsBeingDeleted", fmt.Sprintf("Secret %s is currently being deleted.", name)}
	case kvmodel.IsDeleted:
		return &apiError{409, "Conflict", "ObjectIsDeletedButRecoverable",
			fmt.Sprintf("Secret %s is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.", name)}
	case kvmodel.BeingRecovered:
		return &apiError{409, "Conflict", "ObjectIsBeingRecovered", fmt.Sprintf("Secret %s is currently being recovered.", name)}
	case kvmodel.Exists:
		return &apiError{409, "Conflict", "", fmt.Sprintf("Secret %s already exists.", name)}
	}
	return err
}

func newVersionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ---- reads (shared lock, committed entries only) ----

func (st *store) committed(key string) *entry {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.m.Get(key)
}

func (st *store) get(name, ver string, now time.Time, host string) (bundleBody, error) {
	s, v, err := kvmodel.Readable(st.committed(kvmodel.Key(name)), name, ver, now)
	if err != nil {
		return bundleBody{}, modelError(err)
	}
	return bundleOf(s, v, host, bundleOpts{withValue: true, withVersion: true}), nil
}

func (st *store) getDeleted(name string, now time.Time, host string) (bundleBody, error) {
	s, err := kvmodel.InTrash(st.committed(kvmodel.Key(name)), name, now)
	if err != nil {
		return bundleBody{}, modelError(err)
	}
	return bundleOf(s, s.Latest(), host, bundleOpts{withVersion: true, deleted: true}), nil
}

// backup returns an opaque blob holding every version of the secret.
func (st *store) backup(name string, now time.Time) ([]byte, error) {
	s, _, err := kvmodel.LiveVersion(st.committed(kvmodel.Key(name)), name, "", now)
	if err != nil {
		return nil, modelError(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return append([]byte(backupMagic), b...), nil
}

// listPage returns up to n items of a listing, starting at key start, and the
// key of the next item ("" at the end). kind is RouteGetSecrets,
// RouteGetDeletedSecrets or RouteGetSecretVersions (of name). It costs about
// n, not the size of the vault.
func (st *store) listPage(kind, name, start string, n int, now time.Time, host string) ([]bundleBody, string) {
	out := make([]bundleBody, 0, n)
	if kind == RouteGetSecretVersions {
		s, _, err := kvmodel.LiveVersion(st.committed(kvmodel.Key(name)), name, "", now)
		if err != nil {
			return out, ""
		}
		i := 0
		if start != "" {
			fmt.Sscanf(start, "%d", &i)
			i = max(i, 0)
		}
		for ; i < len(s.Versions) && len(out) < n; i++ {
			out = append(out, bundleOf(s, s.Versions[i], host, bundleOpts{withVersion: true}))
		}
		if i < len(s.Versions) {
			return out, fmt.Sprintf("%08d", i)
		}
		return out, ""
	}
	deleted := kind == RouteGetDeletedSecrets
	var buf [maxMaxResults]*secret
	st.mu.RLock()
	secrets, next := st.m.Page(deleted, start, n, now, buf[:0])
	st.mu.RUnlock()
	for _, s := range secrets { // immutable: encoded outside the lock
		out = append(out, bundleOf(s, s.Latest(), host, bundleOpts{deleted: deleted}))
	}
	return out, next
}

// ---- writes (wmu, then a group commit) ----

// currentLocked is key's newest entry, staged or committed; st.wmu is held.
func (st *store) currentLocked(key string) *entry {
	if e, ok := st.pend[key]; ok {
		return e
	}
	return st.committed(key)
}

func (st *store) set(name string, p *setParams, now time.Time, host string) (bundleBody, error) {
	sec := now.Unix()
	v := &version{ID: newVersionID(), Value: *p.Value, Enabled: true, Created: sec, Updated: sec, Tags: maps.Clone(p.Tags)}
	if p.ContentType != nil {
		v.ContentType = *p.ContentType
	}
	if a := p.Attributes; a != nil {
		if a.Enabled != nil {
			v.Enabled = *a.Enabled
		}
		v.NotBefore, v.Expires = a.NotBefore, a.Expires
	}
	st.wmu.Lock()
	defer st.wmu.Unlock()
	key := kvmodel.Key(name)
	e, err := st.m.Set(st.currentLocked(key), name, v, now)
	if err != nil {
		return bundleBody{}, modelError(err)
	}
	if err := st.commitLocked(key, e, &record{Op: opVersion, Name: e.S.Name, Version: v}); err != nil {
		return bundleBody{}, err
	}
	return bundleOf(e.S, v, host, bundleOpts{withValue: true, withVersion: true}), nil
}

func (st *store) update(name, ver string, p *updateParams, now time.Time, host string) (bundleBody, error) {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	key := kvmodel.Key(name)
	e, v, err := st.m.Update(st.currentLocked(key), name, ver, now, func(old *version) *version {
		v := *old
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
		v.Updated = now.Unix()
		return &v
	})
	if err != nil {
		return bundleBody{}, modelError(err)
	}
	if err := st.commitLocked(key, e, &record{Op: opVersion, Name: e.S.Name, Version: v}); err != nil {
		return bundleBody{}, err
	}
	return bundleOf(e.S, v, host, bundleOpts{withVersion: true}), nil
}

func (st *store) delete(name string, now time.Time, host string) (bundleBody, error) {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	key := kvmodel.Key(name)
	e, s, err := st.m.Delete(st.currentLocked(key), name, now)
	if err != nil {
		return bundleBody{}, modelError(err)
	}
	if err := st.commitLocked(key, e, putRecord(e)); err != nil {
		return bundleBody{}, err
	}
	return bundleOf(s, s.Latest(), host, bundleOpts{withVersion: true, deleted: true}), nil
}

func (st *store) purge(name string, now time.Time) error {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	key := kvmodel.Key(name)
	e, stored, err := st.m.Purge(st.currentLocked(key), name, now)
	if err != nil {
		return modelError(err)
	}
	rec := putRecord(e)
	rec.Name = stored
	return st.commitLocked(key, e, rec)
}

func (st *store) recover(name string, now time.Time, host string) (bundleBody, error) {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	key := kvmodel.Key(name)
	e, s, err := st.m.Recover(st.currentLocked(key), name, now)
	if err != nil {
		return bundleBody{}, modelError(err)
	}
	if err := st.commitLocked(key, e, putRecord(e)); err != nil {
		return bundleBody{}, err
	}
	return bundleOf(s, s.Latest(), host, bundleOpts{withVersion: true}), nil
}

// parseBackup reads a backup blob, refusing anything the server could not serve.
func parseBackup(blob []byte) (*secret, error) {
	rest, ok := bytes.CutPrefix(blob, []byte(backupMagic))
	var s secret
	if !ok || json.Unmarshal(rest, &s) != nil || s.Check(checkVersion) != nil {
		return nil, malformedBackup()
	}
	return &s, nil
}

func (st *store) restore(blob []byte, now time.Time, host string) (bundleBody, error) {
	s, err := parseBackup(blob)
	if err != nil {
		return bundleBody{}, err
	}
	st.wmu.Lock()
	defer st.wmu.Unlock()
	key := kvmodel.Key(s.Name)
	e, err := st.m.Restore(st.currentLocked(key), s, now)
	if err != nil {
		return bundleBody{}, modelError(err)
	}
	if err := st.commitLocked(key, e, putRecord(e)); err != nil {
		return bundleBody{}, err
	}
	return bundleOf(e.S, e.S.Latest(), host, bundleOpts{withVersion: true}), nil
}

// commitLocked stages e as key's new entry and returns once it is committed:
// at once in memory, or, with a state file, after a group commit wrote and
// fsynced its record. st.wmu is held (cond.Wait releases it meanwhile). On a
// failed save nothing of the batch, nor of any write staged after it, is
// committed, and every one of them gets the error.
func (st *store) commitLocked(key string, e *entry, rec *record) error {
	if st.log == nil {
		st.mu.Lock()
		st.m.Put(key, e)
		st.mu.Unlock()
		return nil
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return persistFailed()
	}
	w := &waiter{}
	st.pend[key] = e
	st.batch = append(st.batch, staged{key: key, e: e, rec: append(b, '\n'), w: w})
	for !w.done {
		if st.committing {
			st.cond.Wait()
			continue
		}
		st.committing = true
		batch := st.batch
		st.batch = nil
		st.wmu.Unlock()
		err := st.flush(batch)
		st.wmu.Lock()
		for _, sg := range batch {
			sg.w.done, sg.w.err = true, err
			if st.pend[sg.key] == sg.e {
				delete(st.pend, sg.key)
			}
		}
		if err != nil {
			for _, sg := range st.batch {
				sg.w.done, sg.w.err = true, err
			}
			st.batch = nil
			clear(st.pend)
		}
		st.committing = false
		st.cond.Broadcast()
	}
	if w.err != nil {
		return persistFailed()
	}
	return nil
}

// flush writes a batch's records in one append and one fsync, then commits
// its entries, then compacts the file when the log has grown large. Only the
// committing writer calls it.
func (st *store) flush(batch []staged) error {
	var buf []byte
	for _, sg := range batch {
		buf = append(buf, sg.rec...)
	}
	now := st.now().UnixNano()
	if err := st.log.append(buf, len(batch), st.m, now); err != nil {
		return err
	}
	st.mu.Lock()
	for _, sg := range batch {
		st.m.Put(sg.key, sg.e)
	}
	st.mu.Unlock()
	if st.log.needsCompaction(st.m.Len()) {
		_ = st.log.compact(st.m, now) // best effort: the log is intact either way
	}
	return nil
}

// encodeBlob and decodeBlob are Key Vault's base64url encoding of byte arrays.
func encodeBlob(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func decodeBlob(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	return base64.RawURLEncoding.DecodeString(s)
}
