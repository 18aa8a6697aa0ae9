package main

import (
	"testing"
	"time"
)

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

// TestProfileSlices: a pair's profile slices alternate which side goes
// first, each side first in half of an even number of slices; the CPU per
// request is the slices' samples over their requests (not a mean of their
// ratios); a slice lasts whole seconds, at least one.
func TestProfileSlices(t *testing.T) {
	firsts := map[string]int{}
	for i := range 4 {
		o := pairOrder("ws-on", "ws-ref", i)
		if len(o) != 2 || o[0] == o[1] || (o[0] != "ws-on" && o[0] != "ws-ref") || (o[1] != "ws-on" && o[1] != "ws-ref") {
			t.Fatalf("slice %d: order %v", i, o)
		}
		firsts[o[0]]++
		if i > 0 && o[0] == pairOrder("ws-on", "ws-ref", i-1)[0] {
			t.Errorf("slices %d and %d start with the same side %s", i-1, i, o[0])
		}
	}
	if firsts["ws-on"] != 2 || firsts["ws-ref"] != 2 {
		t.Errorf("first in 4 slices: %v", firsts)
	}
	// 1 s of samples for 10,000 requests, then 3 s for 10,000: 200 µs a
	// request, where the mean of the slices' ratios would say 200 too but
	// for unequal counts would not.
	got := cpuPerRequest([]profilePart{{sampled: 1, requests: 10000}, {sampled: 3, requests: 10000}})
	if got != 200 {
		t.Errorf("cpuPerRequest = %v, want 200", got)
	}
	got = cpuPerRequest([]profilePart{{sampled: 1, requests: 5000}, {sampled: 1, requests: 15000}})
	if got != 100 {
		t.Errorf("cpuPerRequest of unequal slices = %v, want 100 (2 s over 20,000)", got)
	}
	if got := cpuPerRequest(nil); got != 0 {
		t.Errorf("cpuPerRequest(nil) = %v", got)
	}
	for _, c := range []struct {
		d     time.Duration
		parts int
		want  int
	}{{15 * time.Second, 2, 7}, {4 * time.Second, 2, 2}, {4 * time.Second, 1, 4}, {time.Second, 3, 1}} {
		if got := profilePartSeconds(c.d, c.parts); got != c.want {
			t.Errorf("profilePartSeconds(%s, %d) = %d, want %d", c.d, c.parts, got, c.want)
		}
	}
}

// TestProcCPUPerRequest: the /proc check of a profile sums the server's CPU
// over its slices' wrk runs and divides by those runs' requests.
func TestProcCPUPerRequest(t *testing.T) {
	got := procCPUPerRequest([]profilePart{{procCPU: 0.5, wrkServed: 5000}, {procCPU: 1.5, wrkServed: 15000}})
	if got != 100 {
		t.Errorf("procCPUPerRequest = %v, want 100 (2 s over 20,000)", got)
	}
	if got := procCPUPerRequest(nil); got != 0 {
		t.Errorf("procCPUPerRequest(nil) = %v", got)
	}
}
