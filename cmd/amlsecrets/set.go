package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/go-azureml/secrets/internal/dotenv"
	"github.com/go-azureml/secrets/internal/safefile"
	"github.com/go-azureml/secrets/keyvault"
)

type setFlags struct {
	vaultFlags
	fromEnv       string
	fromFile      string
	stdin         bool
	fromEnvPrefix string
	dotenv        string
	contentType   string
	tags          []string
	value         string // refused: only there to explain why
	allowEmpty    bool
}

// batchConcurrency bounds a batch's requests in flight.
const batchConcurrency = 8

func newSetCmd() *cobra.Command {
	var f setFlags
	cmd := &cobra.Command{
		Use:   "set NAME (--from-env VAR | --from-file FILE | --stdin) | set (--from-env-prefix PREFIX | --dotenv FILE)",
		Short: "Set secrets from environment variables, a file, stdin or a .env file",
		Long: `set stores a new version of a secret. The value is never taken from the
command line, which shows in 'ps' and in shell history; it comes from:

  --from-env VAR    the environment variable VAR (which must be set)
  --from-file FILE  the file's bytes, exactly
  --stdin           standard input, with one trailing newline removed (as
                    echo or a terminal adds)

Batches set many secrets at once:

  --from-env-prefix PREFIX  every environment variable whose name starts
                            with PREFIX; the rest of its name, lower-cased
                            with '_' as '-', is the secret's name
                            (PREFIX=APP_: APP_DB_PASSWORD -> db-password)
  --dotenv FILE             every KEY=VALUE of a .env file; every KEY is
                            lower-cased with '_' as '-' (DB_PASSWORD and
                            db_password -> db-password, PLAIN -> plain)

A batch checks every name first and, if one is invalid, sets nothing. It then
reports each name's outcome on stderr ("set db-password: ok") and exits
non-zero if any failed; what succeeded stays set. --content-type and --tag
apply to every secret set.

An empty value is refused (it is usually a typo'd or unexported variable, or
an empty pipe), unless --allow-empty.`,
		Example: `  amlsecrets set db-password --from-env DB_PASSWORD
  printf %s "$TOKEN" | amlsecrets set api-token --stdin --tag owner=me
  amlsecrets set tls-cert --from-file cert.pem --content-type application/x-pem-file
  amlsecrets set --from-env-prefix APP_SECRET_
  amlsecrets set --dotenv .env`,
		Args: cobra.ArbitraryArgs, // checked in runSet, to explain a value given there
		RunE: func(cmd *cobra.Command, args []string) error { return runSet(cmd, &f, args) },
	}
	f.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.fromEnv, "from-env", "", "read the value from this environment variable")
	fl.StringVar(&f.fromFile, "from-file", "", "read the value from this file (its bytes, exactly)")
	fl.BoolVar(&f.stdin, "stdin", false, "read the value from standard input (one trailing newline removed)")
	fl.StringVar(&f.fromEnvPrefix, "from-env-prefix", "", "batch: set every environment variable with this prefix")
	fl.StringVar(&f.dotenv, "dotenv", "", "batch: set every variable of this .env file")
	fl.StringVar(&f.contentType, "content-type", "", "the content type stored with the value, e.g. text/plain")
	fl.StringArrayVar(&f.tags, "tag", nil, "a tag KEY=VALUE stored with the value (repeatable)")
	fl.BoolVar(&f.allowEmpty, "allow-empty", false, "store empty values too (refused by default)")
	fl.StringVar(&f.value, "value", "", "refused: "+argvAdvice)
	_ = fl.MarkHidden("value")
	return cmd
}

// sources counts the value sources given.
func (f *setFlags) sources(cmd *cobra.Command) []string {
	var s []string
	for _, n := range []string{"from-env", "from-file", "stdin", "from-env-prefix", "dotenv"} {
		if cmd.Flags().Changed(n) {
			s = append(s, "--"+n)
		}
	}
	return s
}

