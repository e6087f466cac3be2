package keyvaulttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-azureml/secrets/keyvault"
)

// RunConformance checks that a keyvault.Store behaves as Azure Key Vault
// does. newStore must return a new, empty store each time it is called (every
// subtest calls it once). Subtests that need an optional ability
// (keyvault.Recoverer, keyvault.Purger, keyvault.VersionLister,
// keyvault.PropertiesUpdater, keyvault.DeletedLister) are skipped, with the
// reason, for a store without it.
//
// The subtests:
//
//	MissingNameIsNotFound      GetSecret of a name never set wraps ErrNotFound
//	RoundTrip                  values (ASCII, unicode, empty-ish, multi-line, exactly 25 KiB) come back intact
//	ValueTooLarge              a value over 25 KiB wraps ErrInvalidValue and nothing is stored
//	Metadata                   content type, tags, enabled, expires, not-before round-trip (to the second)
//	NewVersionEachSet          each set makes a new 32-hex version; get by version returns the old value
//	MissingVersionIsNotFound   an unknown version wraps ErrNotFound
//	CaseInsensitiveNames       DB-Password and db-password are one secret
//	ListHasNoValuesAndPages    30 secrets (more than one 25-item page) listed, names and versions only
//	DeleteThenGet              a deleted secret wraps ErrNotFound and leaves the list
//	DeleteMissing              deleting a name never set wraps ErrNotFound
//	SetAfterDelete             ErrConflict while soft-deleted; settable again after purge; recover brings all versions back
//	                           (polling, as the SDKs do, while delete, recover and purge propagate)
//	DisabledVersion            a disabled version wraps ErrDisabled and ErrPermission; older enabled versions stay readable
//	ListVersions               every version listed, without values
//	InvalidNames               bad names wrap ErrInvalidName for every method
//	CancelledContext           a cancelled context comes back as context.Canceled
//	Concurrent                 32 goroutines setting and getting at once (run with -race)
//	NoAliasing                 maps passed in or returned are copies
func RunConformance(t *testing.T, newStore func(t *testing.T) keyvault.Store) {
	t.Helper()
	for _, tc := range conformanceTests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

type conformanceTest struct {
	name string
	fn   func(t *testing.T, s keyvault.Store)
}

var conformanceTests = []conformanceTest{
	{"MissingNameIsNotFound", testMissingName},
	{"RoundTrip", testRoundTrip},
	{"ValueTooLarge", testValueTooLarge},
	{"Metadata", testMetadata},
	{"NewVersionEachSet", testNewVersionEachSet},
	{"MissingVersionIsNotFound", testMissingVersion},
	{"CaseInsensitiveNames", testCaseInsensitive},
	{"ListHasNoValuesAndPages", testList},
	{"DeleteThenGet", testDeleteThenGet},
	{"DeleteMissing", testDeleteMissing},
	{"SetAfterDelete", testSetAfterDelete},
	{"DisabledVersion", testDisabledVersion},
	{"ListVersions", testListVersions},
	{"InvalidNames", testInvalidNames},
	{"CancelledContext", testCancelledContext},
	{"Concurrent", testConcurrent},
	{"NoAliasing", testNoAliasing},
}

// checks without testify, so that importing keyvaulttest costs users nothing.

// req(f())(t) fails t if f returned an error, else returns f's value.
func req[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

// propagationTimeout bounds how long eventually polls.
const propagationTimeout = 60 * time.Second

// eventually calls f until it returns a result or an error that wraps none
// of retry, waiting between calls as the SDKs' pollers do (10 ms doubling to
// 1 s here), for at most propagationTimeout. Key Vault's delete, recover and
// purge take seconds to show; a store that applies them at once returns on
// the first call.
func eventually[T any](t *testing.T, f func() (T, error), retry ...error) (T, error) {
	t.Helper()
	deadline := time.Now().Add(propagationTimeout)
	delay := 10 * time.Millisecond
	for {
		v, err := f()
		if err == nil || time.Now().After(deadline) || !slices.ContainsFunc(retry, func(target error) bool { return errors.Is(err, target) }) {
			return v, err
		}
		timer := time.NewTimer(delay)
		select {
		case <-t.Context().Done():
			timer.Stop()
			return v, err
		case <-timer.C:
		}
		delay = min(2*delay, time.Second)
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func wantErr(t *testing.T, err error, targets ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one wrapping %v", targets)
	}
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Fatalf("got error %q (%T), want one wrapping %q", err, err, target)
		}
	}
}

func equal[T comparable](t *testing.T, got, want T, what string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func isVersionID(v string) bool {
	if len(v) != 32 {
		return false
	}
	for _, c := range v {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func get(t *testing.T, s keyvault.Store, name, version string) string {
	t.Helper()
	sec := req(s.GetSecret(t.Context(), name, version))(t)
	return sec.Value.Reveal()
}

func set(t *testing.T, s keyvault.Store, name, value string) keyvault.Properties {
	t.Helper()
	return req(s.SetSecret(t.Context(), name, value, nil))(t)
}

func list(t *testing.T, s keyvault.Store) []keyvault.Properties {
	t.Helper()
	var out []keyvault.Properties
	for p, err := range s.ListSecrets(t.Context()) {
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		out = append(out, p)
	}
	return out
}

func testMissingName(t *testing.T, s keyvault.Store) {
	_, err := s.GetSecret(t.Context(), "never-set", "")
	wantErr(t, err, keyvault.ErrNotFound)
}

func testRoundTrip(t *testing.T, s keyvault.Store) {
	values := map[string]string{
		"ascii":      "p@ssw0rd!",
		"unicode":    "pässwörd-密码-🔑",
		"multi-line": "-----BEGIN KEY-----\nabc\ndef\n-----END KEY-----\n",
		"space":      " ",
		"json":       `{"user":"u","password":"p"}`,
		"max-size":   strings.Repeat("x", keyvault.MaxValueBytes),
	}
	for name, v := range values {
		p := set(t, s, name, v)
		equal(t, p.Name, name, "set: name")
		if !isVersionID(p.Version) {
			t.Fatalf("set %s: version %q is not 32 lowercase hex characters", name, p.Version)
		}
		if !p.Enabled {
			t.Fatalf("set %s: a new version must be enabled by default", name)
		}
		sec := req(s.GetSecret(t.Context(), name, ""))(t)
		equal(t, sec.Value.Reveal(), v, "get "+name)
		equal(t, sec.Name, name, "get: name")
		equal(t, sec.Version, p.Version, "get: version")
	}
}

func testValueTooLarge(t *testing.T, s keyvault.Store) {
	_, err := s.SetSecret(t.Context(), "big", strings.Repeat("x", keyvault.MaxValueBytes+1), nil)
	wantErr(t, err, keyvault.ErrInvalidValue)
	_, err = s.GetSecret(t.Context(), "big", "")
	wantErr(t, err, keyvault.ErrNotFound)
}

func testMetadata(t *testing.T, s keyvault.Store) {
	exp := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	nbf := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	opts := &keyvault.SetSecretOptions{
		ContentType: "application/json",
		Tags:        map[string]string{"owner": "ml-team", "env": "dev"},
		Expires:     exp, NotBefore: nbf,
	}
	p := req(s.SetSecret(t.Context(), "meta", `{"a":1}`, opts))(t)
	sec := req(s.GetSecret(t.Context(), "meta", ""))(t)
	for what, got := range map[string]keyvault.Properties{"set": p, "get": sec.Properties} {
		equal(t, got.ContentType, "application/json", what+": content type")
		equal(t, len(got.Tags), 2, what+": tag count")
		equal(t, got.Tags["owner"], "ml-team", what+": tag owner")
		equal(t, got.Expires.Unix(), exp.Unix(), what+": expires")
		equal(t, got.NotBefore.Unix(), nbf.Unix(), what+": not-before")
		equal(t, got.Enabled, true, what+": enabled")
		if got.Created.IsZero() || got.Updated.IsZero() {
			t.Fatalf("%s: created and updated must be set", what)
		}
		if d := time.Since(got.Created); d < -time.Minute || d > time.Hour {
			t.Fatalf("%s: created %v is not about now", what, got.Created)
		}
	}
	// A set without options has no metadata.
	p = set(t, s, "plain", "v")
	equal(t, p.ContentType, "", "plain: content type")
	equal(t, len(p.Tags), 0, "plain: tags")
	if !p.Expires.IsZero() || !p.NotBefore.IsZero() {
		t.Fatalf("plain: expires/not-before must be unset, got %v/%v", p.Expires, p.NotBefore)
	}
}

func testNewVersionEachSet(t *testing.T, s keyvault.Store) {
	v1 := set(t, s, "rotated", "one")
	v2 := set(t, s, "rotated", "two")
	if v1.Version == v2.Version {
		t.Fatalf("two sets gave the same version %q", v1.Version)
	}
	equal(t, get(t, s, "rotated", ""), "two", "latest")
	equal(t, get(t, s, "rotated", v1.Version), "one", "by old version")
	equal(t, get(t, s, "rotated", v2.Version), "two", "by new version")
	sec := req(s.GetSecret(t.Context(), "rotated", v1.Version))(t)
	equal(t, sec.Version, v1.Version, "version of old get")
}

func testMissingVersion(t *testing.T, s keyvault.Store) {
	set(t, s, "versioned", "v")
	_, err := s.GetSecret(t.Context(), "versioned", "0123456789abcdef0123456789abcdef")
	wantErr(t, err, keyvault.ErrNotFound)
}

func testCaseInsensitive(t *testing.T, s keyvault.Store) {
	set(t, s, "DB-Password", "one")
	equal(t, get(t, s, "db-password", ""), "one", "lower-case get")
	equal(t, get(t, s, "DB-PASSWORD", ""), "one", "upper-case get")
	set(t, s, "db-password", "two")
	equal(t, get(t, s, "DB-Password", ""), "two", "get after set in other case")
	ps := list(t, s)
	equal(t, len(ps), 1, "list length: one secret whatever the case")
	if !strings.EqualFold(ps[0].Name, "db-password") {
		t.Fatalf("listed name %q", ps[0].Name)
	}
	noErr(t, s.DeleteSecret(t.Context(), "DB-PASSWORD"))
	_, err := s.GetSecret(t.Context(), "db-password", "")
	wantErr(t, err, keyvault.ErrNotFound)
}

func testList(t *testing.T, s keyvault.Store) {
	const n = 30
	want := map[string]bool{}
	for i := range n {
		name := fmt.Sprintf("list-%02d", i)
		p := set(t, s, name, "value-"+name)
		want[name] = true
		_ = p
	}
	// A second version of one must not list it twice.
	set(t, s, "list-00", "again")
	ps := list(t, s)
	equal(t, len(ps), n, "listed count")
	for _, p := range ps {
		if !want[p.Name] {
			t.Fatalf("listed %q, which was never set (or twice)", p.Name)
		}
		delete(want, p.Name)
		if !p.Enabled {
			t.Fatalf("listed %q as disabled", p.Name)
		}
	}
	// Properties has no value field: a list cannot carry values. Check
	// that no listed field happens to hold one either.
	for _, p := range ps {
		for _, f := range []string{p.Name, p.Version, p.ContentType} {
			if strings.HasPrefix(f, "value-") || f == "again" {
				t.Fatalf("list leaked a value in %+v", p)
			}
		}
	}
	// Stopping early must be allowed.
	for range s.ListSecrets(t.Context()) {
		break
	}
}

func testDeleteThenGet(t *testing.T, s keyvault.Store) {
	set(t, s, "doomed", "v")
	set(t, s, "kept", "v")
	noErr(t, s.DeleteSecret(t.Context(), "doomed"))
	_, err := s.GetSecret(t.Context(), "doomed", "")
	wantErr(t, err, keyvault.ErrNotFound)
	ps := list(t, s)
	equal(t, len(ps), 1, "list after delete")
	equal(t, ps[0].Name, "kept", "remaining secret")
}

func testDeleteMissing(t *testing.T, s keyvault.Store) {
	wantErr(t, s.DeleteSecret(t.Context(), "never-set"), keyvault.ErrNotFound)
}

func testSetAfterDelete(t *testing.T, s keyvault.Store) {
	v1 := set(t, s, "phoenix", "one")
	set(t, s, "phoenix", "two")
	noErr(t, s.DeleteSecret(t.Context(), "phoenix"))
	_, soft := s.(keyvault.Recoverer)
	purger, canPurge := s.(keyvault.Purger)
	if !soft && !canPurge {
		// A store without soft delete frees the name at once.
		set(t, s, "phoenix", "three")
		equal(t, get(t, s, "phoenix", ""), "three", "set after hard delete")
		return
	}
	_, err := s.SetSecret(t.Context(), "phoenix", "three", nil)
	wantErr(t, err, keyvault.ErrConflict)
	if dl, ok := s.(keyvault.DeletedLister); ok {
		// Key Vault lists a deleted secret once the delete has propagated.
		names := req(eventually(t, func() (string, error) {
			var names []string
			for d, err := range dl.ListDeletedSecrets(t.Context()) {
				if err != nil {
					return "", err
				}
				names = append(names, d.Name)
				if d.DeletedDate.IsZero() {
					t.Fatalf("deleted secret %q has no deleted date", d.Name)
				}
			}
			if len(names) == 0 {
				return "", keyvault.ErrNotFound
			}
			return strings.Join(names, ","), nil
		}, keyvault.ErrNotFound))(t)
		equal(t, names, "phoenix", "deleted secrets")
	}
	if r, ok := s.(keyvault.Recoverer); ok {
		// Recover answers not found until the delete has propagated, and the
		// recovered secret reads once the recover has: poll, as SDKs do.
		p := req(eventually(t, func() (keyvault.Properties, error) {
			return r.RecoverDeletedSecret(t.Context(), "phoenix")
		}, keyvault.ErrNotFound))(t)
		equal(t, strings.ToLower(p.Name), "phoenix", "recovered name")
		latest := req(eventually(t, func() (keyvault.Secret, error) {
			return s.GetSecret(t.Context(), "phoenix", "")
		}, keyvault.ErrNotFound))(t)
		equal(t, latest.Value.Reveal(), "two", "latest after recover")
		equal(t, get(t, s, "phoenix", v1.Version), "one", "old version after recover")
		noErr(t, s.DeleteSecret(t.Context(), "phoenix"))
	}
	if !canPurge {
		t.Log("store cannot purge: skipping set after purge")
		return
	}
	_, err = eventually(t, func() (struct{}, error) {
		return struct{}{}, purger.PurgeDeletedSecret(t.Context(), "phoenix")
	}, keyvault.ErrNotFound)
	noErr(t, err)
	wantErr(t, purger.PurgeDeletedSecret(t.Context(), "phoenix"), keyvault.ErrNotFound)
	// The name is free once the purge has propagated; until then a set conflicts.
	req(eventually(t, func() (keyvault.Properties, error) {
		return s.SetSecret(t.Context(), "phoenix", "three", nil)
	}, keyvault.ErrConflict))(t)
	equal(t, get(t, s, "phoenix", ""), "three", "set after purge")
	_, err = s.GetSecret(t.Context(), "phoenix", v1.Version)
	wantErr(t, err, keyvault.ErrNotFound)
}

func testDisabledVersion(t *testing.T, s keyvault.Store) {
	v1 := set(t, s, "switch", "on")
	off := false
	v2 := req(s.SetSecret(t.Context(), "switch", "off", &keyvault.SetSecretOptions{Enabled: &off}))(t)
	equal(t, v2.Enabled, false, "enabled of a version set disabled")
	_, err := s.GetSecret(t.Context(), "switch", "")
	wantErr(t, err, keyvault.ErrDisabled, keyvault.ErrPermission)
	equal(t, get(t, s, "switch", v1.Version), "on", "older enabled version")
	pu, ok := s.(keyvault.PropertiesUpdater)
	if !ok {
		t.Log("store cannot update properties: skipping re-enable")
		return
	}
	on := true
	p := req(pu.UpdateSecretProperties(t.Context(), "switch", v2.Version, &keyvault.UpdateSecretPropertiesOptions{Enabled: &on}))(t)
	equal(t, p.Enabled, true, "enabled after update")
	equal(t, get(t, s, "switch", ""), "off", "value after re-enable")
	ct := "text/plain"
	p = req(pu.UpdateSecretProperties(t.Context(), "switch", v1.Version, &keyvault.UpdateSecretPropertiesOptions{ContentType: &ct, Tags: map[string]string{"k": "v"}}))(t)
	equal(t, p.ContentType, ct, "content type after update")
	equal(t, p.Tags["k"], "v", "tag after update")
	equal(t, get(t, s, "switch", v1.Version), "on", "value unchanged by update")
}

func testListVersions(t *testing.T, s keyvault.Store) {
	vl, ok := s.(keyvault.VersionLister)
	if !ok {
		t.Skip("store does not implement keyvault.VersionLister")
	}
	want := map[string]bool{}
	for _, v := range []string{"a", "b", "c"} {
		want[set(t, s, "multi", v).Version] = true
	}
	set(t, s, "other", "x")
	n := 0
	for p, err := range vl.ListSecretVersions(t.Context(), "MULTI") {
		if err != nil {
			t.Fatalf("list versions: %v", err)
		}
		if !want[p.Version] {
			t.Fatalf("listed version %q, not one of those set", p.Version)
		}
		delete(want, p.Version)
		n++
	}
	equal(t, n, 3, "versions listed")
}

func testInvalidNames(t *testing.T, s keyvault.Store) {
	ctx := t.Context()
	for _, name := range []string{"", "db_password", "has space", "dot.name", "slash/name", "ünicode", strings.Repeat("a", 128)} {
		_, err := s.GetSecret(ctx, name, "")
		wantErr(t, err, keyvault.ErrInvalidName)
		_, err = s.SetSecret(ctx, name, "v", nil)
		wantErr(t, err, keyvault.ErrInvalidName)
		wantErr(t, s.DeleteSecret(ctx, name), keyvault.ErrInvalidName)
	}
	// The longest valid name works.
	long := strings.Repeat("a", keyvault.MaxNameLength)
	set(t, s, long, "v")
	equal(t, get(t, s, long, ""), "v", "127-character name")
	equal(t, len(list(t, s)), 1, "nothing stored for invalid names")
}

func testCancelledContext(t *testing.T, s keyvault.Store) {
	set(t, s, "present", "v")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.GetSecret(ctx, "present", "")
	wantErr(t, err, context.Canceled)
	_, err = s.SetSecret(ctx, "present", "changed", nil)
	wantErr(t, err, context.Canceled)
	wantErr(t, s.DeleteSecret(ctx, "present"), context.Canceled)
	for _, err := range s.ListSecrets(ctx) {
		wantErr(t, err, context.Canceled)
		break
	}
	equal(t, get(t, s, "present", ""), "v", "value after cancelled calls")
}

func testConcurrent(t *testing.T, s keyvault.Store) {
	const workers = 32
	var wg sync.WaitGroup
	errs := make(chan error, workers*4)
	for i := range workers {
		wg.Go(func() {
			name := fmt.Sprintf("shared-%d", i%4)
			own := fmt.Sprintf("own-%d", i)
			for j := range 3 {
				if _, err := s.SetSecret(t.Context(), own, fmt.Sprint(j), nil); err != nil {
					errs <- err
					return
				}
				if _, err := s.SetSecret(t.Context(), name, own, nil); err != nil {
					errs <- err
					return
				}
				if _, err := s.GetSecret(t.Context(), name, ""); err != nil {
					errs <- err
					return
				}
			}
			for range s.ListSecrets(t.Context()) {
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent use: %v", err)
	}
	for i := range workers {
		equal(t, get(t, s, fmt.Sprintf("own-%d", i), ""), "2", "last value of own secret")
	}
	equal(t, len(list(t, s)), workers+4, "secrets after concurrent use")
}

func testNoAliasing(t *testing.T, s keyvault.Store) {
	tags := map[string]string{"k": "original"}
	p := req(s.SetSecret(t.Context(), "alias", "v", &keyvault.SetSecretOptions{Tags: tags}))(t)
	tags["k"] = "changed by caller"
	tags["extra"] = "x"
	p.Tags["k"] = "changed in result"
	sec := req(s.GetSecret(t.Context(), "alias", ""))(t)
	equal(t, sec.Tags["k"], "original", "tag after caller changed its maps")
	equal(t, len(sec.Tags), 1, "tag count")
	sec.Tags["k"] = "changed in get result"
	for _, lp := range list(t, s) {
		equal(t, lp.Tags["k"], "original", "listed tag")
		lp.Tags["k"] = "changed in list result"
	}
	equal(t, req(s.GetSecret(t.Context(), "alias", ""))(t).Tags["k"], "original", "tag at the end")
}
