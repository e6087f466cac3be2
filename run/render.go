package run

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/go-azureml/secrets/internal/secretref"
	"github.com/go-azureml/secrets/keyvault"
)

// MaxTemplateSize bounds the templates ParseTemplate accepts, in bytes.
const MaxTemplateSize = 1 << 20

// RenderError is the error of one reference in a template: it names the line
// (1-based) and, when it parsed, the reference in canonical form; never a
// value, and never the text of a malformed reference (which may be a pasted
// secret).
type RenderError struct {
	// Line is the 1-based line of the template the reference is on.
	Line int
	// Ref is the reference in canonical form, "" when it did not parse.
	Ref string
	// Err is the cause: a secretref.ErrMalformed, keyvault.ErrNotFound, ...
	Err error
}

// Error names the line, the reference and the cause, never a value.
func (e *RenderError) Error() string {
	if e.Ref == "" {
		return "template line " + strconv.Itoa(e.Line) + ": " + e.Err.Error()
	}
	return "template line " + strconv.Itoa(e.Line) + ": " + e.Ref + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *RenderError) Unwrap() error { return e.Err }

// Template is a parsed template: text with secret references in it. Parse
// one with ParseTemplate, render it with Run.RenderTemplate or keep it
// rendered as its secrets change with Run.WatchTemplate. A Template holds no
// secret value and is safe for concurrent use.
type Template struct {
	parts []part
	refs  map[string]ref // by canonical form
	lines map[string]int // canonical form -> first line it is on
}

// part is literal text, or a reference (key != "").
type part struct {
	text string
	key  string
}

// ref is one reference of a template or an environment: a full secretref
// reference, or the short form ${{keyvault:NAME[/VERSION]}} for the run's
// own vault (ref.VaultURL "").
type ref struct {
	secretref.Ref
	short bool
}

// key is the canonical form, which identifies the reference.
func (r ref) key() string {
	if !r.short {
		return r.String()
	}
	s := "${{keyvault:" + r.Name
	if r.Version != "" {
		s += "/" + r.Version
	}
	return s + "}}"
}

// ParseTemplate parses text, a template in which references may appear
// anywhere, any number of times:
//
//	${{keyvault:NAME}}                                               the run's own vault, latest version
//	${{keyvault:NAME/VERSION}}                                       the run's own vault, that version
//	${{keyvault:https://VAULT.vault.azure.net/secrets/NAME[/VERSION]}} any vault (see ResolveEnv)
//	${{azureml://connections/CONN[/credentials/KEY|/metadata/KEY|/target]}}
//
// A reference sits on one line. Any other ${{...}} (a GitHub Actions or
// Azure ML expression) is kept as it is. Every error is a *RenderError (all
// of them joined) naming the line, never quoting the text.
func ParseTemplate(text string) (*Template, error) {
	if len(text) > MaxTemplateSize {
		return nil, fmt.Errorf("template: larger than %d bytes", MaxTemplateSize)
	}
	t := &Template{refs: map[string]ref{}, lines: map[string]int{}}
	var (
		errs []error
		lit  strings.Builder
	)
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, part{text: lit.String()})
			lit.Reset()
		}
	}
	line := 1
	for rest := text; rest != ""; {
		i := strings.Index(rest, "${{")
		if i < 0 {
			lit.WriteString(rest)
			break
		}
		line += strings.Count(rest[:i], "\n")
		lit.WriteString(rest[:i])
		rest = rest[i:]
		eol := strings.IndexByte(rest, '\n')
		if eol < 0 {
			eol = len(rest)
		}
		end := strings.Index(rest[:eol], "}}")
		if end < 0 {
			if opensRef(rest) {
				errs = append(errs, &RenderError{Line: line, Err: fmt.Errorf("%w: no closing }} on the line", secretref.ErrMalformed)})
				rest = rest[eol:]
				continue
			}
			lit.WriteString("${{")
			rest = rest[3:]
			continue
		}
		cand := rest[:end+2]
		if !opensRef(cand) {
			lit.WriteString("${{")
			rest = rest[3:]
			continue
		}
		rest = rest[end+2:]
		r, err := parseRef(cand)
		if err != nil {
			errs = append(errs, &RenderError{Line: line, Err: err})
			continue
		}
		k := r.key()
		if _, ok := t.refs[k]; !ok {
			t.refs[k] = r
			t.lines[k] = line
		}
		flush()
		t.parts = append(t.parts, part{key: k})
	}
	flush()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

// opensRef reports whether s starts with "${{" opening a keyvault or
// azureml reference (blanks allowed after "${{").
func opensRef(s string) bool {
	rest, ok := strings.CutPrefix(s, "${{")
	if !ok {
		return false
	}
	rest = strings.TrimLeft(rest, " \t")
	for _, p := range []string{"keyvault:", "azureml:"} {
		if len(rest) >= len(p) && strings.EqualFold(rest[:len(p)], p) {
			return true
		}
	}
	return false
}

