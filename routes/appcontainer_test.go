package routes

import (
	"testing"

	"github.com/berth-paas/berth/docker"
)

// A one-off adopted from before instance IDs is never one of its app's
// containers, whatever berth.app it carries.
func TestAppContainer(t *testing.T) {
	for _, tc := range []struct {
		labels map[string]string
		want   bool
	}{
		{map[string]string{docker.LabelApp: "a"}, true},
		{map[string]string{docker.LabelApp: "a", docker.LabelOneOff: ""}, true},
		{map[string]string{docker.LabelApp: "a", docker.LabelOneOff: "b"}, false},
		{map[string]string{docker.LabelApp: "", docker.LabelOneOff: "b"}, false},
	} {
		if got := AppContainer(docker.Container{Labels: tc.labels}); got != tc.want {
			t.Errorf("AppContainer(%v) = %v, want %v", tc.labels, got, tc.want)
		}
	}
}
