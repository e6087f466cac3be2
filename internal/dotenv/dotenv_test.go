package dotenv

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Pair
	}{
		{"empty", "", nil},
		{"comments and blanks", "# c\n\n   \n\t# x=y\n", nil},
		{"simple", "A=1\nB=two", []Pair{{"A", "1", 1}, {"B", "two", 2}}},
		{"export", "export A=1\nexport\tB=2", []Pair{{"A", "1", 1}, {"B", "2", 2}}},
		{"export as key", "export=1", []Pair{{"export", "1", 1}}},
		{"blanks around equals", "  A = 1  ", []Pair{{"A", "1", 1}}},
		{"empty value", "A=\nB=   ", []Pair{{"A", "", 1}, {"B", "", 2}}},
		{"inline comment", "A=abc # comment\nB=a#b", []Pair{{"A", "abc", 1}, {"B", "a#b", 2}}},
		{"equals in value", "URL=postgres://u@h/db?x=1", []Pair{{"URL", "postgres://u@h/db?x=1", 1}}},
		{"single quotes literal", `A='a\nb $X # not comment'`, []Pair{{"A", `a\nb $X # not comment`, 1}}},
		{"double quote escapes", `A="a\nb\t\"q\" \\ \$ \x"`, []Pair{{"A", "a\nb\t\"q\" \\ $ \\x", 1}}},
		{"comment after quote", `A="x" # c`, []Pair{{"A", "x", 1}}},
		{"multi-line double", "A=\"line1\nline2\n\"\nB=3", []Pair{{"A", "line1\nline2\n", 1}, {"B", "3", 4}}},
		{"multi-line single", "A='x\ny'", []Pair{{"A", "x\ny", 1}}},
		{"crlf", "A=1\r\nB=\"x\r\ny\"\r\n", []Pair{{"A", "1", 1}, {"B", "x\ny", 2}}},
		{"bom", "\ufeffA=1", []Pair{{"A", "1", 1}}},
		{"hyphen and dot keys", "db-password=x\nsvc.key=y\n_u=z", []Pair{{"db-password", "x", 1}, {"svc.key", "y", 2}, {"_u", "z", 3}}},
		{"duplicates kept in order", "A=1\nA=2", []Pair{{"A", "1", 1}, {"A", "2", 2}}},
		{"no expansion", "A=$HOME", []Pair{{"A", "$HOME", 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePairs(strings.NewReader(tt.in))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseMapLastWins(t *testing.T) {
	m, err := Parse(strings.NewReader("A=1\nB=2\nA=3\n"))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"A": "3", "B": "2"}, m)
}

func TestParseErrors(t *testing.T) {
	const secret = "hunter2-s3cr3t"
	tests := []struct {
		name, in string
		line     int
		msg      string
	}{
		{"no equals", "A=1\n" + secret, 2, "expected KEY=VALUE"},
		{"bad key", "1" + secret + "=x", 1, "invalid key"},
		{"key with space", "A B=" + secret, 1, "invalid key"},
		{"empty key", "=" + secret, 1, "invalid key"},
		{"unterminated double", "A=1\nB=\"" + secret + "\nmore", 2, "unterminated double-quoted value"},
		{"unterminated single", "B='" + secret, 1, "unterminated single-quoted value"},
		{"text after quote", "B=\"" + secret + "\"x", 1, "unexpected text after the closing quote"},
		{"text after multi-line quote", "B=\"a\n" + secret + "\" x", 2, "unexpected text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.in))
			require.Error(t, err)
			var de *Error
			require.ErrorAs(t, err, &de)
			assert.Equal(t, tt.line, de.Line)
			assert.Contains(t, err.Error(), tt.msg)
			assert.NotContains(t, err.Error(), secret)
			assert.NotContains(t, err.Error(), "hunter")
		})
	}
}

func TestLongLine(t *testing.T) {
	_, err := Parse(strings.NewReader("A=1\nB=" + strings.Repeat("x", MaxLineBytes+1)))
	var de *Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 2, de.Line)
}

func TestPairNeverPrintsValue(t *testing.T) {
	p := Pair{Key: "A", Value: "s3cret", Line: 3}
	for _, s := range []string{p.String(), p.GoString()} {
		assert.NotContains(t, s, "s3cret")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"A=1", "export A='x'\n", "A=\"a\\nb\nc\"", "# c\nB=x # y", "A=\"", "=x", "\ufeffA=1\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pairs, err := ParsePairs(strings.NewReader(s))
		if err != nil {
			var de *Error
			if !errors.As(err, &de) || de.Line < 1 {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		for _, p := range pairs {
			if !validKey(p.Key) || p.Line < 1 {
				t.Fatalf("bad pair %v", p)
			}
		}
	})
}

func TestFileSizeBound(t *testing.T) {
	// Many short lines: each under MaxLineBytes, the whole over MaxFileBytes.
	line := strings.Repeat("A", 1000) + "=v\n"
	r := io.LimitReader(&repeatReader{s: line}, MaxFileBytes+int64(10*len(line)))
	_, err := ParsePairs(r)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "file larger than 8 MiB")
	f, err := os.Open("/dev/zero")
	require.NoError(t, err)
	defer f.Close()
	_, err = Parse(f)
	require.Error(t, err, "/dev/zero is one endless line")
}

type repeatReader struct {
	s string
	i int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.s[r.i:])
		n += c
		r.i = (r.i + c) % len(r.s)
	}
	return n, nil
}
