// Package kvmodel is the in-memory model of an Azure Key Vault's secrets,
// shared by memvault and the emulator (kvemulator): names (case-insensitive,
// spelled as first created), versions (oldest first, the last is the
// latest), disabled versions, soft delete, recover, purge, restore, the
// conflicts Key Vault answers, propagation of delete, recover and purge, and
// the sorted indexes that make a list page cost its size.
//
// The model holds immutable values: a Secret and its versions are never
// modified once stored, and every change is a new Entry. Transitions are
// pure: each takes a name's current entry and returns its next one (or an
// *Error), so that a caller can validate a write against state it has not
// committed yet (the emulator commits only after its state file is saved).
// Put commits an entry. The model does no locking: callers serialize writes
// and may read concurrently with each other, as with a map.
//
// A version's attributes are the caller's (memvault keeps
// keyvault.Properties, the emulator the wire's Unix seconds): the model needs
// only a version's ID and whether it is enabled.
package kvmodel

import (
	"fmt"
	"slices"
	"time"

	"github.com/go-azureml/secrets/keyvault"
)

// RecoverableDays is how long a deleted secret stays recoverable before its
// scheduled purge date: Key Vault's default.
const RecoverableDays = 90

// Version is what the model needs of a secret's version. Versions are
// immutable once stored; implementations are usually pointers.
type Version interface {
	VersionID() string
	VersionEnabled() bool
}

// Key is the model's key of a name: Key Vault's names are case-insensitive.
func Key(name string) string { return keyvault.NameKey(name) }

// ValidName reports whether name follows Key Vault's name rule, whose one
// home is keyvault.ValidateName.
func ValidName(name string) bool { return keyvault.ValidateName(name) == nil }

// Secret is a named secret with its versions, oldest first. It is never
// modified once stored: a write makes a new Secret sharing the unchanged
// versions. The JSON shape is the emulator's state file and backup format.
type Secret[V Version] struct {
	Name               string `json:"name"` // as first spelled
	Versions           []V    `json:"versions"`
	DeletedDate        int64  `json:"deletedDate,omitempty"`        // Unix seconds; set while deleted
	ScheduledPurgeDate int64  `json:"scheduledPurgeDate,omitempty"` // Unix seconds; set while deleted
}

// Latest is the secret's newest version.
func (s *Secret[V]) Latest() V { return s.Versions[len(s.Versions)-1] }

// Find is the index of the version with ID id, or -1.
func (s *Secret[V]) Find(id string) int {
	for i, v := range s.Versions {
		if v.VersionID() == id {
			return i
		}
	}
	return -1
}

// WithVersion returns a copy of s with v appended, or replacing the version
// of the same ID.
func (s *Secret[V]) WithVersion(v V) *Secret[V] {
	c := *s
	if i := s.Find(v.VersionID()); i >= 0 {
		c.Versions = slices.Clone(s.Versions)
		c.Versions[i] = v
	} else {
		// Appending may write into spare capacity that s's slice shares. That is
		// safe: s itself never sees past its length, and writers always extend a
		// name's newest entry, so a slot is written again only after the entry
		// that wrote it was discarded (never committed).
		c.Versions = append(s.Versions, v)
	}
	return &c
}

// Check rejects a secret the model could not serve, as read from a file or
// a backup: a bad name, no versions, a version checkVersion refuses (it
// must refuse a nil one), or two versions of one ID.
func (s *Secret[V]) Check(checkVersion func(V) error) error {
	if s == nil || !ValidName(s.Name) || len(s.Versions) == 0 {
		return fmt.Errorf("invalid secret entry")
	}
	seen := make(map[string]bool, len(s.Versions))
	for _, v := range s.Versions {
		if err := checkVersion(v); err != nil || seen[v.VersionID()] {
			return fmt.Errorf("invalid version of secret %s", s.Name)
		}
		seen[v.VersionID()] = true
	}
	return nil
}

// Entry is the state of one name. Before VisibleAt (Unix nanoseconds) the
// entry's last change (delete, recover or purge) is still propagating, as in
// Key Vault: the entry is not visible where that change will make it appear.
type Entry[V Version] struct {
	S         *Secret[V] // nil: purged; a restore of the name conflicts until VisibleAt
	Deleted   bool
	VisibleAt int64
}

// Hidden reports whether e's last change is still propagating at now (Unix
// nanoseconds). An entry whose VisibleAt is 0 is never hidden, whatever the
// clock says.
func (e *Entry[V]) Hidden(now int64) bool { return e != nil && e.VisibleAt != 0 && now < e.VisibleAt }

// Live reports whether e is a secret readable at /secrets/NAME.
func (e *Entry[V]) Live(now int64) bool {
	return e != nil && e.S != nil && !e.Deleted && !e.Hidden(now)
}

// InTrash reports whether e is a deleted secret readable at /deletedsecrets/NAME.
func (e *Entry[V]) InTrash(now int64) bool {
	return e != nil && e.S != nil && e.Deleted && !e.Hidden(now)
}

