// Package migrations holds the numbered goose SQL migrations, embedded in the
// binary and applied at start-up under a PostgreSQL advisory lock.
package migrations

import "embed"

// FS holds every *.sql migration.
//
//go:embed *.sql
var FS embed.FS
