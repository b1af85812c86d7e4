package docker

import "testing"

func TestBuildKitCgroupGetsTheLargestRunningLimit(t *testing.T) {
	a, b, none := &bkLimit{memory: 1 << 30, swap: 1 << 30, nanoCPUs: 1e9}, &bkLimit{memory: 2 << 30, swap: 2 << 30, nanoCPUs: 5e8}, &bkLimit{}
	if got := maxLimit(map[*bkLimit]bool{a: true, b: true}); got != (bkLimit{2 << 30, 2 << 30, 1e9}) {
		t.Fatalf("%+v", got)
	}
	// One build without a limit lifts it for all: a total can only be
	// as tight as the loosest build running.
	if got := maxLimit(map[*bkLimit]bool{a: true, none: true}); got.memory != 0 || got.nanoCPUs != 0 {
		t.Fatalf("%+v", got)
	}
	if got := maxLimit(nil); got != (bkLimit{}) {
		t.Fatalf("%+v", got)
	}
}
