package safetext_test

import (
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"

	"github.com/go-azureml/secrets/internal/safetext"
)

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"SecretNotFound":        "SecretNotFound",
		"a\nb":                  `a\nb`,
		"\x1b[31mred":           `\x1b[31mred`,
		"abc\u202edef":          `abc\u202edef`,
		"x\u2066y\u200fz":       `x\u2066y\u200fz`,
		"bad\xffutf8":           `bad\xffutf8`,
		`back\slash "q"`:        `back\slash "q"`,
		"ünïcødé-密":             "ünïcødé-密",
		"tab\there\r\x7f\u0085": `tab\there\r\x7f\u0085`,
	} {
		assert.Equal(t, want, safetext.Clean(in, 0), "%q", in)
	}
}

func TestCleanBounds(t *testing.T) {
	for _, in := range []string{
		strings.Repeat("A", 24<<10),
		strings.Repeat("\x1b", 24<<10),
		strings.Repeat("\u202e", 24<<10),
		strings.Repeat("密", 24<<10),
	} {
		out := safetext.Clean(in, 200)
		assert.LessOrEqual(t, len(out), 203)
		assert.True(t, strings.HasSuffix(out, "..."))
		assert.Equal(t, out, safetext.Clean(out, 200), "Clean of its own output changes nothing")
		for _, r := range out {
			assert.True(t, unicode.IsPrint(r), "%q", r)
		}
	}
	assert.Equal(t, `"a\nb"`, safetext.Quote("a\nb", 0))
	assert.Equal(t, `"say \"hi\""`, safetext.Quote(`say "hi"`, 0))
}
