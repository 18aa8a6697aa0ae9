package store

// Exported for the external tests of this package only.
var (
	UserWithWorkspaceSQL   = userWithWorkspace
	APIKeyWithWorkspaceSQL = apiKeyWithWorkspace
)
