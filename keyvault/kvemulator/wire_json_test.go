package kvemulator

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// The reference shapes of Key Vault's responses, encoded by encoding/json:
// the reflection-free encoders must write exactly these bytes.

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

type listRef struct {
	Value    []bundleJSON `json:"value"`
	NextLink *string      `json:"nextLink"`
}

func (b bundleBody) ref() bundleJSON {
	s, v := b.s, b.v
	r := bundleJSON{
		ID:          "https://" + b.host + "/secrets/" + s.Name,
		ContentType: v.ContentType,
		Tags:        v.Tags,
		Attributes: attributesJSON{
			Enabled: v.Enabled, NotBefore: v.NotBefore, Expires: v.Expires, Created: v.Created, Updated: v.Updated,
			RecoveryLevel: recoveryLevel, RecoverableDays: recoverableDays,
		},
	}
	if b.o.withVersion {
		r.ID += "/" + v.ID
	}
	if b.o.withValue {
		r.Value = &v.Value
	}
	if b.o.deleted {
		r.RecoveryID = "https://" + b.host + "/deletedsecrets/" + s.Name
		r.DeletedDate = s.DeletedDate
		r.ScheduledPurgeDate = s.ScheduledPurgeDate
	}
	return r
}

// TestAppendJSONMatchesMarshal: the reflection-free encoding writes exactly
// the bytes encoding/json writes for the reference shapes.
func TestAppendJSONMatchesMarshal(t *testing.T) {
	nbf, exp := int64(1_700_000_000), int64(-5)
	many := map[string]string{}
	for _, k := range []string{"q", "w", "e", "r", "t", "y", "u", "i", "o", "p", "a", "s", "d", "f", "g", "h", "j", "k"} {
		many[k] = k + k
	}
	versions := []*version{
		{ID: "0123456789abcdef0123456789abcdef"},
		{ID: "00000000000000000000000000000000", Value: "s3cret <&> \u2028\"\\\n\x01\xff é", ContentType: "text/plain; <x>",
			Enabled: true, NotBefore: &nbf, Expires: &exp, Created: 1, Updated: 2,
			Tags: map[string]string{"z": "1", "a": "\t", "m\u2029": "\xc3", "": ""}},
		{ID: "ffffffffffffffffffffffffffffffff", Tags: map[string]string{}, Created: -1},
		{ID: "abababababababababababababababab", Tags: many, Enabled: true},
	}
	secrets := []*secret{
		{Name: "a"},
		{Name: "Db-Password-9", DeletedDate: 1_700_000_000, ScheduledPurgeDate: 1_707_776_000},
	}
	hosts := []string{"keyvaulttest.vault.azure.net", "127.0.0.1:8443", "h&<x>\xc3"}
	var all []bundleBody
	for _, s := range secrets {
		for _, v := range versions {
			for _, host := range hosts {
				for o := range 8 {
					b := bundleOf(s, v, host, bundleOpts{withValue: o&1 != 0, withVersion: o&2 != 0, deleted: o&4 != 0})
					all = append(all, b)
					want, err := json.Marshal(b.ref())
					require.NoError(t, err)
					require.Equal(t, string(want), string(b.appendJSON(nil)), fmt.Sprintf("%+v", b))
				}
			}
		}
	}
	next := "https://h:1/secrets?api-version=7.4&$skiptoken=YQ&maxresults=25"
	for i, l := range []listJSON{{}, {Value: all[:1]}, {Value: all, NextLink: &next}} {
		ref := listRef{Value: []bundleJSON{}, NextLink: l.NextLink}
		for _, b := range l.Value {
			ref.Value = append(ref.Value, b.ref())
		}
		want, err := json.Marshal(ref)
		require.NoError(t, err)
		require.Equal(t, string(want), string(l.appendJSON(nil)), "list %d", i)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "<&>", "\u2028\u2029", "\xff\xfe", "a\x00b\x1f\x7f", "é\"\\/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	})
}
