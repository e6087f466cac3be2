package run

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/go-azureml/secrets/internal/dotenv"
	"github.com/go-azureml/secrets/keyvault"
)

var _ keyvault.Store = (*localStore)(nil)

// localStore is the read-only keyvault.Store of an offline run with no
// vault: environment variables, then a .env file. Values are held as
// keyvault.Value so that nothing prints them.
type localStore struct {
	getenv  func(string) string
	dotFile string                    // "" = none
	dotenv  map[string]keyvault.Value // from dotFile
	tried   []string                  // why there is no vault
}

func newLocalStore(getenv func(string) string, dotFile string, tried []string) (*localStore, error) {
	s := &localStore{getenv: getenv, dotFile: dotFile, tried: tried}
	if dotFile == "" {
		return s, nil
	}
	f, err := os.Open(dotFile)
	if err != nil {
		return nil, fmt.Errorf("run: .env file: %w", err)
	}
	defer f.Close()
	m, err := dotenv.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("run: .env file %s: %w", dotFile, err)
	}
	s.dotenv = make(map[string]keyvault.Value, len(m))
	for k, v := range m {
		s.dotenv[k] = keyvault.NewValue(v)
	}
	return s, nil
}

// keys are the variable names looked up for a secret name: the name as
// given, then keyvault.EnvFromName(name), once each.
func keys(name string) []string {
	if e := keyvault.EnvFromName(name); e != name {
		return []string{name, e}
	}
	return []string{name}
}

// String describes the source, never a value.
func (s *localStore) String() string {
	if s.dotFile == "" {
		return "environment variables, read-only"
	}
	return "environment variables and .env file " + s.dotFile + ", read-only"
}

// GetSecret looks the name up in the environment, then in the .env file. An
// empty environment variable counts as unset. Versions do not exist locally.
func (s *localStore) GetSecret(ctx context.Context, name, version string) (keyvault.Secret, error) {
	if err := ctx.Err(); err != nil {
		return keyvault.Secret{}, err
	}
	if err := keyvault.ValidateName(name); err != nil {
		return keyvault.Secret{}, err
	}
	ks := keys(name)
	if version == "" {
		for _, k := range ks {
			if v, ok := s.lookupEnv(k); ok {
				return secret(name, v), nil
			}
		}
		for _, k := range ks {
			if v, ok := s.dotenv[k]; ok {
				return keyvault.Secret{Properties: props(name), Value: v}, nil
			}
		}
	}
	return keyvault.Secret{}, s.notFound(name, version, ks)
}

// lookupEnv reads a variable; an empty one counts as unset.
func (s *localStore) lookupEnv(k string) (string, bool) {
	v := s.getenv(k)
	return v, v != ""
}

func secret(name, v string) keyvault.Secret {
	return keyvault.Secret{Properties: props(name), Value: keyvault.NewValue(v)}
}

func props(name string) keyvault.Properties {
	return keyvault.Properties{Name: name, Enabled: true}
}

func (s *localStore) notFound(name, version string, ks []string) error {
	if version != "" {
		return fmt.Errorf("%w: version %s: the local source has no versions", keyvault.ErrNotFound, version)
	}
	where := "environment variable " + ks[0]
	if len(ks) > 1 {
		where = "environment variables " + strings.Join(ks, " and ")
	}
	if s.dotFile == "" {
		where += " (no .env file given)"
	} else {
		where += " or in .env file " + s.dotFile
	}
	// Why there is no vault is said once, by Run.explain, not per secret.
	return fmt.Errorf("%w in %s", keyvault.ErrNotFound, where)
}

// SetSecret refuses: the local source is read-only.
func (s *localStore) SetSecret(context.Context, string, string, *keyvault.SetSecretOptions) (keyvault.Properties, error) {
	return keyvault.Properties{}, readOnlyError("")
}

// DeleteSecret refuses: the local source is read-only.
func (s *localStore) DeleteSecret(context.Context, string) error {
	return readOnlyError("")
}

// ListSecrets lists the .env file's entries whose keys map to valid secret
// names (keyvault.NameFromEnv); environment variables are not listed, as
// most of them are not secrets.
func (s *localStore) ListSecrets(ctx context.Context) iter.Seq2[keyvault.Properties, error] {
	return func(yield func(keyvault.Properties, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(keyvault.Properties{}, err)
			return
		}
		seen := map[string]bool{}
		var names []string
		for k := range s.dotenv {
			n := keyvault.NameFromEnv(k)
			if keyvault.ValidateName(n) == nil && !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
		slices.Sort(names)
		for _, n := range names {
			if !yield(keyvault.Properties{Name: n, Enabled: true, Updated: time.Time{}}, nil) {
				return
			}
		}
	}
}

type readOnly struct{ op string }

func readOnlyError(op string) error { return &readOnly{op: op} }

func (e *readOnly) Error() string {
	msg := "the run is offline with no vault, and its local secrets (environment variables, .env file) are read-only; " +
		"to write secrets, point the run at a vault: " + vaultAdvice
	if e.op != "" {
		return "run: " + e.op + ": " + msg
	}
	return msg
}

func (e *readOnly) Unwrap() []error { return []error{ErrReadOnly, errors.ErrUnsupported} }