// Gone reports whether e holds nothing: no entry, or a purge that has propagated.
func (e *Entry[V]) Gone(now int64) bool { return e == nil || (e.S == nil && !e.Hidden(now)) }

func (e *Entry[V]) class() int {
	switch {
	case e == nil || e.S == nil:
		return 0
	case e.Deleted:
		return 2
	}
	return 1
}

// Model is a vault's secrets: entries by Key, and the sorted keys of live
// and of deleted secrets. The zero value is not usable; call New.
type Model[V Version] struct {
	// Delay is how long a delete, recover or purge takes to propagate; 0
	// makes every change visible at once.
	Delay time.Duration
	// HardDelete makes a delete final, as in a vault without soft delete.
	HardDelete bool

	entries map[string]*Entry[V]
	active  []string
	deleted []string
}

// New returns an empty model.
func New[V Version]() *Model[V] { return &Model[V]{entries: map[string]*Entry[V]{}} }

// Get is the committed entry of key (nil if none).
func (m *Model[V]) Get(key string) *Entry[V] { return m.entries[key] }

// Len is the number of entries, hidden ones included.
func (m *Model[V]) Len() int { return len(m.entries) }

// LiveCount is the number of live secrets, hidden ones included.
func (m *Model[V]) LiveCount() int { return len(m.active) }

