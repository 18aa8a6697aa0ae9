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

// Every round runs every scenario once, each of ours next to the
// reference's on its route, the reference first in every other round.
func TestRoundOrder(t *testing.T) {
	var scs []scenario
	for _, k := range []string{"healthz", "me-on", "me-ref", "me-off", "ws-on", "ws-ref", "ws-off", "key-on", "key-ref", "ws-flood"} {
		scs = append(scs, scenario{Key: k})
	}
	firsts := map[string]bool{}
	for r := range 7 {
		order := roundOrder(scs, r)
		pos := map[string]int{}
		for i, sc := range order {
			if _, dup := pos[sc.Key]; dup {
				t.Fatalf("round %d runs %s twice", r, sc.Key)
			}
			pos[sc.Key] = i
		}
		if len(order) != len(scs) {
			t.Fatalf("round %d runs %d scenarios, want %d", r, len(order), len(scs))
		}
		for _, x := range sideBySide {
			d := pos[x.Ref] - pos[x.Ours]
			if want := map[bool]int{false: 1, true: -1}[r%2 == 1]; d != want {
				t.Errorf("round %d: %s at %d, %s at %d; want the reference %+d from ours", r, x.Ours, pos[x.Ours], x.Ref, pos[x.Ref], want)
			}
		}
		firsts[order[0].Key] = true
	}
	if len(firsts) < 7 {
		t.Errorf("the rounds start with only %v: the order does not rotate", firsts)
	}
}
