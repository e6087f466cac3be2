package kvmodel

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type ver struct {
	id string
	on bool
}

func (v *ver) VersionID() string    { return v.id }
func (v *ver) VersionEnabled() bool { return v.on }

func kindOf(err error) Kind {
	var me *Error
	if errors.As(err, &me) {
		return me.Kind
	}
	return 0
}

// step applies a transition's result, as a caller commits it.
func step(t *testing.T, m *Model[*ver], key string, e *Entry[*ver], err error) {
	t.Helper()
	require.NoError(t, err)
	m.Put(key, e)
}

// TestLifecycle walks one name through Key Vault's states with and without
// a propagation delay.
func TestLifecycle(t *testing.T) {
	for _, delay := range []time.Duration{0, time.Second} {
		t.Run(delay.String(), func(t *testing.T) {
			m := New[*ver]()
			m.Delay = delay
			t0 := time.Unix(1_700_000_000, 0)
			later := t0.Add(2 * time.Second)
			waitFor := func(t0 time.Time) time.Time { // the time at which a change made at t0 shows
				return t0.Add(delay)
			}

			e, err := m.Set(m.Get("db"), "Db", &ver{"1", true}, t0)
			step(t, m, "db", e, err)
			e, err = m.Set(m.Get("db"), "DB", &ver{"2", false}, t0)
			step(t, m, "db", e, err)
			s, v, err := LiveVersion(m.Get("db"), "db", "", t0)
			require.NoError(t, err)
			assert.Equal(t, "Db", s.Name, "spelled as first created")
			assert.Equal(t, "2", v.id)
			_, _, err = Readable(m.Get("db"), "db", "", t0)
			assert.Equal(t, Disabled, kindOf(err))
			_, v, err = Readable(m.Get("db"), "db", "1", t0)
			require.NoError(t, err)
			assert.Equal(t, "1", v.id)
			_, _, err = LiveVersion(m.Get("db"), "db", "9", t0)
			assert.Equal(t, VersionNotFound, kindOf(err))

			e, _, err = m.Update(m.Get("db"), "db", "2", t0, func(old *ver) *ver { return &ver{old.id, true} })
			step(t, m, "db", e, err)
			_, v, _ = Readable(m.Get("db"), "db", "", t0)
			assert.True(t, v.on)
			assert.Len(t, m.Get("db").S.Versions, 2)

			e, deleted, err := m.Delete(m.Get("db"), "db", t0)
			step(t, m, "db", e, err)
			assert.Equal(t, t0.Unix(), deleted.DeletedDate)
			assert.Equal(t, t0.AddDate(0, 0, RecoverableDays).Unix(), deleted.ScheduledPurgeDate)
			_, _, err = LiveVersion(m.Get("db"), "db", "", t0)
			assert.Equal(t, NotFound, kindOf(err), "gone from /secrets at once")
			_, err = m.Set(m.Get("db"), "db", &ver{"3", true}, t0)
			if delay > 0 {
				assert.Equal(t, BeingDeleted, kindOf(err))
				_, err = InTrash(m.Get("db"), "db", t0)
				assert.Equal(t, DeletedNotFound, kindOf(err), "not in the trash until propagated")
			} else {
				assert.Equal(t, IsDeleted, kindOf(err))
			}
			_, err = InTrash(m.Get("db"), "db", waitFor(t0))
			require.NoError(t, err)
			page, _ := m.Page(true, "", 25, waitFor(t0), nil)
			assert.Len(t, page, 1)

			e, _, err = m.Recover(m.Get("db"), "db", later)
			step(t, m, "db", e, err)
			_, err = m.Set(m.Get("db"), "db", &ver{"3", true}, later)
			if delay > 0 {
				assert.Equal(t, BeingRecovered, kindOf(err))
				page, _ := m.Page(false, "", 25, later, nil)
				assert.Empty(t, page, "a page skips a recover still propagating")
			} else {
				require.NoError(t, err)
			}
			s, _, err = LiveVersion(m.Get("db"), "db", "", waitFor(later))
			require.NoError(t, err)
			assert.Zero(t, s.DeletedDate)

			backup := s
			t1 := waitFor(later)
			e, _, err = m.Delete(m.Get("db"), "db", t1)
			step(t, m, "db", e, err)
			t2 := waitFor(t1)
			e, stored, err := m.Purge(m.Get("db"), "db", t2)
			step(t, m, "db", e, err)
			assert.Equal(t, "Db", stored)
			_, err = m.Restore(m.Get("db"), backup, t2)
			if delay > 0 {
				assert.Equal(t, BeingDeleted, kindOf(err), "a restore right after a purge conflicts")
			} else {
				require.NoError(t, err)
			}
			e, err = m.Restore(m.Get("db"), backup, waitFor(t2))
			step(t, m, "db", e, err)
			_, err = m.Restore(m.Get("db"), backup, waitFor(t2))
			assert.Equal(t, Exists, kindOf(err))
			assert.Equal(t, 1, m.LiveCount())
		})
	}
}

func TestHardDelete(t *testing.T) {
	m := New[*ver]()
	m.HardDelete = true
	now := time.Unix(1, 0)
	e, err := m.Set(nil, "x", &ver{"1", true}, now)
	step(t, m, "x", e, err)
	e, _, err = m.Delete(m.Get("x"), "x", now)
	step(t, m, "x", e, err)
	assert.Nil(t, m.Get("x"))
	assert.Zero(t, m.Len())
	_, _, err = m.Delete(m.Get("x"), "x", now)
	assert.Equal(t, NotFound, kindOf(err))
}

func TestPageOrderAndNext(t *testing.T) {
	m := New[*ver]()
	now := time.Unix(1, 0)
	for _, n := range []string{"c", "A", "b", "d"} {
		e, err := m.Set(nil, n, &ver{"1", true}, now)
		step(t, m, Key(n), e, err)
	}
	page, next := m.Page(false, "", 3, now, nil)
	require.Len(t, page, 3)
	assert.Equal(t, []string{"A", "b", "c"}, []string{page[0].Name, page[1].Name, page[2].Name})
	assert.Equal(t, "d", next)
	page, next = m.Page(false, next, 3, now, nil)
	assert.Len(t, page, 1)
	assert.Empty(t, next)
}

func TestCheck(t *testing.T) {
	ok := func(v *ver) error {
		if v == nil {
			return errors.New("nil")
		}
		return nil
	}
	assert.NoError(t, (&Secret[*ver]{Name: "a", Versions: []*ver{{id: "1"}, {id: "2"}}}).Check(ok))
	for _, s := range []*Secret[*ver]{
		nil,
		{Name: "a"},
		{Name: "a_b", Versions: []*ver{{id: "1"}}},
		{Name: "a", Versions: []*ver{nil}},
		{Name: "a", Versions: []*ver{{id: "1"}, {id: "1"}}},
	} {
		assert.Error(t, s.Check(ok))
	}
}
