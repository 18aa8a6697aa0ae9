package httpapi

// TEMPORARY while the tenancy handlers are written: each helper deletes the
// lines of the handlers it implements; this file must be gone before commit.

import "net/http"

func notYet(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotImplemented) }

// workspaces, settings, members (helper "workspaces")
func (s *Server) createWorkspace(w http.ResponseWriter, r *http.Request)  { notYet(w, r) }
func (s *Server) listWorkspaces(w http.ResponseWriter, r *http.Request)   { notYet(w, r) }
func (s *Server) getWorkspace(w http.ResponseWriter, r *http.Request)     { notYet(w, r) }
func (s *Server) updateWorkspace(w http.ResponseWriter, r *http.Request)  { notYet(w, r) }
func (s *Server) deleteWorkspace(w http.ResponseWriter, r *http.Request)  { notYet(w, r) }
func (s *Server) getSettings(w http.ResponseWriter, r *http.Request)      { notYet(w, r) }
func (s *Server) updateSettings(w http.ResponseWriter, r *http.Request)   { notYet(w, r) }
func (s *Server) listMembers(w http.ResponseWriter, r *http.Request)      { notYet(w, r) }
func (s *Server) changeMemberRole(w http.ResponseWriter, r *http.Request) { notYet(w, r) }
func (s *Server) removeMember(w http.ResponseWriter, r *http.Request)     { notYet(w, r) }

// invitations and access codes (helper "invitations")
func (s *Server) createInvitation(w http.ResponseWriter, r *http.Request)  { notYet(w, r) }
func (s *Server) listInvitations(w http.ResponseWriter, r *http.Request)   { notYet(w, r) }
func (s *Server) revokeInvitation(w http.ResponseWriter, r *http.Request)  { notYet(w, r) }
func (s *Server) lookupInvitation(w http.ResponseWriter, r *http.Request)  { notYet(w, r) }
func (s *Server) acceptInvitation(w http.ResponseWriter, r *http.Request)  { notYet(w, r) }
func (s *Server) redeemAccessCode(w http.ResponseWriter, r *http.Request)  { notYet(w, r) }
func (s *Server) createAccessCodes(w http.ResponseWriter, r *http.Request) { notYet(w, r) }
func (s *Server) listAccessCodes(w http.ResponseWriter, r *http.Request)   { notYet(w, r) }
func (s *Server) revokeAccessCode(w http.ResponseWriter, r *http.Request)  { notYet(w, r) }