func (f *setFlags) options() (*keyvault.SetSecretOptions, error) {
	if f.contentType == "" && len(f.tags) == 0 {
		return nil, nil
	}
	o := &keyvault.SetSecretOptions{ContentType: f.contentType}
	for _, t := range f.tags {
		k, v, ok := strings.Cut(t, "=")
		if !ok || k == "" {
			return nil, usageError{fmt.Errorf("--tag %q: want KEY=VALUE", t)}
		}
		if o.Tags == nil {
			o.Tags = map[string]string{}
		}
		o.Tags[k] = v
	}
	return o, nil
}

func runSet(cmd *cobra.Command, f *setFlags, args []string) error {
	if cmd.Flags().Changed("value") {
		return usageError{errors.New("--value refused: " + argvAdvice)}
	}
	src := f.sources(cmd)
	batch := f.fromEnvPrefix != "" || f.dotenv != ""
	switch {
	case len(src) > 1:
		return usageError{fmt.Errorf("give one of --from-env, --from-file, --stdin, --from-env-prefix or --dotenv, not %s", strings.Join(src, " and "))}
	case batch && len(args) > 0:
		return usageError{fmt.Errorf("%s sets many secrets and takes no NAME argument (names come from the variables)", src[0])}
	case !batch && len(args) > 1:
		return usageError{errors.New("set takes one NAME and no value: " + argvAdvice)}
	case !batch && len(args) == 0:
		return usageError{errors.New("set needs a NAME and one of --from-env VAR, --from-file FILE or --stdin (or a batch: --from-env-prefix PREFIX or --dotenv FILE)")}
	case !batch && len(src) == 0:
		if strings.Contains(args[0], "=") {
			return checkName(args[0])
		}
		return usageError{fmt.Errorf("set %s: say where the value comes from: --from-env VAR, --from-file FILE or --stdin", args[0])}
	}
	opts, err := f.options()
	if err != nil {
		return err
	}
	if batch {
		return runSetBatch(cmd, f, opts)
	}

	name := args[0]
	if err := checkName(name); err != nil {
		return err
	}
	var value string
	switch {
	case f.fromEnv != "":
		v, ok := os.LookupEnv(f.fromEnv)
		if !ok {
			return usageError{fmt.Errorf("set %s: --from-env %s: the variable is not set; export it first", name, f.fromEnv)}
		}
		value = v
	case f.fromFile != "":
		// Bounded: Key Vault takes at most keyvault.MaxValueBytes, and a
		// device such as /dev/zero never ends.
		b, err := safefile.ReadFile(f.fromFile, keyvault.MaxValueBytes, "--from-file "+f.fromFile)
		if errors.Is(err, safefile.ErrTooLarge) {
			return usageError{fmt.Errorf("set %s: %w (Key Vault's limit for a value)", name, err)}
		}
		if err != nil {
			return fmt.Errorf("set %s: --from-file: %w", name, err)
		}
		value = string(b)
	case f.stdin:
		in := cmd.InOrStdin()
		if isTerminal(in) {
			fmt.Fprintf(cmd.ErrOrStderr(), "amlsecrets: type the value of %s, then Enter and Ctrl-D (it shows on screen; a pipe is safer)\n", name)
		}
		// Room for a final line break, which is dropped.
		b, err := safefile.ReadAll(in, keyvault.MaxValueBytes+2, "--stdin")
		if err != nil && !errors.Is(err, safefile.ErrTooLarge) {
			return fmt.Errorf("set %s: --stdin: %w", name, err)
		}
		value = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if err != nil || len(value) > keyvault.MaxValueBytes {
			return usageError{fmt.Errorf("set %s: %w (Key Vault's limit for a value)", name, &safefile.TooLargeError{What: "--stdin", Limit: keyvault.MaxValueBytes})}
		}
	}
	if value == "" && !f.allowEmpty {
		return usageError{fmt.Errorf("set %s: %s: %s", name, emptySource(f), emptyAdvice)}
	}
	ctx, cancel, kv, err := f.vaultFlags.open(cmd)
	if err != nil {
		return err
	}
	defer cancel()
	if _, err := kv.SetSecret(ctx, name, value, opts); err != nil {
		return withCause(ctx, err)
	}
	return nil
}

// item is one secret of a batch and where it came from.
type item struct {
	name, value, from string
}

