package kvemulator_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestNoTestingInBinary checks that the amlsecrets binary, which links the
// emulator, links no test code: package testing is not among its dependencies.
func TestNoTestingInBinary(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	for _, pkg := range []string{"github.com/go-azureml/secrets/keyvault/kvemulator", "github.com/go-azureml/secrets/cmd/amlsecrets"} {
		out, err := exec.CommandContext(t.Context(), goTool, "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		if slices.Contains(strings.Fields(string(out)), "testing") {
			t.Errorf("%s depends on package testing", pkg)
		}
	}
}
