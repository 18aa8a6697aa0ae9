package auth

// SetMaxTriedKids lowers the bound on remembered unknown kids so tests can
// check that it holds without thousands of fetches.
func SetMaxTriedKids(v *Verifier, n int) {
	v.keys.mu.Lock()
	defer v.keys.mu.Unlock()
	v.keys.maxTried = n
}

// TriedKids reports how many unknown kids are remembered.
func TriedKids(v *Verifier) int {
	v.keys.mu.Lock()
	defer v.keys.mu.Unlock()
	return len(v.keys.tried)
}
