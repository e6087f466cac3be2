package kvemulator

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-azureml/secrets/keyvault"
)

const (
	recoveryLevel   = "Recoverable+Purgeable"
	recoverableDays = 90
	backupMagic     = "keyvaulttest-backup-v1\n"
)

// validName is Key Vault's name rule, whose one home is keyvault.ValidateName.
func validName(name string) bool { return keyvault.ValidateName(name) == nil }

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

// version is one version of a secret, as stored and persisted. Once stored it
// is never modified: an update stores a new copy.
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

// secret is a named secret with its versions, oldest first. Once stored it is
// never modified: a write stores a new secret sharing the unchanged versions.
type secret struct {
	Name               string     `json:"name"` // case of first creation
	Versions           []*version `json:"versions"`
	DeletedDate        int64      `json:"deletedDate,omitempty"`
	ScheduledPurgeDate int64      `json:"scheduledPurgeDate,omitempty"`
}

func (s *secret) latest() *version { return s.Versions[len(s.Versions)-1] }

func (s *secret) find(id string) int {
	for i, v := range s.Versions {
		if v.ID == id {
			return i
		}
	}
	return -1
}

// check rejects a secret read from a state file or a backup blob that the
// server could not serve: a bad name, no versions, a nil or malformed version.
func (s *secret) check() error {
	if s == nil || !validName(s.Name) || len(s.Versions) == 0 {
		return fmt.Errorf("invalid secret entry")
	}
	seen := make(map[string]bool, len(s.Versions))
	for _, v := range s.Versions {
		if v == nil || !validVersionID(v.ID) || seen[v.ID] || len(v.Value) > MaxValueBytes {
			return fmt.Errorf("invalid version of secret %s", s.Name)
		}
		seen[v.ID] = true
	}
	return nil
}

// withVersion returns a copy of s with v appended, or replacing the version of
// the same ID.
func (s *secret) withVersion(v *version) *secret {
	c := *s
	if i := s.find(v.ID); i >= 0 {
		c.Versions = slices.Clone(s.Versions)
		c.Versions[i] = v
	} else {
		// Appending may write into spare capacity that s's slice shares. That is
		// safe: s itself never sees past its length, and a writer only ever
		// extends the newest staged entry of a name, so a slot is written again
		// only after the entry that wrote it was discarded, never committed.
		c.Versions = append(s.Versions, v)
	}
	return &c
}

// entry is the state of one name. Entries are immutable once staged: every
// write stages a new one. Before visibleAt (Unix nanoseconds) the entry's
// last change (delete, recover or purge) is still propagating, as in Key
// Vault: the entry is not visible where that change will make it appear.
type entry struct {
	s         *secret // nil: purged; a restore of the name conflicts until visibleAt
	deleted   bool
	visibleAt int64
}

func (e *entry) hidden(now int64) bool { return e != nil && now < e.visibleAt }

// live reports whether e is a secret readable at /secrets/NAME.
func (e *entry) live(now int64) bool {
	return e != nil && e.s != nil && !e.deleted && !e.hidden(now)
}

// inTrash reports whether e is a deleted secret readable at /deletedsecrets/NAME.
func (e *entry) inTrash(now int64) bool {
	return e != nil && e.s != nil && e.deleted && !e.hidden(now)
}

// gone reports whether e holds nothing: no entry, or a purge that has propagated.
func (e *entry) gone(now int64) bool { return e == nil || (e.s == nil && !e.hidden(now)) }

// model is the vault's contents: entries by lower-cased name, and the sorted
// names of live and of deleted secrets, so that a list page costs its size.
type model struct {
	entries map[string]*entry
	active  []string
	deleted []string
}

func newModel() model { return model{entries: map[string]*entry{}} }

func (e *entry) class() int {
	switch {
	case e == nil || e.s == nil:
		return 0
	case e.deleted:
		return 2
	}
	return 1
}

func (m *model) index(class int) *[]string {
	switch class {
	case 1:
		return &m.active
	case 2:
		return &m.deleted
	}
	return nil
}

// put sets key's entry (nil removes it) and keeps the sorted indexes.
func (m *model) put(key string, e *entry) {
	old := m.entries[key]
	if e == nil {
		delete(m.entries, key)
	} else {
		m.entries[key] = e
	}
	oc, nc := old.class(), e.class()
	if oc == nc {
		return
	}
	if idx := m.index(oc); idx != nil {
		if i, ok := slices.BinarySearch(*idx, key); ok {
			*idx = slices.Delete(*idx, i, i+1)
		}
	}
	if idx := m.index(nc); idx != nil {
		if i, ok := slices.BinarySearch(*idx, key); !ok {
			*idx = slices.Insert(*idx, i, key)
		}
	}
}

