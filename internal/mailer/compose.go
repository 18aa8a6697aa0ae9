package mailer

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/google/uuid"
)

//go:embed templates
var templateFS embed.FS

// Each email has a plain-text template (text/template: no escaping, the
// part is plain text) and an HTML one (html/template: every value is
// escaped for where it lands, so a workspace called <script> is text).
var (
	textTemplates = texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/*.txt"))
	htmlTemplates = htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/*.html"))
)

// Invitation is what an invitation email says.
type Invitation struct {
	Workspace string
	Inviter   string
	Role      string // member or admin
	ExpiresAt time.Time
	Token     string
}

// Approval is what a waitlist approval email says.
type Approval struct {
	Name string // "" when the entry gave none
	Code string
}

// Invitation composes email id, the invitation inv sent to to: the subject
// names the workspace; the body names the inviter, the role, the expiry and
// the link {APP_URL}/workspace-invite/{token}.
func (m *Mailer) Invitation(id uuid.UUID, to string, inv Invitation) (Message, error) {
	role := "a member"
	if inv.Role == "admin" {
		role = "an admin"
	}
	inviter := oneLine(inv.Inviter)
	if inviter == "" {
		inviter = "Someone"
	}
	data := map[string]string{
		"Workspace":  oneLine(inv.Workspace),
		"Inviter":    inviter,
		"RolePhrase": role,
		"Expires":    inv.ExpiresAt.UTC().Format("Monday, 2 January 2006 at 15:04 UTC"),
		"Link":       m.appURL + "/workspace-invite/" + url.PathEscape(inv.Token),
	}
	return m.compose(id, to, "You're invited to join "+data["Workspace"]+" on Praxiom", "invitation", data)
}

// WaitlistApproval composes email id, the access code a sent to to, with
// the link {APP_URL}/redeem?code={code}.
func (m *Mailer) WaitlistApproval(id uuid.UUID, to string, a Approval) (Message, error) {
	data := map[string]string{
		"Name": oneLine(a.Name),
		"Code": a.Code,
		"Link": m.appURL + "/redeem?code=" + url.QueryEscape(a.Code),
	}
	return m.compose(id, to, "Your Praxiom access code", "approval", data)
}

func (m *Mailer) compose(id uuid.UUID, to, subject, name string, data map[string]string) (Message, error) {
	var text, html bytes.Buffer
	if err := textTemplates.ExecuteTemplate(&text, name+".txt", data); err != nil {
		return Message{}, fmt.Errorf("mailer: %s text: %w", name, err)
	}
	if err := htmlTemplates.ExecuteTemplate(&html, name+".html", data); err != nil {
		return Message{}, fmt.Errorf("mailer: %s html: %w", name, err)
	}
	return Message{MessageID: m.MessageID(id), To: to, Subject: headerSafe(subject),
		Text: text.String(), HTML: html.String()}, nil
}

// oneLine folds s onto one line (what users name things may hold line
// breaks and other control characters).
func oneLine(s string) string { return strings.TrimSpace(headerSafe(s)) }
