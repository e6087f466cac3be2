// Package dotenv parses .env files: the KEY=VALUE files that docker compose,
// python-dotenv and friends read. It is shared by the run package (a local,
// read-only source of secrets) and the amlsecrets CLI.
//
// The syntax, line by line:
//
//	# a comment line; blank lines are skipped
//	KEY=value                 unquoted: surrounding blanks trimmed, " #..." ends it
//	export KEY=value          "export " is accepted and ignored
//	KEY = value               blanks around '=' are allowed
//	KEY='literal $value'      single quotes: taken literally, no escapes
//	KEY="a\nb \"q\" \\"       double quotes: \n \r \t \" \\ \$ \` escapes
//	KEY="first line
//	second line"              quoted values may span lines
//	KEY=                      an empty value
//
// A key is a letter or '_' followed by letters, digits, '_', '.' or '-'
// (hyphens let a .env file hold Key Vault secret names). Nothing is
// expanded: "$OTHER" stays as written. After a closing quote only blanks and
// a comment may follow. When a key appears twice the last value wins.
//
// Errors carry the line number and what was wrong, and never any text of
// the file: a malformed line may well hold a secret.
package dotenv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-azureml/secrets/internal/safefile"
)

// MaxLineBytes bounds one physical line of a .env file.
const MaxLineBytes = 1 << 20

// MaxFileBytes bounds a whole .env file.
const MaxFileBytes = 8 << 20

// Pair is one KEY=VALUE entry in file order, with the line where it starts.
type Pair struct {
	Key   string
	Value string
	Line  int
}

// String shows the key and line, never the value.
func (p Pair) String() string { return fmt.Sprintf("%s (line %d)", p.Key, p.Line) }

// GoString is String, for %#v.
func (p Pair) GoString() string { return "dotenv.Pair{" + p.String() + "}" }

// Error is a syntax error: the line where it was found and what was wrong.
// It never holds any text of the file.
type Error struct {
	Line int
	Msg  string
}

// Error gives the line and the problem, never the line's text.
func (e *Error) Error() string { return fmt.Sprintf("dotenv: line %d: %s", e.Line, e.Msg) }

// Parse reads a .env file and returns its variables. When a key appears
// more than once the last value wins.
func Parse(r io.Reader) (map[string]string, error) {
	pairs, err := ParsePairs(r)
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		m[p.Key] = p.Value
	}
	return m, nil
}

// ParsePairs reads a .env file and returns its entries in file order,
// duplicates included.
func ParsePairs(r io.Reader) ([]Pair, error) {
	br := &boundReader{r: r, left: MaxFileBytes}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, 4096), MaxLineBytes)
	p := parser{sc: sc}
	var out []Pair
	for p.next() {
		pair, ok, err := p.entry()
		if err != nil {
			if br.over {
				return nil, errTooLarge() // the bound cut the line short
			}
			return nil, err
		}
		if ok {
			out = append(out, pair)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &Error{Line: p.line + 1, Msg: fmt.Sprintf("line longer than %d bytes", MaxLineBytes)}
		}
		if br.over {
			return nil, errTooLarge()
		}
		return nil, fmt.Errorf("dotenv: read: %w", err)
	}
	return out, nil
}

func errTooLarge() error {
	return fmt.Errorf("dotenv: file larger than %s, the most accepted: %w", safefile.FormatBytes(MaxFileBytes), safefile.ErrTooLarge)
}

// boundReader reads at most left bytes of r; past them it fails, with over
// set.
type boundReader struct {
	r    io.Reader
	left int64
	over bool
}

func (b *boundReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a file of exactly the bound from a longer one.
		var one [1]byte
		if n, _ := io.ReadFull(b.r, one[:]); n > 0 {
			b.over = true
			return 0, errTooLarge()
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

type parser struct {
	sc   *bufio.Scanner
	line int
	text string
}

func (p *parser) next() bool {
	if !p.sc.Scan() {
		return false
	}
	p.line++
	p.text = strings.TrimSuffix(p.sc.Text(), "\r")
	if p.line == 1 {
		p.text = strings.TrimPrefix(p.text, "\ufeff")
	}
	return true
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// entry parses the entry starting on the current line; ok is false for a
// blank or comment line.
func (p *parser) entry() (Pair, bool, error) {
	s := strings.TrimLeft(p.text, " \t")
	if s == "" || s[0] == '#' {
		return Pair{}, false, nil
	}
	start := p.line
	if rest, ok := strings.CutPrefix(s, "export"); ok && rest != "" && isBlank(rest[0]) {
		s = strings.TrimLeft(rest, " \t")
	}
	eq := strings.IndexByte(s, '=')
	if eq < 0 {
		return Pair{}, false, &Error{Line: start, Msg: "expected KEY=VALUE"}
	}
	key := strings.TrimRight(s[:eq], " \t")
	if !validKey(key) {
		return Pair{}, false, &Error{Line: start, Msg: "invalid key: want a letter or '_' then letters, digits, '_', '.' or '-'"}
	}
	v := strings.TrimLeft(s[eq+1:], " \t")
	var (
		val string
		err error
	)
	switch {
	case v == "":
	case v[0] == '\'' || v[0] == '"':
		val, err = p.quoted(v, start)
	default:
		val = unquoted(v)
	}
	if err != nil {
		return Pair{}, false, err
	}
	return Pair{Key: key, Value: val, Line: start}, true, nil
}

// unquoted returns v up to an inline comment (a '#' after a blank), trimmed.
func unquoted(v string) string {
	for i := 1; i < len(v); i++ {
		if v[i] == '#' && isBlank(v[i-1]) {
			v = v[:i]
			break
		}
	}
	return strings.TrimRight(v, " \t")
}

// quoted parses a quoted value that starts at v (its opening quote) on line
// start and may continue on following lines.
func (p *parser) quoted(v string, start int) (string, error) {
	q := v[0]
	var b strings.Builder
	s := v[1:]
	for {
		i := 0
		for i < len(s) {
			c := s[i]
			switch {
			case c == q:
				if err := trailing(s[i+1:]); err != "" {
					return "", &Error{Line: p.line, Msg: err}
				}
				return b.String(), nil
			case c == '\\' && q == '"' && i+1 < len(s):
				i++
				switch e := s[i]; e {
				case 'n':
					b.WriteByte('\n')
				case 'r':
					b.WriteByte('\r')
				case 't':
					b.WriteByte('\t')
				case '"', '\\', '$', '`':
					b.WriteByte(e)
				default:
					b.WriteByte('\\')
					b.WriteByte(e)
				}
			default:
				b.WriteByte(c)
			}
			i++
		}
		if !p.next() {
			return "", &Error{Line: start, Msg: fmt.Sprintf("unterminated %s-quoted value", quoteName(q))}
		}
		b.WriteByte('\n')
		s = p.text
	}
}

// trailing checks what follows a closing quote: blanks and an optional
// comment. It returns a message, or "" when fine.
func trailing(s string) string {
	t := strings.TrimLeft(s, " \t")
	if t == "" || t[0] == '#' {
		return ""
	}
	return "unexpected text after the closing quote"
}

func quoteName(q byte) string {
	if q == '"' {
		return "double"
	}
	return "single"
}
