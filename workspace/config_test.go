package workspace

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func cfg(sub, rg, name string) string {
	b, _ := json.Marshal(map[string]string{"subscription_id": sub, "resource_group": rg, "workspace_name": name})
	return string(b)
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			require.NoError(t, os.MkdirAll(full, 0o755))
			continue
		}
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(content), 0o644))
	}
}

func TestFromConfigSearch(t *testing.T) {
	const scope = "/subscriptions/sub-s/resourceGroups/rg-s/providers/Microsoft.MachineLearningServices/workspaces/ws-s"
	tests := []struct {
		name  string
		files map[string]string
		start string // relative to the temp root; the search starts here
		path  string // the argument, relative to the temp root ("" = start)
		want  string // workspace name expected, or "" when an error is
		file  string // the file expected to be read, relative to the root
		err   []string
	}{
		{name: "config.json in the folder", files: map[string]string{"config.json": cfg("s", "r", "plain")},
			want: "plain", file: "config.json"},
		{name: ".azureml/config.json in the folder", files: map[string]string{".azureml/config.json": cfg("s", "r", "dotazureml")},
			want: "dotazureml", file: ".azureml/config.json"},
		{name: "aml_config/config.json in the folder", files: map[string]string{"aml_config/config.json": cfg("s", "r", "amlconfig")},
			want: "amlconfig", file: "aml_config/config.json"},
		{name: ".azureml beats aml_config beats the folder", files: map[string]string{
			".azureml/config.json": cfg("s", "r", "dotazureml"), "aml_config/config.json": cfg("s", "r", "amlconfig"), "config.json": cfg("s", "r", "plain")},
			want: "dotazureml", file: ".azureml/config.json"},
		{name: "aml_config beats the folder", files: map[string]string{"aml_config/config.json": cfg("s", "r", "amlconfig"), "config.json": cfg("s", "r", "plain")},
			want: "amlconfig", file: "aml_config/config.json"},
		{name: "nested folders: found in a grandparent", files: map[string]string{"config.json": cfg("s", "r", "root"), "a/b/c/": ""},
			start: "a/b/c", want: "root", file: "config.json"},
		{name: ".azureml in an ancestor beats ./config.json", files: map[string]string{".azureml/config.json": cfg("s", "r", "ancestor"), "a/b/config.json": cfg("s", "r", "local")},
			start: "a/b", want: "ancestor", file: ".azureml/config.json"},
		{name: "nearest ancestor wins for the same kind", files: map[string]string{".azureml/config.json": cfg("s", "r", "far"), "a/.azureml/config.json": cfg("s", "r", "near"), "a/b/": ""},
			start: "a/b", want: "near", file: "a/.azureml/config.json"},
		{name: "project.json when there is no config.json", files: map[string]string{"project.json": cfg("s", "r", "legacy")},
			want: "legacy", file: "project.json"},
		{name: "config.json beats project.json of the same folder kind", files: map[string]string{"project.json": cfg("s", "r", "legacy"), "config.json": cfg("s", "r", "plain")},
			want: "plain", file: "config.json"},
		{name: "config.json in an ancestor beats project.json here", files: map[string]string{"config.json": cfg("s", "r", "ancestor"), "a/project.json": cfg("s", "r", "legacy")},
			start: "a", want: "ancestor", file: "config.json"},
		{name: ".azureml/project.json beats ./config.json", files: map[string]string{".azureml/project.json": cfg("s", "r", "legacy"), "config.json": cfg("s", "r", "plain")},
			want: "legacy", file: ".azureml/project.json"},
		{name: "a file path is used as is", files: map[string]string{"elsewhere/my.json": cfg("s", "r", "explicit"), ".azureml/config.json": cfg("s", "r", "dotazureml")},
			path: "elsewhere/my.json", want: "explicit", file: "elsewhere/my.json"},
		{name: "Scope wins over the three keys", files: map[string]string{"config.json": `{"Scope":"` + scope + `","subscription_id":"x","resource_group":"y","workspace_name":"z"}`},
			want: "ws-s", file: "config.json"},
		{name: "Scope alone is enough", files: map[string]string{"config.json": `{"Scope":"` + scope + `"}`},
			want: "ws-s", file: "config.json"},
		{name: "malformed Scope", files: map[string]string{"config.json": `{"Scope":"/subscriptions/s/workspaces/w"}`},
			err: []string{"config.json: Scope:", "is not a workspace id"}},
		{name: "missing keys are all named", files: map[string]string{"config.json": `{"subscription_id":"s","other":1}`},
			err: []string{"config.json lacks resource_group, workspace_name (or a Scope key)"}},
		{name: "empty values count as missing", files: map[string]string{"config.json": `{"subscription_id":"","resource_group":"r","workspace_name":"w"}`},
			err: []string{"lacks subscription_id (or a Scope key)"}},
		{name: "UTF-8 BOM is tolerated", files: map[string]string{"config.json": "\xef\xbb\xbf" + cfg("s", "r", "bom")},
			want: "bom", file: "config.json"},
		{name: "malformed JSON gives line and column", files: map[string]string{"config.json": "{\n  \"subscription_id\": \"s\",\n  \"resource_group\": \"r\"\n  \"workspace_name\": \"w\"\n}"},
			err: []string{"config.json: invalid JSON at line 4, column 3: invalid character '\"' after object key:value pair"}},
		{name: "truncated JSON", files: map[string]string{"config.json": `{"subscription_id": "s"`},
			err: []string{"invalid JSON at line 1, column 23: unexpected end of JSON input"}},
		{name: "a JSON array is not a config", files: map[string]string{"config.json": `["s"]`},
			err: []string{"not a JSON object (holds a JSON array)"}},
		{name: "a non-string key", files: map[string]string{"config.json": `{"subscription_id": 5, "resource_group":"r","workspace_name":"w"}`},
			err: []string{"subscription_id is not a string"}},
		{name: "key_vault is read", files: map[string]string{"config.json": `{"subscription_id":"s","resource_group":"r","workspace_name":"kv","key_vault":"myvault"}`},
			want: "kv", file: "config.json"},
		{name: "no file anywhere", files: map[string]string{"a/b/": ""}, start: "a/b",
			err: []string{"workspace config file not found: no config.json or project.json in ", "a/b or its parent folders (nor in their .azureml/ or aml_config/); download config.json from the workspace's page in Azure ML studio"}},
		{name: "a given file that does not exist", files: map[string]string{"a/": ""}, start: "a/nope.json",
			err: []string{"workspace config file not found: ", "a/nope.json: file does not exist"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, tt.files)
			start := filepath.Join(root, filepath.FromSlash(tt.start))
			arg := start
			if tt.path != "" {
				arg = filepath.Join(root, filepath.FromSlash(tt.path))
			}
			w, err := FromConfig(arg, nil)
			if len(tt.err) > 0 {
				require.Error(t, err)
				for _, s := range tt.err {
					assert.Contains(t, err.Error(), s)
				}
				if tt.name == "no file anywhere" {
					assert.True(t, errors.Is(err, ErrConfigNotFound))
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, w.Name)
			assert.Equal(t, filepath.Join(root, filepath.FromSlash(tt.file)), w.ConfigPath)
			if tt.name == "Scope wins over the three keys" {
				assert.Equal(t, "sub-s", w.SubscriptionID)
				assert.Equal(t, "rg-s", w.ResourceGroup)
			}
			if tt.name == "key_vault is read" {
				assert.Equal(t, "myvault", w.KeyVault)
			}
		})
	}
}

