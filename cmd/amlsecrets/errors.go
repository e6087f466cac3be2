package main

import (
	"context"
	"errors"
	"strings"

	"github.com/go-azureml/secrets/keyvault"
)

const rootLong = `amlsecrets sets, gets, lists and deletes the secrets of an Azure Machine Learning
workspace's default Key Vault (and recovers or purges deleted ones), runs a
command with secret references in its environment resolved (exec), and runs a
local Key Vault emulator (serve) that speaks the real REST protocol, for
development and tests without Azure.

Secret values never appear in logs or error messages; only 'get' prints one,
on stdout. Values are never taken from the command line (it shows in ps and
in shell history): 'set' reads them from an environment variable, a file,
stdin or a .env file.

Picking the vault (set, get, list, delete, recover, purge, exec), the same order as a
job's own code (run.GetContext) after the flags:
  1. --vault URL
  2. --config PATH: an azureml workspace config; its default vault (the
     config's key_vault entry, else the workspace's, looked up through ARM)
  3. inside a submitted job (AZUREML_RUN_ID set): the job's workspace
     (AZUREML_ARM_SUBSCRIPTION, AZUREML_ARM_RESOURCEGROUP,
     AZUREML_ARM_WORKSPACE_NAME) and its default vault
  4. AMLSECRETS_KEYVAULT_URL (and AMLSECRETS_CA_FILE), as 'amlsecrets serve'
     prints them
  5. a config.json found by azureml's search (.azureml/, aml_config/ or the
     folder itself, from the current directory up)
Credentials come from the environment: the managed identity on Azure ML
compute, a service principal (AZURE_TENANT_ID, AZURE_CLIENT_ID, ...), workload
identity or 'az login'. A loopback vault (amlsecrets serve) needs none.

Exit status:
  0  ok
  1  other error (the vault unreachable, a bad .env file, ...)
  2  usage error (bad flags, a bad secret name, a value offered on the command line)
  3  a secret not found
  4  permission denied
  5  throttled by the vault (retries exhausted)
exec exits with its command's own status.`

// exitCode maps an error to the exit status documented in rootLong. A batch
// error gets a specific status only when every failure has it.
func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") {
		return exitUsage
	}
	var be *keyvault.BatchError
	if errors.As(err, &be) {
		code := -1
		for _, e := range be.Failed {
			c := exitCode(e)
			if code == -1 {
				code = c
			} else if code != c {
				return exitError
			}
		}
		if code == -1 {
			return exitError
		}
		return code
	}
	switch {
	case errors.Is(err, keyvault.ErrInvalidName):
		return exitUsage
	case errors.Is(err, keyvault.ErrNotFound):
		return exitNotFound
	case errors.Is(err, keyvault.ErrPermission):
		return exitPermission
	case errors.Is(err, keyvault.ErrThrottled):
		return exitThrottled
	}
	return exitError
}

// hint says what to do about an error, or "".
func hint(err error) string {
	var te *timeoutError
	switch {
	case errors.As(err, &te):
		return "" // its message says it
	case errors.Is(err, keyvault.ErrDisabled):
		return "enable the version, or set a new one"
	case errors.Is(err, keyvault.ErrNotFound):
		var ke *keyvault.Error
		if errors.As(err, &ke) && (ke.Op == "recover secret" || ke.Op == "purge secret") {
			return "no deleted secret has this name: 'amlsecrets list --deleted' lists them"
		}
		return "check the name with 'amlsecrets list'"
	case errors.Is(err, keyvault.ErrPermission):
		return "the identity needs a Key Vault data role on the vault ('Key Vault Secrets User' to read, 'Key Vault Secrets Officer' to write) or an access policy"
	case errors.Is(err, keyvault.ErrThrottled):
		return "the vault is throttling requests: try again in a few seconds, or set fewer secrets at once"
	case errors.Is(err, keyvault.ErrConflict):
		var se *keyvault.ServiceError
		if errors.As(err, &se) && strings.EqualFold(se.Code, "ObjectIsBeingDeleted") {
			return "the name's deletion is still propagating in the vault: try again in a few seconds"
		}
		var ke *keyvault.Error
		errors.As(err, &ke)
		if ke == nil {
			return conflictHint("")
		}
		return conflictHint(ke.Name)
	case errors.Is(err, keyvault.ErrInvalidValue):
		return "Key Vault values are at most 25 KiB"
	case errors.Is(err, keyvault.ErrUnavailable):
		return "is the vault reachable? (for a local vault: is 'amlsecrets serve' still running, and is AMLSECRETS_KEYVAULT_URL its current URL?)"
	case errors.Is(err, context.DeadlineExceeded):
		return "the vault did not answer in time (--timeout)"
	}
	return ""
}

// oneLine folds a multi-line message onto one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	f := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	return strings.Join(f, "; ")
}
