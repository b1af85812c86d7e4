package busy

import "testing"

func TestASecondTakeNamesTheFirstUntilReleased(t *testing.T) {
	var s Set
	release, _ := s.Take("blog", "a deploy")
	if release == nil {
		t.Fatal("first Take of a free key was refused")
	}
	if again, holder := s.Take("blog", "a restart"); again != nil || holder != "a deploy" {
		t.Fatalf("second Take: release %v, holder %q; want refused by %q", again != nil, holder, "a deploy")
	}
	if other, _ := s.Take("shop", "a restart"); other == nil {
		t.Fatal("a Take of another key was refused")
	}
	release()
	if after, _ := s.Take("blog", "a restart"); after == nil {
		t.Fatal("Take after release was refused")
	}
}
