package workspace_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-azureml/secrets/keyvault/keyvaulttest"
	"github.com/go-azureml/secrets/workspace"
)

// FromConfig searches upwards from a folder, as azureml-core's
// Workspace.from_config does.
func ExampleFromConfig() {
	root, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(root)
	_ = os.MkdirAll(filepath.Join(root, ".azureml"), 0o755)
	_ = os.WriteFile(filepath.Join(root, ".azureml", "config.json"),
		[]byte(`{"subscription_id": "sub", "resource_group": "rg", "workspace_name": "ws"}`), 0o644)
	nested := filepath.Join(root, "src", "train")
	_ = os.MkdirAll(nested, 0o755)

	w, err := workspace.FromConfig(nested, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	rel, _ := filepath.Rel(root, w.ConfigPath)
	fmt.Println(w.Name, w.ResourceGroup, filepath.ToSlash(rel))
	fmt.Println(w.ARMID())
	// Output:
	// ws rg .azureml/config.json
	// /subscriptions/sub/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws
}

// WriteConfig writes what FromConfig reads back.
func ExampleWorkspace_WriteConfig() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)

	w := workspace.New("sub", "rg", "ws", nil)
	if err := w.WriteConfig(dir); err != nil {
		fmt.Println(err)
		return
	}
	data, _ := os.ReadFile(filepath.Join(dir, ".azureml", "config.json"))
	fmt.Print(string(data))
	// Output:
	// {
	//     "subscription_id": "sub",
	//     "resource_group": "rg",
	//     "workspace_name": "ws"
	// }
}

// FromEnv reads the variables Azure ML sets in a job.
func ExampleFromEnv() {
	env := map[string]string{
		workspace.EnvSubscription:  "sub",
		workspace.EnvResourceGroup: "rg",
	}
	_, err := workspace.FromEnv(&workspace.Options{Getenv: func(k string) string { return env[k] }})
	fmt.Println(err)
	// Output:
	// workspace: environment lacks AZUREML_ARM_WORKSPACE_NAME: Azure ML sets them inside a job; outside one, use the workspace's config.json
}

// DefaultKeyvault with a key_vault entry needs no ARM request; here the
// vault is the emulator of keyvault/keyvaulttest.
func ExampleWorkspace_DefaultKeyvault() {
	srv := keyvaulttest.NewServer(nil)
	defer srv.Close()
	ctx := context.Background()

	w := workspace.New("sub", "rg", "ws", &workspace.Options{
		Credential:    srv.Credential(),
		ClientOptions: srv.ClientOptions(),
		Getenv:        func(string) string { return "" },
	})
	w.KeyVault = srv.VaultName() // as "key_vault" in config.json
	kv, err := w.DefaultKeyvault(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := kv.SetSecrets(ctx, map[string]string{"db-password": "hunter2"}); err != nil {
		fmt.Println(err)
		return
	}
	v, err := kv.GetSecret(ctx, "db-password")
	fmt.Println(len(v), err)
	// Output:
	// 7 <nil>
}
