package workspace

import (
	"fmt"
	"os"
	"strings"
)

// Environment variables FromEnv reads: Azure ML sets them in every job.
const (
	// EnvSubscription is the workspace's subscription id.
	EnvSubscription = "AZUREML_ARM_SUBSCRIPTION"
	// EnvResourceGroup is the workspace's resource group.
	EnvResourceGroup = "AZUREML_ARM_RESOURCEGROUP"
	// EnvWorkspaceName is the workspace's name.
	EnvWorkspaceName = "AZUREML_ARM_WORKSPACE_NAME"
)

// FromEnv reads the workspace from the variables Azure ML sets in a job:
// AZUREML_ARM_SUBSCRIPTION, AZUREML_ARM_RESOURCEGROUP and
// AZUREML_ARM_WORKSPACE_NAME, through opts.Getenv (nil = os.Getenv). The
// error lists every missing variable.
func FromEnv(opts *Options) (*Workspace, error) {
	getenv := os.Getenv
	if opts != nil && opts.Getenv != nil {
		getenv = opts.Getenv
	}
	w := &Workspace{}
	var missing []string
	for _, f := range []struct {
		key string
		dst *string
	}{{EnvSubscription, &w.SubscriptionID}, {EnvResourceGroup, &w.ResourceGroup}, {EnvWorkspaceName, &w.Name}} {
		*f.dst = strings.TrimSpace(getenv(f.key))
		if *f.dst == "" {
			missing = append(missing, f.key)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("workspace: environment lacks %s: Azure ML sets them inside a job; outside one, use the workspace's config.json", strings.Join(missing, ", "))
	}
	w.setOptions(opts)
	return w, nil
}
