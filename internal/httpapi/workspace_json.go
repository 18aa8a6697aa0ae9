package httpapi

import (
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/store"
)

// workspaceJSON is the workspace object of contract §5.
type workspaceJSON struct {
	ID                 uuid.UUID        `json:"id"`
	Name               string           `json:"name"`
	ProductName        *string          `json:"product_name"`
	ProductDescription *string          `json:"product_description"`
	TargetUsers        *string          `json:"target_users"`
	CurrentStage       *string          `json:"current_stage"`
	Role               string           `json:"role"`
	Subscription       subscriptionJSON `json:"subscription"`
	CreatedAt          time.Time        `json:"created_at"`
	UpdatedAt          time.Time        `json:"updated_at"`
}

type subscriptionJSON struct {
	Plan        string     `json:"plan"`
	Status      string     `json:"status"`
	TrialEndsAt *time.Time `json:"trial_ends_at"`
}

func toWorkspaceJSON(w store.Workspace) workspaceJSON {
	return workspaceJSON{
		ID: w.ID, Name: w.Name, ProductName: w.ProductName, ProductDescription: w.ProductDescription,
		TargetUsers: w.TargetUsers, CurrentStage: w.CurrentStage, Role: w.Role,
		Subscription: subscriptionJSON{Plan: w.Plan, Status: w.SubscriptionStatus, TrialEndsAt: utc(w.TrialEndsAt)},
		CreatedAt:    w.CreatedAt.UTC(), UpdatedAt: w.UpdatedAt.UTC(),
	}
}
