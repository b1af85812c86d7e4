package platform

import (
	"testing"
	"time"
)

// An app's own setting wins over the global one, which wins over the
// default.
func TestGlobalDefaultsOrder(t *testing.T) {
	p := &Platform{}
	own := &App{RestartPolicy: "always", Checks: ChecksSettings{WaitToRetire: 3}}
	none := &App{}
	if got := p.waitToRetireOf(none); got != DefaultWaitToRetire*time.Second {
		t.Errorf("default wait %s", got)
	}
	if got := p.restartPolicyOf(none); got != DefaultRestartPolicy {
		t.Errorf("default policy %s", got)
	}
	p.globalWait, p.globalPolicy = 9, "unless-stopped"
	if got := p.waitToRetireOf(none); got != 9*time.Second {
		t.Errorf("global wait: %s", got)
	}
	if got := p.restartPolicyOf(none); got != "unless-stopped" {
		t.Errorf("global policy: %s", got)
	}
	if got := p.waitToRetireOf(own); got != 3*time.Second {
		t.Errorf("own wait: %s", got)
	}
	if got := p.restartPolicyOf(own); got != "always" {
		t.Errorf("own policy: %s", got)
	}
}
