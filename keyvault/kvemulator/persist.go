package kvemulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-azureml/secrets/internal/safefile"
	"github.com/go-azureml/secrets/keyvault/internal/kvmodel"
)

// The state file (Options.StatePath) is a log of JSON lines: a header line
// {"format":2}, then one record per committed write, each appended and
// fsynced before the write is acknowledged. When the log has grown to about
// twice the vault's size it is compacted: rewritten atomically (temporary
// file, fsync, rename) as one record per name. So N writes cost about N, and
// a crash leaves at worst a partial last line, which loading ignores. Format
// 1, the whole vault as one JSON object, is still read.
const (
	stateFormat      = 2
	opVersion        = "ver" // set or update one version
	opPut            = "put" // a name's whole state
	maxStateBytes    = 1 << 30
	compactMinimum   = 1024 // records the log may hold beyond twice the names
	stateHeaderLine  = `{"format":2}` + "\n"
	tempPatternInfix = ".tmp-"
)

// record is one line of the state file.
type record struct {
	Op        string   `json:"op"`
	Name      string   `json:"name"`
	Version   *version `json:"v,omitempty"`         // opVersion
	Secret    *secret  `json:"secret,omitempty"`    // opPut; nil: purged (held until VisibleAt) or gone
	Deleted   bool     `json:"deleted,omitempty"`   // opPut
	VisibleAt int64    `json:"visibleAt,omitempty"` // opPut
}

// putRecord is the record of e as a name's whole state; the caller sets Name
// when e holds no secret.
func putRecord(e *entry) *record {
	r := &record{Op: opPut}
	if e != nil {
		r.Secret, r.Deleted, r.VisibleAt = e.S, e.Deleted, e.VisibleAt
		if e.S != nil {
			r.Name = e.S.Name
		}
	}
	return r
}

// apply replays r, rejecting anything the server could not serve.
func apply(m *model, r *record) error {
	if !validName(r.Name) {
		return errors.New("invalid name")
	}
	key := kvmodel.Key(r.Name)
	switch r.Op {
	case opVersion:
		v := r.Version
		if err := checkVersion(v); err != nil {
			return err
		}
		s := &secret{Name: r.Name}
		if cur := m.Get(key); cur != nil && cur.S != nil && !cur.Deleted {
			s = cur.S
		}
		m.Put(key, &entry{S: s.WithVersion(v)})
	case opPut:
		if r.Secret == nil {
			if r.VisibleAt == 0 {
				m.Put(key, nil)
			} else {
				m.Put(key, &entry{VisibleAt: r.VisibleAt})
			}
			return nil
		}
		if err := r.Secret.Check(checkVersion); err != nil {
			return err
		}
		if kvmodel.Key(r.Secret.Name) != key {
			return errors.New("name mismatch")
		}
		m.Put(key, &entry{S: r.Secret, Deleted: r.Deleted, VisibleAt: r.VisibleAt})
	default:
		return fmt.Errorf("unknown op %.20q", r.Op)
	}
	return nil
}

// stateLog is the open state file. Only the committing writer uses it.
type stateLog struct {
	path    string
	f       *os.File // opened for append
	size    int64    // bytes of committed records
	records int      // records in the file
	broken  error    // a failed write could not be undone; the next write compacts first
	syncs   int      // appends fsynced, for tests of group commit

	failWrites error // for tests: every append fails with it
}

// openLog removes stale temporary files of path, loads path into m (a
// missing file is an empty vault), and rewrites it compacted, which also
// checks that the state can be written before the server takes requests.
func openLog(path string, m *model, now int64) (*stateLog, error) {
	removeStaleTemps(path)
	if err := load(path, m); err != nil {
		return nil, err
	}
	l := &stateLog{path: path}
	if err := l.compact(m, now); err != nil {
		return nil, fmt.Errorf("state file %s cannot be written: %w", path, err)
	}
	return l, nil
}

