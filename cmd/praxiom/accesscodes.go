package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/store"
)

const accessCodesUsage = "usage: praxiom access-codes create --count N [--max-redemptions M] [--expires-in 720h] [--metadata '{}']"

// accessCodes runs `praxiom access-codes create` against DATABASE_URL and
// prints the new codes, one a line. It creates them with the same store
// method as POST /api/admin/access-codes, so the same rules hold.
func accessCodes(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New(accessCodesUsage)
	}
	fs := flag.NewFlagSet("access-codes create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	count := fs.Int("count", 0, "how many codes to create (1..1000)")
	maxRedemptions := fs.Int("max-redemptions", 1, "redemptions per code (1..10000)")
	expiresIn := fs.Duration("expires-in", 0, "validity from now, e.g. 720h (0: never expires)")
	metadata := fs.String("metadata", "{}", "a JSON object stored with each code (at most 4 KiB)")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w\n%s", err, accessCodesUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q\n%s", fs.Arg(0), accessCodesUsage)
	}
	n := store.NewAccessCodes{Count: *count, MaxRedemptions: *maxRedemptions, Metadata: json.RawMessage(*metadata)}
	switch {
	case *expiresIn < 0:
		return errors.New("--expires-in must be positive")
	case *expiresIn > 0:
		n.ExpiresAt = new(time.Now().Add(*expiresIn))
	}
	st, err := openAdminStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer st.Close()
	codes, err := st.CreateAccessCodes(ctx, store.CLIActor, n)
	if e, ok := apperr.As(err); ok && len(e.Fields) > 0 {
		return errors.New(describeFields(e.Fields))
	}
	if err != nil {
		return err
	}
	for _, c := range codes {
		fmt.Fprintln(stdout, c.Code)
	}
	return nil
}

// describeFields renders validation problems with the command's flag names.
func describeFields(fields map[string]string) string {
	flagOf := map[string]string{"count": "--count", "max_redemptions": "--max-redemptions",
		"expires_at": "--expires-in", "metadata": "--metadata"}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		name := flagOf[k]
		if name == "" {
			name = k
		}
		parts = append(parts, name+" "+fields[k])
	}
	return "invalid: " + strings.Join(parts, "; ")
}
