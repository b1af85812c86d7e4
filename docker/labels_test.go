package docker

import "testing"

// Every label Berth reads is set by Berth on each container it creates,
// so none can come from the image; the instance ID cannot be given.
func TestStampSetsEveryBerthLabel(t *testing.T) {
	c := newClient(&conn{})
	c.SetInstance("me", nil)
	got := c.conn.stamp(map[string]string{LabelOneOff: "app-a", LabelInstance: "someone-else", "other": "x"})
	for _, k := range containerLabels {
		v, ok := got[k]
		if !ok {
			t.Errorf("label %s is not set: an image's %s would take effect", k, k)
		}
		switch k {
		case LabelOneOff:
			if v != "app-a" {
				t.Errorf("%s = %q, want app-a", k, v)
			}
		case LabelInstance:
			if v != "me" {
				t.Errorf("%s = %q, want this Berth's ID", k, v)
			}
		default:
			if v != "" {
				t.Errorf("%s = %q, want empty", k, v)
			}
		}
	}
	if got["other"] != "x" {
		t.Errorf("a given label was dropped: %v", got)
	}
	for _, k := range containerLabels {
		if !IsBerthLabel(k) {
			t.Errorf("%s is not in Berth's namespace, so an image carrying it is not refused", k)
		}
	}
}

func TestOwns(t *testing.T) {
	c := newClient(&conn{})
	c.SetInstance("me", []string{"old"})
	for _, tc := range []struct {
		id     string
		labels map[string]string
		want   bool
	}{
		{"a", map[string]string{LabelInstance: "me"}, true},
		{"b", map[string]string{LabelInstance: "you"}, false},
		{"c", map[string]string{LabelApp: "x"}, false}, // no ID, not adopted
		{"old", map[string]string{LabelApp: "x"}, true},
		{"d", map[string]string{LabelInstance: ""}, false},
	} {
		if got := c.Owns(tc.id, tc.labels); got != tc.want {
			t.Errorf("Owns(%s, %v) = %v, want %v", tc.id, tc.labels, got, tc.want)
		}
	}
}

func TestCheckLabels(t *testing.T) {
	if err := CheckLabels(map[string]string{"org.opencontainers.image.title": "x", LabelApp: ""}); err != nil {
		t.Errorf("an image without berth.* values was refused: %v", err)
	}
	err := CheckLabels(map[string]string{LabelProcess: "web", LabelApp: "victim", "berth.whatever": "1"})
	if err == nil {
		t.Fatal("an image with berth.app=victim was accepted")
	}
	if want := `the image sets the label berth.app="victim"`; len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
		t.Errorf("error %q does not name the first berth.* label", err)
	}
}
