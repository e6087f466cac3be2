package workspace

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-azureml/secrets/internal/safefile"
)

// Config file names and folders FromConfig searches, in azureml-core's order.
const (
	// ConfigFileName is the config file azureml-core writes.
	ConfigFileName = "config.json"
	// LegacyConfigFileName is the older name azureml-core still reads.
	LegacyConfigFileName = "project.json"
	// ConfigDir is the folder WriteConfig writes into.
	ConfigDir = ".azureml"
	// LegacyConfigDir is the older folder, still read, and written when it
	// exists.
	LegacyConfigDir = "aml_config"
)

// Config keys.
const (
	keySubscription  = "subscription_id"
	keyResourceGroup = "resource_group"
	keyWorkspace     = "workspace_name"
	keyScope         = "Scope"
	keyKeyVault      = "key_vault"
)

// ErrConfigNotFound is wrapped by FromConfig's error when no config file
// exists in the folder or any of its parents.
var ErrConfigNotFound = errors.New("workspace config file not found")

// FindConfig returns the config file FromConfig would read for path, with
// azureml-core's rules: a file path is used as is; for a folder ("" = the
// current directory) the search is
//
//	for sub in [.azureml, aml_config, the folder itself]:
//	    for name in [config.json, project.json]:
//	        for dir in [the folder, its parent, ..., the filesystem root]:
//	            if dir/sub/name is a file: return it
//
// so the walk up is the innermost loop: .azureml/config.json in any ancestor
// beats ./config.json, and .azureml/project.json in the folder beats
// ./config.json too. The error wraps ErrConfigNotFound and names the folder
// where the search started.
func FindConfig(path string) (string, error) {
	if path == "" {
		path = "."
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("workspace: config path %s: %w", path, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case err == nil && !fi.IsDir():
		return abs, nil
	case path != "." && errors.Is(err, fs.ErrNotExist):
		// A path given by the caller (--config FILE) that is not there:
		// say so, rather than that a search found nothing.
		return "", fmt.Errorf("workspace: %w: %s: %w", ErrConfigNotFound, abs, fs.ErrNotExist)
	}
	for _, sub := range []string{ConfigDir, LegacyConfigDir, ""} {
		for _, name := range []string{ConfigFileName, LegacyConfigFileName} {
			for dir := abs; ; {
				p := filepath.Join(dir, sub, name)
				if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
					return p, nil
				}
				parent := filepath.Dir(dir)
				if parent == dir {
					break
				}
				dir = parent
			}
		}
	}
	return "", fmt.Errorf("workspace: %w: no %s or %s in %s or its parent folders (nor in their %s/ or %s/); download config.json from the workspace's page in Azure ML studio, or give the file's path",
		ErrConfigNotFound, ConfigFileName, LegacyConfigFileName, abs, ConfigDir, LegacyConfigDir)
}

// FromConfig reads the workspace from an azureml config file: path is the
// file itself or a folder to search from ("" = the current directory), see
// FindConfig. The file is JSON with subscription_id, resource_group and
// workspace_name (all required); a Scope key
// (/subscriptions/S/resourceGroups/RG/providers/Microsoft.MachineLearningServices/workspaces/W),
// when present, wins over them. An optional key_vault (a vault URL or name)
// names the vault DefaultKeyvault uses without asking ARM. Other keys are
// ignored; a UTF-8 byte order mark is tolerated.
func FromConfig(path string, opts *Options) (*Workspace, error) {
	file, err := FindConfig(path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("workspace: read config file %s: %w", file, err)
	}
	defer f.Close()
	data, err := safefile.ReadAll(f, MaxConfigBytes, "config file "+file)
	if err != nil {
		if errors.Is(err, safefile.ErrTooLarge) {
			return nil, fmt.Errorf("workspace: %w; an azureml config.json is a few hundred bytes: is %s the right file?", err, file)
		}
		return nil, fmt.Errorf("workspace: read config file %s: %w", file, err)
	}
	w, err := parseConfig(file, data)
	if err != nil {
		return nil, err
	}
	if w.KeyVault != "" {
		if err := trustKeyVault(f, file); err != nil {
			return nil, err
		}
	}
	w.ConfigPath = file
	w.setOptions(opts)
	return w, nil
}

// MaxConfigBytes bounds the config file FromConfig reads.
const MaxConfigBytes = 1 << 20

// trustKeyVault applies ssh's StrictModes rule to a config file that sets
// key_vault, which decides where secret values are written: the file and its
// folder must be owned by the current user or root and not be writable by
// others. azureml's search climbs into ancestor folders, which may be
// another user's; the three azureml keys keep that search, key_vault does
// not come from such a place.
func trustKeyVault(f *os.File, file string) error {
	err := safefile.CheckOpenedOthers(f, file, "config file")
	if err == nil {
		err = safefile.CheckDirOthers(filepath.Dir(file), "its folder")
	}
	if err != nil {
		return fmt.Errorf("workspace: config file %s sets %s, which decides where secret values are written, but %w; use %s only from a config file and folder of your own that others cannot write (chmod o-w), or remove it and let the workspace's vault be looked up", file, keyKeyVault, err, keyKeyVault)
	}
	return nil
}