// parseRef parses a whole reference: the short form for the run's own
// vault, or any form secretref accepts.
func parseRef(s string) (ref, error) {
	body := strings.TrimSpace(s)
	body = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(body, "${{"), "}}"))
	if len(body) >= len("keyvault:") && strings.EqualFold(body[:len("keyvault:")], "keyvault:") {
		if short := body[len("keyvault:"):]; !strings.Contains(short, "://") {
			return parseShort(short)
		}
	}
	r, err := secretref.Parse(s)
	if err != nil {
		return ref{}, err
	}
	return ref{Ref: r}, nil
}

func parseShort(s string) (ref, error) {
	name, version, _ := strings.Cut(s, "/")
	if keyvault.ValidateName(name) != nil {
		return ref{}, fmt.Errorf("%w: keyvault reference: secret name must be 1-127 characters of 0-9, a-z, A-Z and '-'; want ${{keyvault:NAME}}, ${{keyvault:NAME/VERSION}} or ${{keyvault:https://VAULT.vault.azure.net/secrets/NAME}}", secretref.ErrMalformed)
	}
	version = strings.ToLower(version)
	if strings.Contains(s, "/") && !isVersion(version) {
		return ref{}, fmt.Errorf("%w: keyvault reference: secret version must be 32 hexadecimal characters", secretref.ErrMalformed)
	}
	return ref{Ref: secretref.Ref{Kind: secretref.Keyvault, Name: name, Version: version}, short: true}, nil
}

func isVersion(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Refs returns the distinct references of the template, in canonical form,
// sorted.
func (t *Template) Refs() []string { return slices.Sorted(maps.Keys(t.refs)) }

// execute fills the template with values (by canonical form).
func (t *Template) execute(values map[string]string) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.key == "" {
			b.WriteString(p.text)
		} else {
			b.WriteString(values[p.key])
		}
	}
	return b.String()
}

// refErrors turns failures by canonical form into *RenderErrors, in line
// order.
func (t *Template) refErrors(failed map[string]error) error {
	keys := slices.SortedFunc(maps.Keys(failed), func(a, b string) int {
		if la, lb := t.lines[a], t.lines[b]; la != lb {
			return la - lb
		}
		return strings.Compare(a, b)
	})
	errs := make([]error, 0, len(keys))
	for _, k := range keys {
		errs = append(errs, &RenderError{Line: t.lines[k], Ref: k, Err: failed[k]})
	}
	return errors.Join(errs...)
}

// Render parses text as ParseTemplate does and returns it with every
// reference replaced by its value. See RenderTemplate.
func (r *Run) Render(ctx context.Context, text string) (string, error) {
	t, err := ParseTemplate(text)
	if err != nil {
		return "", err
	}
	return r.RenderTemplate(ctx, t)
}

// RenderTemplate returns t with every reference replaced by its value. Each
// distinct reference is fetched once, concurrently, as ResolveEnv fetches
// them; the short form ${{keyvault:NAME}} reads the run's own vault (offline
// with no vault: its local source). On failure the error joins one
// *RenderError per failed reference, in line order; errors.Is finds
// keyvault.ErrNotFound and the like. No error holds a value.
func (r *Run) RenderTemplate(ctx context.Context, t *Template) (string, error) {
	values, failed := r.resolveRefs(ctx, t.refs)
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if len(failed) > 0 {
		return "", t.refErrors(failed)
	}
	return t.execute(values), nil
}

// resolveRefs fetches each reference once, concurrently, and returns the
// values and the failures by canonical form.
func (r *Run) resolveRefs(ctx context.Context, refs map[string]ref) (map[string]string, map[string]error) {
	type result struct {
		value string
		err   error
	}
	keys := slices.Sorted(maps.Keys(refs))
	results := make([]result, len(keys))
	var g errgroup.Group
	g.SetLimit(resolveConcurrency)
	for i, k := range keys {
		g.Go(func() error {
			results[i].value, results[i].err = r.resolveRef(ctx, refs[k])
			return nil
		})
	}
	_ = g.Wait()
	values := make(map[string]string, len(keys))
	failed := map[string]error{}
	for i, k := range keys {
		if results[i].err != nil {
			failed[k] = results[i].err
		} else {
			values[k] = results[i].value
		}
	}
	return values, failed
}

// resolveRef fetches one reference's value.
func (r *Run) resolveRef(ctx context.Context, rf ref) (string, error) {
	if !rf.short {
		return r.resolve(ctx, rf.Ref)
	}
	s, err := r.kv.GetSecretVersion(ctx, rf.Name, rf.Version)
	if err != nil {
		return "", err
	}
	return s.Value.Reveal(), nil
}
