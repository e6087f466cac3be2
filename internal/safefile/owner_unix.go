//go:build unix

package safefile

import (
	"io/fs"
	"syscall"
)

// strictModes: Unix mode bits and owners mean what the rule checks.
const strictModes = true

// owner returns the uid that owns the file.
func owner(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
