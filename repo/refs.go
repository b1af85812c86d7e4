package repo

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// RefUpdate is one line of a pre-receive hook's input.
type RefUpdate struct {
	Old string `json:"old"`
	New string `json:"new"`
	Ref string `json:"ref"`
}

// Deletes reports whether the update removes the ref.
func (u RefUpdate) Deletes() bool { return isZeroID(u.New) }

func isZeroID(id string) bool { return id != "" && strings.Trim(id, "0") == "" }

// ReadRefUpdates parses a pre-receive hook's standard input:
// "<old-value> SP <new-value> SP <ref-name> LF" per updated ref.
func ReadRefUpdates(r io.Reader) ([]RefUpdate, error) {
	var out []RefUpdate
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("unexpected pre-receive line %q", line)
		}
		// git names each ref once; a second update of the deploy branch
		// would leave one of the two undeployed and unreported.
		if seen[f[2]] {
			return nil, fmt.Errorf("pre-receive input updates %s twice", f[2])
		}
		seen[f[2]] = true
		out = append(out, RefUpdate{Old: f[0], New: f[1], Ref: f[2]})
	}
	if err := sc.Err(); err != nil {
		// Refuse the whole push, not only the updates after a bad line.
		return nil, fmt.Errorf("pre-receive input: %w", err)
	}
	return out, nil
}

// DeployableBranches are the branches whose first push makes them an app's
// deploy branch.
var DeployableBranches = []string{"main", "master"}

// PushPlan is what one push does to an app.
type PushPlan struct {
	// Deploy is the update to build and release; nil when the push only
	// stores refs.
	Deploy *RefUpdate
	// Branch is the deploy branch (newly chosen when the app had none).
	Branch string
	// Stored lists the updates the push stores (or deletes) without
	// deploying.
	Stored []RefUpdate
}

// PlanPush decides what a push does, given the app's deploy branch ("" if
// it has none yet). An app's first push of main or master makes that
// branch its deploy branch (main wins when both come at once); pushes to
// other refs are stored and not deployed. Deleting the deploy branch is
// refused, because it is what the app serves.
func PlanPush(deployBranch string, updates []RefUpdate) (PushPlan, error) {
	plan := PushPlan{Branch: deployBranch}
	if plan.Branch == "" {
	choose:
		for _, name := range DeployableBranches {
			for _, u := range updates {
				if u.Ref == "refs/heads/"+name && !u.Deletes() {
					plan.Branch = name
					break choose
				}
			}
		}
	}
	for i, u := range updates {
		if plan.Branch != "" && u.Ref == "refs/heads/"+plan.Branch {
			if u.Deletes() {
				return PushPlan{}, fmt.Errorf("refusing to delete branch %s: it is the deploy branch", plan.Branch)
			}
			plan.Deploy = &updates[i]
			continue
		}
		plan.Stored = append(plan.Stored, u)
	}
	return plan, nil
}
