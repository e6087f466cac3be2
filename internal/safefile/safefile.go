// Package safefile reads the files this module trusts or parses with two
// guards: a size bound on every read, and, for files that decide where values
// go or which server is trusted (the emulator's CA, its state file, a config
// file that names a vault), an ownership rule in the manner of ssh's
// StrictModes: the file must be owned by the current user or root and not be
// writable by group or others.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ErrTooLarge is wrapped by the errors of reads that hit their size bound.
var ErrTooLarge = errors.New("too large")

// ErrUntrusted is wrapped by the errors of files or folders that break the
// ownership rule.
var ErrUntrusted = errors.New("not trusted")

// TooLargeError reports an input over its size bound.
type TooLargeError struct {
	// What names the input, e.g. "--from-file /dev/zero".
	What string
	// Limit is the bound in bytes.
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s: larger than %s, the most accepted", e.What, FormatBytes(e.Limit))
}

// Unwrap returns ErrTooLarge.
func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

// FormatBytes formats n as "N bytes", "N KiB" or "N MiB".
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// ReadAll reads r to its end, at most limit bytes; past that it returns a
// *TooLargeError naming what.
func ReadAll(r io.Reader, limit int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, &TooLargeError{What: what, Limit: limit}
	}
	return b, nil
}

// ReadFile reads the file at path, at most limit bytes; past that it returns
// a *TooLargeError naming what (path when what is ""). It reads devices and
// pipes too (bounded), so that /dev/stdin works; see ReadTrusted for files
// that must be the user's own.
func ReadFile(path string, limit int64, what string) ([]byte, error) {
	if what == "" {
		what = path
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAll(f, limit, what)
}

// Reader wraps r so that reading more than limit bytes fails with a
// *TooLargeError naming what.
func Reader(r io.Reader, limit int64, what string) io.Reader {
	return &limited{r: r, left: limit, limit: limit, what: what}
}

type limited struct {
	r           io.Reader
	left, limit int64
	what        string
}

func (l *limited) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, &TooLargeError{What: l.what, Limit: l.limit}
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		n += int(l.left) // drop the byte past the bound
		return n, &TooLargeError{What: l.what, Limit: l.limit}
	}
	return n, err
}

// ReadTrusted opens path, checks the opened file with CheckFile (a regular
// file owned by the current user or root, not writable by group or others)
// and reads it, at most limit bytes. what names the file's role in errors,
// e.g. "CA file (AMLSECRETS_CA_FILE)".
func ReadTrusted(path string, limit int64, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := checkInfo(path, fi, false, what, 0o022); err != nil {
		return nil, err
	}
	return ReadAll(f, limit, what+" "+path)
}

// CheckOpened applies CheckFile's rule to an already opened file (its
// fstat, so the file checked is the file read). path and what name it in
// errors.
func CheckOpened(f *os.File, path, what string) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return checkInfo(path, fi, false, what, 0o022)
}

// CheckOpenedOthers is CheckOpened with a looser mode rule: writable by
// group is allowed, by others not (for files that umask 002 systems make
// group-writable as a matter of course).
func CheckOpenedOthers(f *os.File, path, what string) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return checkInfo(path, fi, false, what, 0o002)
}

// CheckDirOthers is CheckDir with CheckOpenedOthers' mode rule.
func CheckDirOthers(dir, what string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	return checkInfo(dir, fi, true, what, 0o002)
}

// CheckFile reports whether path is a regular file owned by the current user
// or root and not writable by group or others. The error names the file,
// what it is for, and why it is refused.
func CheckFile(path, what string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return checkInfo(path, fi, false, what, 0o022)
}

// CheckDir reports whether dir is a folder owned by the current user or root
// and not writable by group or others.
func CheckDir(dir, what string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	return checkInfo(dir, fi, true, what, 0o022)
}

// UntrustedError reports a file or folder that breaks the ownership rule.
type UntrustedError struct {
	// Path is the file or folder.
	Path string
	// What names its role, e.g. "CA file (AMLSECRETS_CA_FILE)".
	What string
	// Reason says which part of the rule it breaks.
	Reason string
}

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("%s %s is not trusted: %s", e.What, e.Path, e.Reason)
}

// Unwrap returns ErrUntrusted.
func (e *UntrustedError) Unwrap() error { return ErrUntrusted }

func checkInfo(path string, fi fs.FileInfo, dir bool, what string, mask fs.FileMode) error {
	bad := func(reason string) error { return &UntrustedError{Path: path, What: what, Reason: reason} }
	switch {
	case dir && !fi.IsDir():
		return bad("not a folder")
	case !dir && !fi.Mode().IsRegular():
		return bad("not a regular file")
	}
	if !strictModes {
		return nil
	}
	if fi.Mode().Perm()&mask != 0 {
		who := "group or others"
		if mask&0o020 == 0 {
			who = "others"
		}
		return bad(fmt.Sprintf("writable by %s (mode %04o)", who, fi.Mode().Perm()))
	}
	if uid, ok := owner(fi); ok && uid != 0 && uid != os.Getuid() {
		return bad(fmt.Sprintf("owned by another user (uid %d)", uid))
	}
	return nil
}
