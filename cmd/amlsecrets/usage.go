package main

import (
	"errors"
	"fmt"
	"regexp"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// versionString is what --version prints after "amlsecrets ": the module's
// version from the build info ("(devel)" for a build from a checkout), then
// the VCS revision and time when the build recorded them, and the Go version.
func versionString(info *debug.BuildInfo, ok bool) string {
	if !ok || info == nil {
		return "(unknown: built without module information)"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	var b strings.Builder
	b.WriteString(v)
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		fmt.Fprintf(&b, " (revision %s", rev)
		if at != "" {
			b.WriteString(", " + at)
		}
		b.WriteString(modified + ")")
	}
	if info.GoVersion != "" {
		b.WriteString(" " + info.GoVersion)
	}
	return b.String()
}

// rootArgs refuses arguments to the bare command, suggesting the
// subcommand that a mistyped one was probably meant to be.
func rootArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q", args[0])
	if s := suggestCommand(cmd, args[0]); s != "" {
		msg += fmt.Sprintf(": did you mean %q?", s)
	}
	return usageError{errors.New(msg)}
}

// suggestCommand returns the subcommand of cmd closest to typed (at most 2
// edits away, or typed is a prefix of it), or "".
func suggestCommand(cmd *cobra.Command, typed string) string {
	typed = strings.ToLower(typed)
	best, bestD := "", 3
	for _, c := range cmd.Commands() {
		if !c.IsAvailableCommand() {
			continue
		}
		d := editDistance(typed, c.Name())
		if strings.HasPrefix(c.Name(), typed) {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = c.Name(), d
		}
	}
	return best
}

// flagError turns pflag's error into a usageError, with a suggestion for an
// unknown flag that is close to one of cmd's.
func flagError(cmd *cobra.Command, err error) error {
	const prefix = "unknown flag: --"
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, prefix); ok {
		name, _, _ = strings.Cut(name, "=")
		best, bestD := "", 3 // at most 2 edits away
		for _, m := range flagNameRE.FindAllStringSubmatch(cmd.Flags().FlagUsages(), -1) {
			if d := editDistance(name, m[1]); d < bestD {
				best, bestD = m[1], d
			}
		}
		if best != "" {
			return usageError{fmt.Errorf("%s: did you mean --%s?", msg, best)}
		}
	}
	return usageError{err}
}

// flagNameRE finds the flag names in a FlagUsages text (hidden flags are
// not in it).
var flagNameRE = regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9-]+)`)

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// helpHint is the pointer a usage error ends with: the help of the command
// that was run ('amlsecrets set --help'), or of amlsecrets itself.
func helpHint(cmd *cobra.Command) string {
	if cmd == nil {
		return "see 'amlsecrets --help'"
	}
	return "see '" + cmd.CommandPath() + " --help'"
}

// emptyAdvice explains a refused empty value.
const emptyAdvice = "the value is empty, which is usually a mistake (a mistyped or unexported variable, an empty pipe); pass --allow-empty to store it anyway"

// emptySource names where set read an empty value from.
func emptySource(f *setFlags) string {
	switch {
	case f.fromEnv != "":
		return "--from-env " + f.fromEnv
	case f.fromFile != "":
		return "--from-file " + f.fromFile
	}
	return "--stdin"
}

// errorText is an error's message as the CLI prints it: a one-line message
// stays one line; a message holding a list (several failures, the
// credentials tried) keeps its lines, tabs as two spaces, with blank lines
// and carriage returns dropped.
func errorText(err error) string {
	s := strings.TrimSpace(err.Error())
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	var b strings.Builder
	for i, l := range lines {
		l = strings.TrimRight(l, " \t")
		if strings.TrimSpace(l) == "" {
			continue
		}
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(strings.ReplaceAll(l, "\t", "  "))
	}
	return b.String()
}

// addHint appends a hint to msg: after sep on a one-line message, on a line
// of its own after a list.
func addHint(msg, h, sep string) string {
	if strings.Contains(msg, "\n") {
		return msg + "\n" + h
	}
	return msg + sep + h
}