// store holds the vault's contents. Readers take mu shared and see only
// committed entries. Writers are serialized by wmu: each validates against
// the committed entries and the staged ones, stages a new entry with its log
// record, and waits until a group commit has written and fsynced the record;
// only then is the entry committed (visible). A failed save commits nothing.
type store struct {
	delay time.Duration    // propagation of delete, recover and purge
	now   func() time.Time // the server's clock

	mu sync.RWMutex
	m  model

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
	st := &store{delay: delay, now: now, m: newModel(), pend: map[string]*entry{}}
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

// conflict is the 409 for a write to a name that is not free: deleted, being
// deleted or recovered, or (restore only) live or being purged.
func conflict(e *entry, name string, now int64) *apiError {
	switch {
	case e.s == nil:
		return &apiError{409, "Conflict", "ObjectIsBeingDeleted", fmt.Sprintf("Secret %s is currently being deleted.", name)}
	case e.deleted && e.hidden(now):
		return &apiError{409, "Conflict", "ObjectIsBeingDeleted", fmt.Sprintf("Secret %s is currently being deleted.", e.s.Name)}
	case e.deleted:
		return &apiError{409, "Conflict", "ObjectIsDeletedButRecoverable",
			fmt.Sprintf("Secret %s is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.", e.s.Name)}
	case e.hidden(now):
		return &apiError{409, "Conflict", "ObjectIsBeingRecovered", fmt.Sprintf("Secret %s is currently being recovered.", e.s.Name)}
	}
	return &apiError{409, "Conflict", "", fmt.Sprintf("Secret %s already exists.", e.s.Name)}
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
	return st.m.entries[key]
}

// liveVersion finds a live secret's version ("" = the latest) in e.
func liveVersion(e *entry, name, ver string, now int64) (*secret, int, error) {
	if !e.live(now) {
		return nil, 0, notFound(name)
	}
	s := e.s
	i := len(s.Versions) - 1
	if ver != "" {
		if i = s.find(ver); i < 0 {
			return nil, 0, versionNotFound(name, ver)
		}
	}
	return s, i, nil
}

func (st *store) get(name, ver string, now time.Time, host string) (bundleBody, error) {
	s, i, err := liveVersion(st.committed(strings.ToLower(name)), name, ver, now.UnixNano())
	if err != nil {
		return bundleBody{}, err
	}
	v := s.Versions[i]
	if !v.Enabled {
		return bundleBody{}, &apiError{403, "Forbidden", "SecretDisabled", "Operation get is not allowed on a disabled secret."}
	}
	return s.bundle(v, host, bundleOpts{withValue: true, withVersion: true}), nil
}

func (st *store) getDeleted(name string, now time.Time, host string) (bundleBody, error) {
	e := st.committed(strings.ToLower(name))
	if !e.inTrash(now.UnixNano()) {
		return bundleBody{}, deletedNotFound(name)
	}
	return e.s.bundle(e.s.latest(), host, bundleOpts{withVersion: true, deleted: true}), nil
}

// backup returns an opaque blob holding every version of the secret.
func (st *store) backup(name string, now time.Time) ([]byte, error) {
	e := st.committed(strings.ToLower(name))
	if !e.live(now.UnixNano()) {
		return nil, notFound(name)
	}
	b, err := json.Marshal(e.s)
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
	t := now.UnixNano()
	out := make([]bundleBody, 0, n)
	st.mu.RLock()
	defer st.mu.RUnlock()
	if kind == RouteGetSecretVersions {
		e := st.m.entries[strings.ToLower(name)]
		if !e.live(t) {
			return out, ""
		}
		s := e.s
		i := 0
		if start != "" {
			fmt.Sscanf(start, "%d", &i)
			i = max(i, 0)
		}
		for ; i < len(s.Versions) && len(out) < n; i++ {
			out = append(out, s.bundle(s.Versions[i], host, bundleOpts{withVersion: true}))
		}
		if i < len(s.Versions) {
			return out, fmt.Sprintf("%08d", i)
		}
		return out, ""
	}
	keys, deleted := st.m.active, false
	if kind == RouteGetDeletedSecrets {
		keys, deleted = st.m.deleted, true
	}
	i, _ := slices.BinarySearch(keys, start)
	for ; i < len(keys); i++ {
		e := st.m.entries[keys[i]]
		if e.hidden(t) {
			continue
		}
		if len(out) == n {
			return out, keys[i]
		}
		out = append(out, e.s.bundle(e.s.latest(), host, bundleOpts{deleted: deleted}))
	}
	return out, ""
}

// ---- writes (wmu, then a group commit) ----

// currentLocked is key's newest entry, staged or committed; st.wmu is held.
func (st *store) currentLocked(key string) *entry {
	if e, ok := st.pend[key]; ok {
		return e
	}
	return st.committed(key)
}

// visibleAfter is when a change made at now has propagated.
func (st *store) visibleAfter(now time.Time) int64 {
	if st.delay <= 0 {
		return 0
	}
	return now.Add(st.delay).UnixNano()
}

func (st *store) set(name string, p *setParams, now time.Time, host string) (bundleBody, error) {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	key, t := strings.ToLower(name), now.UnixNano()
	cur := st.currentLocked(key)
	if cur != nil && cur.s != nil && !cur.live(t) {
		return bundleBody{}, conflict(cur, name, t) // deleted, or being deleted or recovered
	}
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
	s := &secret{Name: name} // a new secret, over nothing or a purge
	if cur.live(t) {
		s = cur.s
	}
	e := &entry{s: s.withVersion(v)}
	if err := st.commitLocked(key, e, &record{Op: opVersion, Name: e.s.Name, Version: v}); err != nil {
		return bundleBody{}, err
	}
	return e.s.bundle(v, host, bundleOpts{withValue: true, withVersion: true}), nil
}

func (st *store) update(name, ver string, p *updateParams, now time.Time, host string) (bundleBody, error) {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	s, i, err := liveVersion(st.currentLocked(strings.ToLower(name)), name, ver, now.UnixNano())
	if err != nil {
		return bundleBody{}, err
	}
	v := *s.Versions[i]
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
	e := &entry{s: s.withVersion(&v)}
	if err := st.commitLocked(strings.ToLower(name), e, &record{Op: opVersion, Name: s.Name, Version: &v}); err != nil {
		return bundleBody{}, err
	}
	return e.s.bundle(&v, host, bundleOpts{withVersion: true}), nil
}

func (st *store) delete(name string, now time.Time, host string) (bundleBody, error) {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	key := strings.ToLower(name)
	cur := st.currentLocked(key)
	if !cur.live(now.UnixNano()) {
		return bundleBody{}, notFound(name)
	}
	s := *cur.s
	s.DeletedDate = now.Unix()
	s.ScheduledPurgeDate = now.Add(recoverableDays * 24 * time.Hour).Unix()
	e := &entry{s: &s, deleted: true, visibleAt: st.visibleAfter(now)}
	if err := st.commitLocked(key, e, putRecord(e)); err != nil {
		return bundleBody{}, err
	}
	return s.bundle(s.latest(), host, bundleOpts{withVersion: true, deleted: true}), nil
}

func (st *store) purge(name string, now time.Time) error {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	key := strings.ToLower(name)
	cur := st.currentLocked(key)
	if !cur.inTrash(now.UnixNano()) {
		return deletedNotFound(name)
	}
	var e *entry // gone at once
	if at := st.visibleAfter(now); at != 0 {
		e = &entry{visibleAt: at} // a restore conflicts while the purge propagates
	}
	rec := putRecord(e)
	rec.Name = cur.s.Name
	return st.commitLocked(key, e, rec)
}

func (st *store) recover(name string, now time.Time, host string) (bundleBody, error) {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	key := strings.ToLower(name)
	cur := st.currentLocked(key)
	if !cur.inTrash(now.UnixNano()) {
		return bundleBody{}, deletedNotFound(name)
	}
	s := *cur.s
	s.DeletedDate, s.ScheduledPurgeDate = 0, 0
	e := &entry{s: &s, visibleAt: st.visibleAfter(now)}
	if err := st.commitLocked(key, e, putRecord(e)); err != nil {
		return bundleBody{}, err
	}
	return s.bundle(s.latest(), host, bundleOpts{withVersion: true}), nil
}

// parseBackup reads a backup blob, refusing anything the server could not serve.
func parseBackup(blob []byte) (*secret, error) {
	rest, ok := bytes.CutPrefix(blob, []byte(backupMagic))
	var s secret
	if !ok || json.Unmarshal(rest, &s) != nil || s.check() != nil {
		return nil, malformedBackup()
	}
	s.DeletedDate, s.ScheduledPurgeDate = 0, 0
	return &s, nil
}

func (st *store) restore(blob []byte, now time.Time, host string) (bundleBody, error) {
	s, err := parseBackup(blob)
	if err != nil {
		return bundleBody{}, err
	}
	st.wmu.Lock()
	defer st.wmu.Unlock()
	key, t := strings.ToLower(s.Name), now.UnixNano()
	if cur := st.currentLocked(key); !cur.gone(t) {
		return bundleBody{}, conflict(cur, s.Name, t)
	}
	e := &entry{s: s}
	if err := st.commitLocked(key, e, putRecord(e)); err != nil {
		return bundleBody{}, err
	}
	return s.bundle(s.latest(), host, bundleOpts{withVersion: true}), nil
}

// commitLocked stages e as key's new entry and returns once it is committed:
// at once in memory, or, with a state file, after a group commit wrote and
// fsynced its record. st.wmu is held (cond.Wait releases it meanwhile). On a
// failed save nothing of the batch, nor of any write staged after it, is
// committed, and every one of them gets the error.
func (st *store) commitLocked(key string, e *entry, rec *record) error {
	if st.log == nil {
		st.mu.Lock()
		st.m.put(key, e)
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
	if err := st.log.append(buf, len(batch), &st.m, now); err != nil {
		return err
	}
	st.mu.Lock()
	for _, sg := range batch {
		st.m.put(sg.key, sg.e)
	}
	st.mu.Unlock()
	if st.log.needsCompaction(len(st.m.entries)) {
		_ = st.log.compact(&st.m, now) // best effort: the log is intact either way
	}
	return nil
}

// encodeBlob and decodeBlob are Key Vault's base64url encoding of byte arrays.
func encodeBlob(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func decodeBlob(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	return base64.RawURLEncoding.DecodeString(s)
}
