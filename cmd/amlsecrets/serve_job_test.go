package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestServeJobFlagErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "conns.json")
	if err := os.WriteFile(bad, []byte(`{"openai": {"name": "x"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"serve", "--identity", "obo"}, exitUsage, "amlsecrets: --identity needs --job (see "},
		{[]string{"serve", "--connections", bad}, exitUsage, "amlsecrets: --connections needs --job (see "},
		{[]string{"serve", "--job", "--identity", "spn"}, exitUsage, `amlsecrets: invalid --identity "spn": want managed or obo (see`},
		{[]string{"serve", "--job", "--allow-remote"}, exitUsage, "amlsecrets: --job serves loopback only: drop --allow-remote"},
		{[]string{"serve", "--job", "--addr", "0.0.0.0:0"}, exitUsage, "amlsecrets: --addr 0.0.0.0:0 listens beyond this machine"},
		{[]string{"serve", "--job", "--connections", bad}, exitError, "amlsecrets: serve --job: --connections " + bad + `: connection openai: want a "properties" object with authType, category, target, credentials, metadata` + "\n"},
		{[]string{"serve", "--job", "--connections", filepath.Join(t.TempDir(), "missing.json")}, exitError, "no such file or directory"},
	} {
		r := cli(t, cliOpts{}, tc.args...)
		assert.Equal(t, tc.code, r.code, "%v: %s", tc.args, r.stderr)
		assert.Contains(t, r.stderr, tc.msg, tc.args)
		requireOneLineError(t, r)
	}
}
