// Package safetext makes text from a server or a file fit to put into an
// error message: bounded in length, with control characters, bidirectional
// overrides and invalid UTF-8 escaped, so that a hostile answer can neither
// flood a log nor rewrite a terminal line.
package safetext

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxBytes is the default bound on the text kept from one server field.
const MaxBytes = 200

// Clean returns s with every rune that is not printable escaped as Go quotes
// it (\n, \x1b, \u202e; invalid UTF-8 as \xff), cut so
// that the result is at most max bytes plus a "..." that marks the cut. It
// adds no quotes. max <= 0 means MaxBytes.
func Clean(s string, max int) string {
	if max <= 0 {
		max = MaxBytes
	}
	if plain(s) && (len(s) <= max || len(s) <= max+3 && strings.HasSuffix(s, "...")) {
		return s // already clean (Clean of its own output changes nothing)
	}
	var b strings.Builder
	for i, w := 0, 0; i < len(s); i += w {
		r, n := utf8.DecodeRuneInString(s[i:])
		w = n
		var piece string
		switch {
		case r == utf8.RuneError && n == 1:
			piece = `\x` + strconv.FormatUint(uint64(s[i])|0x100, 16)[1:]
		case unicode.IsPrint(r):
			piece = s[i : i+n]
		default:
			q := strconv.QuoteRune(r)
			piece = q[1 : len(q)-1]
		}
		if b.Len()+len(piece) > max {
			b.WriteString("...")
			break
		}
		b.WriteString(piece)
	}
	return b.String()
}

// Quote is Clean in double quotes, a double quote inside escaped.
func Quote(s string, max int) string {
	return `"` + strings.ReplaceAll(Clean(s, max), `"`, `\"`) + `"`
}

// plain reports whether s needs no escaping.
func plain(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
