package docker

import (
	"strings"
	"testing"
)

// TestCheckVolumeOwner: a build cache volume is used only by the Berth
// (instance label) and the app (app label) it was made for.
func TestCheckVolumeOwner(t *testing.T) {
	want := map[string]string{LabelApp: "a"}
	for _, c := range []struct {
		have map[string]string
		err  string
	}{
		{map[string]string{LabelInstance: "i1", LabelApp: "a"}, ""},
		{map[string]string{LabelInstance: "i2", LabelApp: "a"}, `is not this Berth's (its berth.instance label is "i2")`},
		{map[string]string{LabelInstance: "i1", LabelApp: "pack-cache-a"}, `is not the build cache of app a (its berth.app label is "pack-cache-a")`},
		{map[string]string{LabelInstance: "i1"}, `is not the build cache of app a (its berth.app label is "")`},
	} {
		err := checkVolumeOwner("v", c.have, "i1", want)
		if (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("labels %v: %v, want %q", c.have, err, c.err)
		}
	}
	if err := checkVolumeOwner("v", map[string]string{LabelInstance: "i1"}, "i1", nil); err != nil {
		t.Errorf("no app asked: %v", err)
	}
}
