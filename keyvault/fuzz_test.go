package keyvault_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/go-azureml/secrets/keyvault"
)

var nameRE = regexp.MustCompile(`^[0-9a-zA-Z-]{1,127}$`)

// FuzzValidateName checks ValidateName against the rule as a regular
// expression, and that its error always wraps ErrInvalidName and that any
// suggestion it makes is itself valid. Seeds: testdata/fuzz/FuzzValidateName.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"db-password", "db_password", "", "a", strings.Repeat("z", 127), strings.Repeat("z", 128), "ünicode", "a b", "A_B_C", "-", "x\x00y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := keyvault.ValidateName(name)
		if valid := nameRE.MatchString(name); valid != (err == nil) {
			t.Fatalf("ValidateName(%q) = %v, but the rule says valid=%v", name, err, valid)
		}
		if err == nil {
			return
		}
		if !errors.Is(err, keyvault.ErrInvalidName) {
			t.Fatalf("error %v does not wrap ErrInvalidName", err)
		}
		if msg := err.Error(); strings.Contains(msg, "did you mean") {
			i := strings.LastIndex(msg, "did you mean ")
			s := strings.TrimSuffix(msg[i+len("did you mean "):], "?")
			if !strings.HasPrefix(s, `"`) || keyvault.ValidateName(keyvault.SuggestName(name)) != nil {
				t.Fatalf("suggested an invalid name in %q", msg)
			}
		}
		if len(err.Error()) > 400 {
			t.Fatalf("error message of %d bytes is too long", len(err.Error()))
		}
	})
}