// removeStaleTemps removes the temporary files a killed server left beside path.
func removeStaleTemps(path string) {
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+globEscape(filepath.Base(path))+tempPatternInfix+"*"))
	for _, f := range matches {
		_ = os.Remove(f)
	}
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func load(path string, m *model) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("read state %s: not a regular file", path)
	}
	// The state decides what the vault answers: it must be the user's own
	// file (not another user's, not writable by group or others).
	if err := safefile.CheckOpened(f, path, "state file"); err != nil {
		return fmt.Errorf("read state: %w; make it your own with mode 0600 (chown, chmod 600), or start from a new --state file", err)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxStateBytes+1))
	if err != nil {
		return fmt.Errorf("read state %s: %w", path, err)
	}
	if len(b) > maxStateBytes {
		return fmt.Errorf("read state %s: larger than %d bytes", path, maxStateBytes)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	first, rest, _ := bytes.Cut(b, []byte("\n"))
	var h struct {
		Format  int       `json:"format"`
		Secrets []*secret `json:"secrets"`
		Deleted []*secret `json:"deleted"`
	}
	if err := json.Unmarshal(first, &h); err != nil {
		return fmt.Errorf("read state %s: line 1 is not valid JSON; fix or remove the file", path)
	}
	switch h.Format {
	case 1:
		for _, group := range []struct {
			in      []*secret
			deleted bool
		}{{h.Secrets, false}, {h.Deleted, true}} {
			for _, s := range group.in {
				if err := s.Check(checkVersion); err != nil {
					return fmt.Errorf("read state %s: %v; fix or remove the file", path, err)
				}
				m.Put(kvmodel.Key(s.Name), &entry{S: s, Deleted: group.deleted})
			}
		}
		return nil
	case stateFormat:
	default:
		return fmt.Errorf("read state %s: unknown format %d", path, h.Format)
	}
	for n := 2; len(rest) > 0; n++ {
		var line []byte
		var complete bool
		line, rest, complete = bytes.Cut(rest, []byte("\n"))
		if !complete {
			break // a crash cut the last record short: it was never acknowledged
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r record
		if err := json.Unmarshal(line, &r); err != nil {
			return fmt.Errorf("read state %s: line %d is not valid JSON; fix or remove the file", path, n)
		}
		if err := apply(m, &r); err != nil {
			return fmt.Errorf("read state %s: line %d: %v; fix or remove the file", path, n, err)
		}
	}
	return nil
}

// append writes n records in one write and one fsync. On failure it undoes
// the partial write, so the file never holds an unacknowledged record.
func (l *stateLog) append(b []byte, n int, m *model, now int64) error {
	if l.failWrites != nil {
		return l.failWrites
	}
	if l.broken != nil {
		if err := l.compact(m, now); err != nil {
			return err
		}
	}
	_, err := l.f.Write(b)
	if err == nil {
		err = l.f.Sync()
	}
	if err != nil {
		if terr := l.f.Truncate(l.size); terr != nil {
			l.broken = terr
		} else if serr := l.f.Sync(); serr != nil {
			l.broken = serr
		}
		return err
	}
	l.size += int64(len(b))
	l.records += n
	l.syncs++
	return nil
}

// needsCompaction reports whether the log holds many more records than names.
func (l *stateLog) needsCompaction(names int) bool {
	return l.records > 2*names+compactMinimum
}

// compact rewrites the file atomically from m, one record per name, dropping
// purges that have propagated, and reopens it for appending.
func (l *stateLog) compact(m *model, now int64) error {
	var buf bytes.Buffer
	buf.WriteString(stateHeaderLine)
	n := 0
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, key := range m.Keys() {
		e := m.Get(key)
		if e.Gone(now) {
			continue
		}
		r := putRecord(e)
		if r.Name == "" {
			r.Name = key
		}
		if err := enc.Encode(r); err != nil {
			return err
		}
		n++
	}
	if err := writeFileAtomic(l.path, buf.Bytes()); err != nil {
		return err
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if l.f != nil {
		_ = l.f.Close()
	}
	l.f, l.size, l.records, l.broken = f, int64(buf.Len()), n, nil
	return nil
}

func (l *stateLog) close() {
	if l != nil && l.f != nil {
		_ = l.f.Close()
	}
}

func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+tempPatternInfix+"*")
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
