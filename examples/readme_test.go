package examples_test

import (
	"bytes"
	"context"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README tests run the shell blocks of a README exactly as written, in
// order, in one shell, as a new user following it would: in a fresh copy of
// the repository, with a private HOME and TMPDIR, no AZURE_*/AMLSECRETS_*
// variables, and the Go caches of the test process (so nothing is
// downloaded: GOPROXY=off).

// notRun marks a block the README tests skip, with the reason; it is the
// line before the block.
const notRun = "<!-- not run by the README tests:"

// shellBlocks returns the ```sh blocks of md between the heading line from
// (inclusive; "" = the start) and the next heading of the same level.
func shellBlocks(t *testing.T, md, from string) []string {
	t.Helper()
	lines := strings.Split(md, "\n")
	i := 0
	level := ""
	if from != "" {
		for i < len(lines) && lines[i] != from {
			i++
		}
		require.Less(t, i, len(lines), "heading %q not found", from)
		level = from[:strings.Index(from, " ")+1]
		i++
	}
	var blocks []string
	for ; i < len(lines); i++ {
		l := lines[i]
		if level != "" && strings.HasPrefix(l, level) {
			break
		}
		if strings.TrimSpace(l) != "```sh" {
			continue
		}
		skip := i > 0 && strings.HasPrefix(lines[i-1], notRun)
		var b strings.Builder
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			b.WriteString(lines[i] + "\n")
		}
		if !skip {
			blocks = append(blocks, b.String())
		}
	}
	return blocks
}

// copyRepo copies the repository (without .git) to a fresh folder.
func copyRepo(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	dst := filepath.Join(t.TempDir(), "repo")
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() && (rel == ".git" || rel == "tmp") {
			return filepath.SkipDir
		}
		if d.Type()&fs.ModeSymlink != 0 || (!d.IsDir() && !d.Type().IsRegular()) {
			return nil
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if rel == "amlsecrets" || rel == "kvbench" || rel == ".git" { // binaries built in the checkout; a worktree's .git file
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	require.NoError(t, err)
	return dst
}

// goEnv returns `go env NAME`.
func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

// runBlocks runs the blocks in one sh -e, in dir, and returns its output.
// Each block is announced on stderr, so a failure points at its block.
func runBlocks(t *testing.T, dir string, blocks []string) (string, string) {
	t.Helper()
	require.NotEmpty(t, blocks)
	var script strings.Builder
	script.WriteString("set -e\n")
	for i, b := range blocks {
		script.WriteString("echo '--- README block " + string(rune('1'+i)) + "' >&2\n")
		script.WriteString(b)
	}
	private := t.TempDir()
	home, tmp, bin := filepath.Join(private, "home"), filepath.Join(private, "tmp"), filepath.Join(private, "bin")
	for _, d := range []string{home, tmp, bin} {
		require.NoError(t, os.Mkdir(d, 0o755))
	}
	env := cleanEnv(
		"HOME="+home, "TMPDIR="+tmp, "GOBIN="+bin, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GOCACHE="+goEnv(t, "GOCACHE"), "GOMODCACHE="+goEnv(t, "GOMODCACHE"), "GOPATH="+goEnv(t, "GOPATH"),
		// -trimpath: builds in the copy then hit the build cache whatever
		// the copy's folder (the folder is otherwise part of the cache key).
		"GOPROXY=off", "GOTOOLCHAIN=local", "GOFLAGS="+strings.TrimSpace("-trimpath "+goEnv(t, "GOFLAGS")),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", script.String())
	cmd.Dir = dir
	cmd.Env = env
	// Its own process group, killed whole at the end: a server that a
	// failed block left running must not outlive the test (or hold its
	// output open).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	require.NoError(t, cmd.Start())
	err := cmd.Wait()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	require.NoError(t, err, "README blocks failed\nscript:\n%s\nstdout:\n%s\nstderr:\n%s", script.String(), o.String(), e.String())
	return o.String(), e.String()
}

// TestREADMELocalWorkflow runs the main README's local workflow, every block
// in order, and checks what it promises.
func TestREADMELocalWorkflow(t *testing.T) {
	skipShort(t)
	md, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	blocks := shellBlocks(t, string(md), "## Local workflow: the emulator and the CLI")
	require.GreaterOrEqual(t, len(blocks), 7)
	// The README fixes the port (so that references survive restarts).
	ln, err := net.Listen("tcp", "127.0.0.1:8443")
	if err != nil {
		t.Skipf("the README's port 127.0.0.1:8443 is in use here: %v", err)
	}
	require.NoError(t, ln.Close())

	dir := copyRepo(t)
	out, errOut := runBlocks(t, dir, blocks)
	assert.Contains(t, out, "https://127.0.0.1:8443/\n")
	assert.Contains(t, out, "the program sees DB_PASSWORD=hunter2\n", "exec resolved the reference")
	assert.Contains(t, out, "api-key\ndb-host\ndb-password\ndb-user\nsmtp-password\n", "list")
	assert.Contains(t, out, "got db-password (7 bytes)\ngot api-key (7 bytes)\ntraining with 2 secrets: done\n")
	assert.Regexp(t, regexp.MustCompile(`(?m)^hunter2\n\z`), out, "the secret survived the restart")
	assert.NotContains(t, errOut, "amlsecrets: ", "no command failed")

	// The files it made are the ones the .gitignore lists.
	gi, err := os.ReadFile(filepath.Join(dir, ".gitignore"))
	require.NoError(t, err)
	for _, f := range []string{"vault.json", "amlsecrets.env", "amlsecrets-ca.pem", ".env"} {
		assert.FileExists(t, filepath.Join(dir, f))
		assert.Contains(t, string(gi), "\n"+f+"\n", ".gitignore lists %s", f)
		assert.Contains(t, string(md), "\n"+f+"\n", "the README tells users to ignore %s", f)
	}
}

// TestREADMEJobWorkflow runs the main README's `serve --job` block: the
// job code and the CLI take the job path against the local world.
func TestREADMEJobWorkflow(t *testing.T) {
	skipShort(t)
	md, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	blocks := shellBlocks(t, string(md), "## A whole Azure ML job on your laptop: `amlsecrets serve --job`")
	require.Len(t, blocks, 1)
	dir := copyRepo(t)
	out, errOut := runBlocks(t, dir, blocks)
	assert.Contains(t, out, "run: submitted run local_", "trainjob took the job path")
	assert.Contains(t, out, "got db-password (6 bytes)\ngot api-key (3 bytes)\ntraining with 2 secrets: done\n")
	assert.Contains(t, out, "api-key\ndb-password\n", "amlsecrets list read the job's vault")
	assert.NotContains(t, errOut, "amlsecrets: ", "no command failed")
	gi, err := os.ReadFile(filepath.Join(dir, ".gitignore"))
	require.NoError(t, err)
	assert.Contains(t, string(gi), "\njob.env\n", ".gitignore lists job.env")
}

// TestExampleREADMEs runs each example's README the same way.
func TestExampleREADMEs(t *testing.T) {
	skipShort(t)
	for _, ex := range []string{"trainjob", "setfromenv", "fakevault"} {
		t.Run(ex, func(t *testing.T) {
			md, err := os.ReadFile(filepath.Join(ex, "README.md"))
			require.NoError(t, err)
			blocks := shellBlocks(t, string(md), "")
			dir := copyRepo(t)
			out, errOut := runBlocks(t, dir, blocks)
			assert.NotContains(t, out+errOut, "FAIL")
		})
	}
}
