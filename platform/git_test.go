package platform

import "testing"

func TestValidImageRef(t *testing.T) {
	for _, ok := range []string{"busybox", "berth/blog:v3", "registry.example.com:5000/team/app:1.0", "app@sha256:0123abcd", "sha256:0123abcd"} {
		if err := validImageRef(ok); err != nil {
			t.Errorf("validImageRef(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-rm", "a b", "a;b"} {
		if err := validImageRef(bad); err == nil {
			t.Errorf("validImageRef(%q) accepted it", bad)
		}
	}
}
