package leaktest_test

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-azureml/secrets/keyvault"
	"github.com/go-azureml/secrets/keyvault/memvault"
)

// reflectDump prints v the way a reflection-based printer that ignores
// methods does (go-spew with DisableMethods, as testify's diffs use it):
// every field, exported or not, every pointer followed, every string shown.
// It is stricter than spew: no depth limit, no method ever called.
func reflectDump(v any) string {
	var b strings.Builder
	seen := map[uintptr]bool{}
	var walk func(r reflect.Value, depth int)
	walk = func(r reflect.Value, depth int) {
		if depth > 50 || !r.IsValid() {
			return
		}
		switch r.Kind() {
		case reflect.Pointer:
			if r.IsNil() || seen[r.Pointer()] {
				return
			}
			seen[r.Pointer()] = true
			walk(r.Elem(), depth+1)
		case reflect.Interface:
			walk(r.Elem(), depth+1)
		case reflect.Struct:
			for i := range r.NumField() {
				fmt.Fprintf(&b, "%s: ", r.Type().Field(i).Name)
				walk(r.Field(i), depth+1)
				b.WriteString("\n")
			}
		case reflect.Slice, reflect.Array:
			for i := range r.Len() {
				walk(r.Index(i), depth+1)
			}
		case reflect.Map:
			it := r.MapRange()
			for it.Next() {
				walk(it.Key(), depth+1)
				walk(it.Value(), depth+1)
			}
		case reflect.String:
			b.WriteString(r.String())
		case reflect.Func:
			fmt.Fprintf(&b, "(%s)", r.Type())
		default:
			fmt.Fprintf(&b, "%v", r)
		}
	}
	walk(reflect.ValueOf(v), 0)
	return b.String()
}

// fakeT records what testify reports on a failed assertion.
type fakeT struct{ msgs []string }

func (f *fakeT) Errorf(format string, args ...any) {
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
}

// container holds Values and Secrets every way a user's struct might.
type container struct {
	Secret   keyvault.Secret
	secret   keyvault.Secret
	Value    keyvault.Value
	value    keyvault.Value
	Ptr      *keyvault.Secret
	List     []keyvault.Secret
	ByName   map[string]keyvault.Value
	Anything any
}

func newContainer(plain string) container {
	v := keyvault.NewValue(plain)
	s := keyvault.Secret{Properties: keyvault.Properties{Name: "db-password", Version: "0123456789abcdef0123456789abcdef", Enabled: true}, Value: v}
	return container{Secret: s, secret: s, Value: v, value: v, Ptr: &s, List: []keyvault.Secret{s}, ByName: map[string]keyvault.Value{"k": v}, Anything: s}
}

// Every reflection-based printer, serializer and diff over a Secret, a Value
// and structs that contain them: none shows the plaintext.
func TestNoLeakThroughReflection(t *testing.T) {
	// A Secret as a store returns it, not just one built here.
	store := memvault.New()
	_, err := store.SetSecret(t.Context(), "db-password", canaryPlain, nil)
	require.NoError(t, err)
	got, err := store.GetSecret(t.Context(), "db-password", "")
	require.NoError(t, err)
	require.Equal(t, canaryPlain, got.Value.Reveal())

	a, b := newContainer(canaryPlain), newContainer(canaryJSON)
	a.Anything = got
	outputs := map[string]string{}
	outputs["reflection dump (go-spew DisableMethods)"] = reflectDump(a) + reflectDump(&got) + reflectDump(got.Value)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		outputs["fmt "+verb] = fmt.Sprintf(verb, a) + fmt.Sprintf(verb, &a) + fmt.Sprintf(verb, []any{got, &got})
	}
	js, err := json.Marshal(a)
	require.NoError(t, err)
	outputs["encoding/json"] = string(js)
	var gb bytes.Buffer
	gob.Register(keyvault.Secret{})
	assert.NoError(t, gob.NewEncoder(&gb).Encode(a))
	outputs["encoding/gob"] = gb.String()
	type xmlHolder struct{ V keyvault.Value }
	xb, err := xml.Marshal(xmlHolder{got.Value})
	require.NoError(t, err)
	outputs["encoding/xml"] = string(xb)

	// testify's failure messages: %#v of both sides and a go-spew
	// (DisableMethods) diff of them.
	ft := &fakeT{}
	assert.Equal(ft, a, b)
	assert.Equal(ft, a.Secret, b.Secret)
	assert.Equal(ft, got, b.Secret)
	assert.Equal(ft, []keyvault.Secret{got}, b.List)
	assert.Equal(ft, a.Value, b.Value)
	assert.EqualValues(ft, a, b)
	assert.Exactly(ft, a, b)
	assert.ElementsMatch(ft, a.List, b.List)
	assert.Empty(ft, got)
	assert.Zero(ft, a)
	assert.Nil(ft, &got)
	assert.Contains(ft, a.List, b.Secret)
	require.Len(t, ft.msgs, 12, "each assertion failed and reported")
	outputs["testify"] = strings.Join(ft.msgs, "\n")
	require.Contains(t, outputs["testify"], "Diff:", "testify printed its spew diff")

	for what, out := range outputs {
		for _, n := range canaryNeedles {
			assert.NotContains(t, out, n, "%s shows the plaintext", what)
		}
	}
	// The reveal still works, and Equal compares plaintexts (go-cmp calls it).
	assert.True(t, got.Value.Equal(keyvault.NewValue(canaryPlain)))
}
