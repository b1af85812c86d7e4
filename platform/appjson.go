package platform

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// AppJSON is the part of Heroku's app.json that Berth reads, in Dokku's
// dialect.
type AppJSON struct {
	Scripts struct {
		Dokku struct {
			Predeploy  string `json:"predeploy,omitempty"`
			Postdeploy string `json:"postdeploy,omitempty"`
		} `json:"dokku"`
	} `json:"scripts"`
	Formation    map[string]FormationEntry `json:"formation,omitempty"`
	Healthchecks map[string][]Healthcheck  `json:"healthchecks,omitempty"`
}

// FormationEntry is app.json's formation for one process type.
type FormationEntry struct {
	Quantity *int `json:"quantity,omitempty"`
}

// Healthcheck is one of a process type's checks in Dokku's app.json
// format. A check with a path is an HTTP GET that must answer 2xx or 3xx
// (and contain Content, when given); a check with Uptime wants the
// container up that many seconds; any other check wants the port to
// accept connections.
type Healthcheck struct {
	Type         string   `json:"type,omitempty"` // startup, readiness or liveness
	Name         string   `json:"name,omitempty"`
	Path         string   `json:"path,omitempty"`
	Port         int      `json:"port,omitempty"`
	Content      string   `json:"content,omitempty"`
	Attempts     int      `json:"attempts,omitempty"`
	Timeout      int      `json:"timeout,omitempty"`
	Wait         int      `json:"wait,omitempty"`
	InitialDelay int      `json:"initialDelay,omitempty"`
	Uptime       int      `json:"uptime,omitempty"`
	Command      []string `json:"command,omitempty"`
}

// Defaults of a check's fields: 5 attempts, 5 s apart, as Dokku's CHECKS
// file had them, each with a 5 s timeout.
const (
	defaultCheckAttempts = 5
	defaultCheckTimeout  = 5 * time.Second
	defaultCheckWait     = 5 * time.Second
	// maxCheckSeconds bounds a check's numbers (68 years) so that none
	// overflows a time.Duration or a 32-bit int.
	maxCheckSeconds = math.MaxInt32
)

func (h Healthcheck) AttemptCount() int {
	if h.Attempts > 0 {
		return h.Attempts
	}
	return defaultCheckAttempts
}

func (h Healthcheck) TimeoutDuration() time.Duration {
	if h.Timeout > 0 {
		return time.Duration(h.Timeout) * time.Second
	}
	return defaultCheckTimeout
}

func (h Healthcheck) WaitDuration() time.Duration {
	if h.Wait > 0 {
		return time.Duration(h.Wait) * time.Second
	}
	return defaultCheckWait
}

func (h Healthcheck) Describe() string {
	if h.Name != "" {
		return h.Name
	}
	switch {
	case h.Path != "":
		return "GET " + h.Path
	case h.Uptime > 0:
		return fmt.Sprintf("uptime %ds", h.Uptime)
	}
	return "port accepts connections"
}

// ParseAppJSON reads app.json and checks what Berth relies on.
func ParseAppJSON(data []byte) (*AppJSON, error) {
	var a AppJSON
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("app.json: %w", err)
	}
	for typ, f := range a.Formation {
		if f.Quantity != nil && *f.Quantity < 0 {
			return nil, fmt.Errorf("app.json: formation.%s.quantity must not be negative", typ)
		}
	}
	for typ, checks := range a.Healthchecks {
		for i, c := range checks {
			switch c.Type {
			case "", "startup", "readiness", "liveness":
			default:
				return nil, fmt.Errorf("app.json: healthchecks.%s[%d]: unknown type %q (startup, readiness or liveness)", typ, i, c.Type)
			}
			if len(c.Command) > 0 {
				return nil, fmt.Errorf("app.json: healthchecks.%s[%d]: command checks are not supported; use a path, an uptime or the port", typ, i)
			}
			if c.Port < 0 || c.Port > 65535 {
				return nil, fmt.Errorf("app.json: healthchecks.%s[%d]: port %d is not a port (1 to 65535; leave it out for the app's $PORT)", typ, i, c.Port)
			}
			// Negative numbers used to be ignored, and seconds beyond a
			// time.Duration wrapped round to a negative timeout.
			for _, n := range []struct {
				name  string
				value int
			}{{"attempts", c.Attempts}, {"timeout", c.Timeout}, {"wait", c.Wait}, {"initialDelay", c.InitialDelay}, {"uptime", c.Uptime}} {
				if n.value < 0 || n.value > maxCheckSeconds {
					return nil, fmt.Errorf("app.json: healthchecks.%s[%d]: %s %d must be from 0 to %d", typ, i, n.name, n.value, maxCheckSeconds)
				}
			}
		}
	}
	return &a, nil
}

// deployChecks returns the checks a new container of type typ must pass
// before it takes traffic: startup and readiness checks (liveness checks
// are for a running container).
func (a *AppJSON) DeployChecks(typ string) []Healthcheck {
	if a == nil {
		return nil
	}
	var out []Healthcheck
	for _, c := range a.Healthchecks[typ] {
		if c.Type != "liveness" {
			out = append(out, c)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