func parseConfig(file string, data []byte) (*Workspace, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("workspace: config file %s: %s", file, jsonError(data, err))
	}
	if raw == nil {
		return nil, fmt.Errorf("workspace: config file %s: holds null, not a JSON object", file)
	}
	str := func(key string) (string, error) {
		v, ok := raw[key]
		if !ok || string(v) == "null" {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", fmt.Errorf("workspace: config file %s: %s is not a string", file, key)
		}
		return strings.TrimSpace(s), nil
	}
	w := &Workspace{}
	kv, err := str(keyKeyVault)
	if err != nil {
		return nil, err
	}
	w.KeyVault = kv
	scope, err := str(keyScope)
	if err != nil {
		return nil, err
	}
	if scope != "" {
		sub, rg, name, err := ParseARMID(scope)
		if err != nil {
			return nil, fmt.Errorf("workspace: config file %s: %s: %w", file, keyScope, err)
		}
		w.SubscriptionID, w.ResourceGroup, w.Name = sub, rg, name
		return w, nil
	}
	var missing []string
	for _, f := range []struct {
		key string
		dst *string
	}{{keySubscription, &w.SubscriptionID}, {keyResourceGroup, &w.ResourceGroup}, {keyWorkspace, &w.Name}} {
		v, err := str(f.key)
		if err != nil {
			return nil, err
		}
		if v == "" {
			missing = append(missing, f.key)
		}
		*f.dst = v
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("workspace: config file %s lacks %s (or a %s key)", file, strings.Join(missing, ", "), keyScope)
	}
	return w, nil
}

// jsonError describes a JSON decoding error with its line and column.
func jsonError(data []byte, err error) string {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		if te.Value == "array" || te.Value == "string" || te.Value == "number" || te.Value == "bool" {
			return fmt.Sprintf("not a JSON object (holds a JSON %s)", te.Value)
		}
		off = te.Offset
	}
	if off < 0 {
		return "invalid JSON: " + err.Error()
	}
	line, col := position(data, off)
	return fmt.Sprintf("invalid JSON at line %d, column %d: %s", line, col, err.Error())
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line, col = 1, 1
	for _, b := range data[:off] {
		if b == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	// SyntaxError.Offset counts the bad byte itself; point at it.
	if col > 1 {
		col--
	}
	return line, col
}

// ParseARMID splits a workspace resource id,
// /subscriptions/S/resourceGroups/RG/providers/Microsoft.MachineLearningServices/workspaces/W
// (segment names matched case-insensitively, as ARM does).
func ParseARMID(id string) (subscriptionID, resourceGroup, name string, err error) {
	parts, ok := splitResourceID(id, "Microsoft.MachineLearningServices", "workspaces")
	if !ok {
		return "", "", "", fmt.Errorf("%q is not a workspace id like /subscriptions/S/resourceGroups/RG/providers/Microsoft.MachineLearningServices/workspaces/W", id)
	}
	return parts[0], parts[1], parts[2], nil
}

// splitResourceID matches
// /subscriptions/S/resourceGroups/RG/providers/PROVIDER/TYPE/NAME, segment
// names case-insensitively as ARM does, and returns S, RG and NAME.
func splitResourceID(id, provider, typ string) ([3]string, bool) {
	parts := strings.Split(strings.Trim(strings.TrimSpace(id), "/"), "/")
	want := []string{"subscriptions", "", "resourcegroups", "", "providers", provider, typ, ""}
	ok := len(parts) == len(want)
	for i := 0; ok && i < len(want); i++ {
		if want[i] == "" {
			ok = parts[i] != ""
		} else {
			ok = strings.EqualFold(parts[i], want[i])
		}
	}
	if !ok {
		return [3]string{}, false
	}
	return [3]string{parts[1], parts[3], parts[7]}, true
}

// WriteConfig writes the workspace to dir ("" = the current directory) as
// FromConfig reads it back: dir/aml_config/config.json when dir/aml_config
// exists, else dir/.azureml/config.json (creating .azureml). It writes
// subscription_id, resource_group, workspace_name and, when set, key_vault,
// atomically (a temporary file renamed over the old one), mode 0644: the file
// holds ids, no secret.
func (w *Workspace) WriteConfig(dir string) error {
	if w.SubscriptionID == "" || w.ResourceGroup == "" || w.Name == "" {
		return fmt.Errorf("workspace: write config: subscription id, resource group and name are all required")
	}
	if dir == "" {
		dir = "."
	}
	target := filepath.Join(dir, ConfigDir)
	if fi, err := os.Stat(filepath.Join(dir, LegacyConfigDir)); err == nil && fi.IsDir() {
		target = filepath.Join(dir, LegacyConfigDir)
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("workspace: write config: %w", err)
	}
	type config struct {
		SubscriptionID string `json:"subscription_id"`
		ResourceGroup  string `json:"resource_group"`
		WorkspaceName  string `json:"workspace_name"`
		KeyVault       string `json:"key_vault,omitempty"`
	}
	data, err := json.MarshalIndent(config{w.SubscriptionID, w.ResourceGroup, w.Name, w.KeyVault}, "", "    ")
	if err != nil {
		return fmt.Errorf("workspace: write config: %w", err)
	}
	data = append(data, '\n')
	return writeAtomic(filepath.Join(target, ConfigFileName), data, 0o644)
}

// writeAtomic writes data to a temporary file beside path, syncs it and
// renames it over path.
func writeAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("workspace: write config: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, perm)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("workspace: write config %s: %w", path, err)
	}
	return nil
}
