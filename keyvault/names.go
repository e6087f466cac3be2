package keyvault

import (
	"fmt"
	"strings"
)

// Key Vault's limits, enforced before any request is sent.
const (
	// MaxNameLength is the longest secret name Key Vault accepts.
	MaxNameLength = 127
	// MaxValueBytes is the largest secret value Key Vault accepts: 25 KiB.
	MaxValueBytes = 25 * 1024
)

// NameRule describes a valid secret name, as error messages show it.
const NameRule = "1-127 characters of 0-9, a-z, A-Z and '-'"

// ValidateName reports whether name is a valid Key Vault secret name: 1 to 127
// characters of [0-9a-zA-Z-]. The error wraps ErrInvalidName, shows the name
// and the rule, and for a name with '_' (Key Vault forbids it, and code ported
// from azureml often uses it) suggests the '-' spelling.
func ValidateName(name string) error {
	if len(name) >= 1 && len(name) <= MaxNameLength && validChars(name) {
		return nil
	}
	msg := fmt.Sprintf("%q: a name is %s", truncateName(name), NameRule)
	switch {
	case name == "":
		msg = `"": a name is ` + NameRule + ", and this one is empty"
	case len(name) > MaxNameLength:
		msg = fmt.Sprintf("%q: a name is %s, and this one has %d", truncateName(name), NameRule, len(name))
	case strings.Contains(name, "_"):
		if s := SuggestName(name); ValidateName(s) == nil {
			msg += fmt.Sprintf("; Key Vault forbids '_': did you mean %q?", s)
		}
	}
	return &nameError{msg: msg}
}

type nameError struct{ msg string }

func (e *nameError) Error() string { return ErrInvalidName.Error() + " " + e.msg }
func (e *nameError) Unwrap() error { return ErrInvalidName }

// truncateName keeps error messages short whatever the input: at most 40
// bytes of the name are shown.
func truncateName(s string) string {
	if len(s) <= 40 {
		return s
	}
	return s[:40] + "..."
}

func validChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
			return false
		}
	}
	return true
}

// SuggestName maps a name to a valid spelling where it can: '_', '.', ' '
// and '/' become '-'. The result may still be invalid (other characters are
// left as they are); check it with ValidateName.
func SuggestName(name string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '_', '.', ' ', '/':
			return '-'
		}
		return r
	}, name)
}

// NameFromEnv turns an environment variable's name into a secret name: lower
// case, with '_' as '-' (DB_PASSWORD -> db-password). It is the mapping the
// CLI's --from-env-prefix and the offline run's lookup use.
func NameFromEnv(variable string) string {
	return strings.ToLower(strings.ReplaceAll(variable, "_", "-"))
}

// EnvFromName is the inverse of NameFromEnv: upper case, with '-' as '_'
// (db-password -> DB_PASSWORD).
func EnvFromName(name string) string {
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// NameKey returns the identity Key Vault gives a name: names are
// case-insensitive, so "DB-Password" and "db-password" are the same secret.
func NameKey(name string) string { return strings.ToLower(name) }

// ValidateValue reports whether value fits Key Vault's size limit. The error
// wraps ErrInvalidValue and gives the size, never the value.
func ValidateValue(value string) error {
	if len(value) > MaxValueBytes {
		return fmt.Errorf("%w: %d bytes is over Key Vault's limit of %d bytes (25 KiB)", ErrInvalidValue, len(value), MaxValueBytes)
	}
	return nil
}