// Keys returns every entry's key, sorted.
func (m *Model[V]) Keys() []string {
	keys := make([]string, 0, len(m.entries))
	for k := range m.entries {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (m *Model[V]) index(class int) *[]string {
	switch class {
	case 1:
		return &m.active
	case 2:
		return &m.deleted
	}
	return nil
}

// Put commits e as key's entry (nil removes it) and keeps the sorted indexes.
func (m *Model[V]) Put(key string, e *Entry[V]) {
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

// Page appends to out up to n visible secrets, live ones or (deleted) deleted
// ones, in key order from key start on, and returns them with the key of the
// next one ("" at the end). It costs about n, not the size of the vault.
func (m *Model[V]) Page(deleted bool, start string, n int, now time.Time, out []*Secret[V]) ([]*Secret[V], string) {
	t := now.UnixNano()
	keys := m.active
	if deleted {
		keys = m.deleted
	}
	i, _ := slices.BinarySearch(keys, start)
	for taken := 0; i < len(keys); i++ {
		e := m.entries[keys[i]]
		if e.Hidden(t) {
			continue
		}
		if taken == n {
			return out, keys[i]
		}
		out = append(out, e.S)
		taken++
	}
	return out, ""
}

// visibleAfter is when a change made at now has propagated (0: at once).
func (m *Model[V]) visibleAfter(now time.Time) int64 {
	if m.Delay <= 0 {
		return 0
	}
	return now.Add(m.Delay).UnixNano()
}

// ---- reads ----

// LiveVersion finds version ver ("" = the latest) of the live secret in e.
func LiveVersion[V Version](e *Entry[V], name, ver string, now time.Time) (*Secret[V], V, error) {
	var zero V
	if !e.Live(now.UnixNano()) {
		return nil, zero, &Error{Kind: NotFound, Name: name}
	}
	s := e.S
	i := len(s.Versions) - 1
	if ver != "" {
		if i = s.Find(ver); i < 0 {
			return nil, zero, &Error{Kind: VersionNotFound, Name: name, Version: ver}
		}
	}
	return s, s.Versions[i], nil
}

// Readable is LiveVersion for reading the value: a disabled version is an
// *Error of kind Disabled.
func Readable[V Version](e *Entry[V], name, ver string, now time.Time) (*Secret[V], V, error) {
	s, v, err := LiveVersion(e, name, ver, now)
	if err == nil && !v.VersionEnabled() {
		var zero V
		return nil, zero, &Error{Kind: Disabled, Name: name}
	}
	return s, v, err
}

// InTrash returns the deleted secret in e, visible at now.
func InTrash[V Version](e *Entry[V], name string, now time.Time) (*Secret[V], error) {
	if !e.InTrash(now.UnixNano()) {
		return nil, &Error{Kind: DeletedNotFound, Name: name}
	}
	return e.S, nil
}

// ---- transitions: each takes a name's current entry, returns its next ----

// Set adds version v to name, creating the secret (spelled name) if it is
// not live. A deleted name, or one whose delete or recover is propagating,
// conflicts.
func (m *Model[V]) Set(cur *Entry[V], name string, v V, now time.Time) (*Entry[V], error) {
	t := now.UnixNano()
	if cur != nil && cur.S != nil && !cur.Live(t) {
		return nil, conflict(cur, name, t)
	}
	s := &Secret[V]{Name: name} // a new secret, over nothing or a purge
	if cur.Live(t) {
		s = cur.S
	}
	return &Entry[V]{S: s.WithVersion(v)}, nil
}

// Update replaces version ver ("" = the latest) of the live secret name with
// change(old); change must keep the version's ID.
func (m *Model[V]) Update(cur *Entry[V], name, ver string, now time.Time, change func(V) V) (*Entry[V], V, error) {
	s, old, err := LiveVersion(cur, name, ver, now)
	if err != nil {
		var zero V
		return nil, zero, err
	}
	v := change(old)
	return &Entry[V]{S: s.WithVersion(v)}, v, nil
}

// Delete deletes the live secret name: softly (recoverable for
// RecoverableDays, visible in the trash once the delete has propagated), or,
// with HardDelete, for good (a nil entry).
func (m *Model[V]) Delete(cur *Entry[V], name string, now time.Time) (*Entry[V], *Secret[V], error) {
	if !cur.Live(now.UnixNano()) {
		return nil, nil, &Error{Kind: NotFound, Name: name}
	}
	if m.HardDelete {
		return nil, cur.S, nil
	}
	s := *cur.S
	s.DeletedDate = now.Unix()
	s.ScheduledPurgeDate = now.Add(RecoverableDays * 24 * time.Hour).Unix()
	return &Entry[V]{S: &s, Deleted: true, VisibleAt: m.visibleAfter(now)}, &s, nil
}

// Recover brings back the deleted secret name with all its versions; it is
// live once the recover has propagated.
func (m *Model[V]) Recover(cur *Entry[V], name string, now time.Time) (*Entry[V], *Secret[V], error) {
	if _, err := InTrash(cur, name, now); err != nil {
		return nil, nil, err
	}
	s := *cur.S
	s.DeletedDate, s.ScheduledPurgeDate = 0, 0
	return &Entry[V]{S: &s, VisibleAt: m.visibleAfter(now)}, &s, nil
}

// Purge forgets the deleted secret name: at once (a nil entry), or, with a
// propagation delay, an empty entry that a restore conflicts with until the
// purge has propagated. It also returns the secret's stored spelling.
func (m *Model[V]) Purge(cur *Entry[V], name string, now time.Time) (*Entry[V], string, error) {
	if _, err := InTrash(cur, name, now); err != nil {
		return nil, "", err
	}
	if at := m.visibleAfter(now); at != 0 {
		return &Entry[V]{VisibleAt: at}, cur.S.Name, nil
	}
	return nil, cur.S.Name, nil
}

// Restore brings back s (from a backup) over a name that holds nothing.
func (m *Model[V]) Restore(cur *Entry[V], s *Secret[V], now time.Time) (*Entry[V], error) {
	if t := now.UnixNano(); !cur.Gone(t) {
		return nil, conflict(cur, s.Name, t)
	}
	c := *s
	c.DeletedDate, c.ScheduledPurgeDate = 0, 0
	return &Entry[V]{S: &c}, nil
}

// ---- errors ----

// Kind is what went wrong in a transition or a read.
type Kind int

// The kinds of Error.
const (
	NotFound        Kind = iota + 1 // no live secret of the name
	VersionNotFound                 // the secret has no such version
	DeletedNotFound                 // no deleted secret of the name (visible yet)
	Disabled                        // the version is disabled: its value cannot be read
	IsDeleted                       // conflict: the name is deleted but recoverable
	BeingDeleted                    // conflict: a delete or purge of the name is propagating
	BeingRecovered                  // conflict: a recover of the name is propagating
	Exists                          // conflict: the name is live (restore)
)

// Error is a refused read or transition. Name is the name as the message
// should spell it; Version is set for VersionNotFound.
type Error struct {
	Kind    Kind
	Name    string
	Version string
}

func (e *Error) Error() string {
	switch e.Kind {
	case NotFound:
		return "secret " + e.Name + " not found"
	case VersionNotFound:
		return "secret " + e.Name + " has no version " + e.Version
	case DeletedNotFound:
		return "deleted secret " + e.Name + " not found"
	case Disabled:
		return "secret " + e.Name + " is disabled"
	case IsDeleted:
		return "secret " + e.Name + " is deleted but recoverable"
	case BeingDeleted:
		return "secret " + e.Name + " is being deleted"
	case BeingRecovered:
		return "secret " + e.Name + " is being recovered"
	case Exists:
		return "secret " + e.Name + " already exists"
	}
	return "secret " + e.Name + ": error"
}

// conflict is the conflict of a write to a name that is not free: deleted,
// being deleted or recovered, or (restore only) live or being purged.
func conflict[V Version](e *Entry[V], name string, now int64) *Error {
	switch {
	case e.S == nil:
		return &Error{Kind: BeingDeleted, Name: name}
	case e.Deleted && e.Hidden(now):
		return &Error{Kind: BeingDeleted, Name: e.S.Name}
	case e.Deleted:
		return &Error{Kind: IsDeleted, Name: e.S.Name}
	case e.Hidden(now):
		return &Error{Kind: BeingRecovered, Name: e.S.Name}
	}
	return &Error{Kind: Exists, Name: e.S.Name}
}