// batchItems collects the secrets of a batch set, sorted by name.
func batchItems(f *setFlags) ([]item, error) {
	var items []item
	switch {
	case f.fromEnvPrefix != "":
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			rest, ok := strings.CutPrefix(k, f.fromEnvPrefix)
			if !ok || rest == "" {
				continue
			}
			items = append(items, item{name: keyvault.NameFromEnv(rest), value: v, from: k})
		}
		if len(items) == 0 {
			return nil, usageError{fmt.Errorf("--from-env-prefix %s: no environment variable has this prefix (and more after it)", f.fromEnvPrefix)}
		}
	case f.dotenv != "":
		file, err := os.Open(f.dotenv)
		if err != nil {
			return nil, fmt.Errorf("--dotenv: %w", err)
		}
		defer file.Close()
		pairs, err := dotenv.Parse(file)
		if err != nil {
			return nil, fmt.Errorf("--dotenv %s: %w", f.dotenv, err)
		}
		for k, v := range pairs {
			items = append(items, item{name: keyvault.NameFromEnv(k), value: v, from: k})
		}
		if len(items) == 0 {
			return nil, usageError{fmt.Errorf("--dotenv %s: the file sets no variable", f.dotenv)}
		}
	}
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.name, b.name) })
	// Check every name (and value size) before sending anything.
	var bad []string
	seen := map[string]string{}
	for _, it := range items {
		switch {
		case keyvault.ValidateName(it.name) != nil:
			bad = append(bad, fmt.Sprintf("%s (from %s): %s", it.name, it.from, causeOf(keyvault.ValidateName(it.name))))
		case seen[keyvault.NameKey(it.name)] != "":
			bad = append(bad, fmt.Sprintf("%s: both %s and %s map to it", it.name, seen[keyvault.NameKey(it.name)], it.from))
		case it.value == "" && !f.allowEmpty:
			bad = append(bad, fmt.Sprintf("%s (from %s): the value is empty", it.name, it.from))
		case keyvault.ValidateValue(it.value) != nil:
			bad = append(bad, fmt.Sprintf("%s (from %s): %s", it.name, it.from, causeOf(keyvault.ValidateValue(it.value))))
		}
		seen[keyvault.NameKey(it.name)] = it.from
	}
	if len(bad) > 0 {
		err := fmt.Errorf("nothing was set: %s", strings.Join(bad, "; "))
		if slices.ContainsFunc(bad, func(s string) bool { return strings.HasSuffix(s, "the value is empty") }) {
			err = fmt.Errorf("%w; pass --allow-empty to store empty values", err)
		}
		return nil, usageError{err}
	}
	return items, nil
}

func runSetBatch(cmd *cobra.Command, f *setFlags, opts *keyvault.SetSecretOptions) error {
	items, err := batchItems(f)
	if err != nil {
		return err
	}
	ctx, cancel, kv, err := f.vaultFlags.open(cmd)
	if err != nil {
		return err
	}
	defer cancel()
	stderr := cmd.ErrOrStderr()
	prog := &progress{w: stderr, on: isTerminal(stderr), total: len(items), verb: "set"}
	be := &keyvault.BatchError{Op: "set secrets", Failed: map[string]error{}, Total: len(items)}
	var mu sync.Mutex
	g := new(errgroup.Group)
	g.SetLimit(batchConcurrency)
	for _, it := range items {
		g.Go(func() error {
			_, err := kv.SetSecret(ctx, it.name, it.value, opts)
			err = withCause(ctx, err)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				be.Failed[it.name] = err
				prog.line(fmt.Sprintf("set %s: %s", it.name, causeOf(err)))
			} else {
				prog.line(fmt.Sprintf("set %s: ok", it.name))
			}
			return nil
		})
	}
	_ = g.Wait()
	prog.done()
	if len(be.Failed) > 0 {
		return batchSummary("set", be)
	}
	return nil
}

// progress writes outcome lines and, on a terminal, a progress line below
// them that each outcome overwrites.
type progress struct {
	w     io.Writer
	on    bool
	total int
	n     int
	verb  string
}

func (p *progress) line(s string) {
	p.n++
	if p.on {
		fmt.Fprintf(p.w, "\r\033[K%s\n%s: %d/%d done", s, p.verb, p.n, p.total)
		return
	}
	fmt.Fprintln(p.w, s)
}

func (p *progress) done() {
	if p.on && p.n > 0 {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
