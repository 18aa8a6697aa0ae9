package main

import "testing"

// A round's ratio pairs the server's run with the reference's of the same
// round; rounds one side lacks are left out.
func TestPairedRatios(t *testing.T) {
	ours := []wrkResult{{RPS: 110}, {RPS: 90}, {RPS: 100}}
	ref := []wrkResult{{RPS: 100}, {RPS: 100}}
	got := pairedRatios(ours, ref)
	if len(got) != 2 || got[0] != 1.1 || got[1] != 0.9 {
		t.Fatalf("pairedRatios = %v, want [1.1 0.9]", got)
	}
}