func TestFromConfigCurrentDirectory(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{".azureml/config.json": cfg("s", "r", "cwd"), "sub/": ""})
	t.Chdir(filepath.Join(root, "sub"))
	w, err := FromConfig("", nil)
	require.NoError(t, err)
	assert.Equal(t, "cwd", w.Name)
}

func TestWriteConfigRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		existing []string
		want     string
	}{
		{name: "default .azureml", want: ".azureml/config.json"},
		{name: "aml_config when it exists", existing: []string{"aml_config/"}, want: "aml_config/config.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, e := range tt.existing {
				writeFiles(t, dir, map[string]string{e: ""})
			}
			w := New("sub", "rg", "ws", nil)
			w.KeyVault = "https://v.vault.azure.net/"
			require.NoError(t, w.WriteConfig(dir))
			// Twice: the rename replaces the file.
			require.NoError(t, w.WriteConfig(dir))
			p := filepath.Join(dir, filepath.FromSlash(tt.want))
			fi, err := os.Stat(p)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
			got, err := FromConfig(dir, nil)
			require.NoError(t, err)
			assert.Equal(t, p, got.ConfigPath)
			assert.Equal(t, [4]string{"sub", "rg", "ws", "https://v.vault.azure.net/"}, [4]string{got.SubscriptionID, got.ResourceGroup, got.Name, got.KeyVault})
			entries, err := os.ReadDir(filepath.Dir(p))
			require.NoError(t, err)
			assert.Len(t, entries, 1, "no temporary file left behind")
		})
	}
	require.Error(t, (&Workspace{Name: "x"}).WriteConfig(t.TempDir()))
}

func TestFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	w, err := FromEnv(&Options{Getenv: env(map[string]string{EnvSubscription: "s", EnvResourceGroup: "r", EnvWorkspaceName: "w"})})
	require.NoError(t, err)
	assert.Equal(t, "/subscriptions/s/resourceGroups/r/providers/Microsoft.MachineLearningServices/workspaces/w", w.ARMID())
	assert.Equal(t, "workspace w (subscription s, resource group r)", w.String())

	_, err = FromEnv(&Options{Getenv: env(map[string]string{EnvResourceGroup: "r"})})
	require.EqualError(t, err, "workspace: environment lacks AZUREML_ARM_SUBSCRIPTION, AZUREML_ARM_WORKSPACE_NAME: Azure ML sets them inside a job; outside one, use the workspace's config.json")

	t.Setenv(EnvSubscription, "s2")
	t.Setenv(EnvResourceGroup, "r2")
	t.Setenv(EnvWorkspaceName, "w2")
	w, err = FromEnv(nil)
	require.NoError(t, err)
	assert.Equal(t, "w2", w.Name)
}

func TestParseARMID(t *testing.T) {
	s, r, n, err := ParseARMID("/SUBSCRIPTIONS/s/resourcegroups/r/providers/microsoft.machinelearningservices/Workspaces/n")
	require.NoError(t, err)
	assert.Equal(t, []string{"s", "r", "n"}, []string{s, r, n})
	for _, bad := range []string{"", "/subscriptions/s", "/subscriptions/s/resourceGroups/r/providers/Microsoft.KeyVault/vaults/n", "/subscriptions//resourceGroups/r/providers/Microsoft.MachineLearningServices/workspaces/n"} {
		_, _, _, err := ParseARMID(bad)
		assert.Error(t, err, bad)
	}
	w, err := FromARMID("/subscriptions/s/resourceGroups/r/providers/Microsoft.MachineLearningServices/workspaces/n", nil)
	require.NoError(t, err)
	assert.Equal(t, "n", w.Name)
}
