package store

import (
	"context"

	"github.com/google/uuid"
)

// Exported for the external tests of this package only.
var (
	UserWithWorkspaceSQL   = userWithWorkspace
	APIKeyWithWorkspaceSQL = apiKeyWithWorkspace
	AccountByClerkIDSQL    = accountByClerkID
)

// RenameWorkspace is UpdateWorkspace's write (the actor's role re-read
// under the workspace lock, the UPDATE) in the same change, with its audit
// event when audited: BenchmarkAuditedWrite compares the two.
func (s *Store) RenameWorkspace(ctx context.Context, a Actor, wsID uuid.UUID, name string, audited bool) error {
	return s.change(ctx, a, "rename workspace", func(tx *changeTx) error {
		if _, err := lockRole(ctx, tx, wsID, a, RoleAdmin); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE workspaces SET name = $2, updated_at = now() WHERE id = $1`, wsID, name); err != nil {
			return err
		}
		if audited {
			tx.record(ActionWorkspaceUpdated, &wsID, TargetWorkspace, wsID.String(), map[string]any{"fields": []string{"name"}})
		}
		return nil
	})
}
