package azurevault

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIDSegments(t *testing.T) {
	for _, c := range []struct {
		id   string
		want []string
	}{
		{"https://v.vault.azure.net/secrets/db/0123abcd", []string{"secrets", "db", "0123abcd"}},
		{"https://v.vault.azure.net/secrets/db", []string{"secrets", "db"}},
		{"https://v.vault.azure.net/secrets/db/", []string{"secrets", "db"}},
		{"https://127.0.0.1:8443//secrets//db/v1/extra", []string{"secrets", "db", "v1"}},
		{"https://v.vault.azure.net/secrets/db/v1?api-version=7.4#x", []string{"secrets", "db", "v1"}},
		{"https://v.vault.azure.net/secrets/d%62/v1", []string{"secrets", "db", "v1"}},
		{"https://v.vault.azure.net/secrets/d%zz/v1", nil},
		{"https://v.vault.azure.net", nil},
		{"/secrets/db/v2", []string{"secrets", "db", "v2"}},
		{"", nil},
		{"://", nil},
	} {
		segs, n := idSegments(c.id)
		var got []string
		if n > 0 {
			got = segs[:n]
		}
		assert.Equal(t, c.want, got, c.id)
	}
	assert.Zero(t, testing.AllocsPerRun(100, func() { idSegments("https://v.vault.azure.net/secrets/db/0123abcd") }), "a well-formed id is parsed without allocating")
}
