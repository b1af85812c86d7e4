package repo

import (
	"strings"
	"testing"
)

const (
	zero = "0000000000000000000000000000000000000000"
	revA = "1111111111111111111111111111111111111111"
	revB = "2222222222222222222222222222222222222222"
)

func TestReadRefUpdates(t *testing.T) {
	in := zero + " " + revA + " refs/heads/main\n" + revA + " " + revB + " refs/heads/dev\n"
	got, err := ReadRefUpdates(strings.NewReader(in))
	if err != nil || len(got) != 2 || got[1] != (RefUpdate{Old: revA, New: revB, Ref: "refs/heads/dev"}) {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, err := ReadRefUpdates(strings.NewReader("garbage\n")); err == nil {
		t.Fatal("a malformed line was accepted")
	}
}

func TestFirstPushOfMainBecomesDeployBranch(t *testing.T) {
	plan, err := PlanPush("", []RefUpdate{{zero, revA, "refs/heads/main"}})
	if err != nil || plan.Branch != "main" || plan.Deploy == nil || plan.Deploy.New != revA {
		t.Fatalf("plan %+v, %v", plan, err)
	}
}

func TestFirstPushOfMasterBecomesDeployBranch(t *testing.T) {
	plan, _ := PlanPush("", []RefUpdate{{zero, revA, "refs/heads/master"}})
	if plan.Branch != "master" || plan.Deploy == nil {
		t.Fatalf("plan %+v", plan)
	}
}

func TestMainWinsWhenBothArePushed(t *testing.T) {
	plan, _ := PlanPush("", []RefUpdate{{zero, revA, "refs/heads/master"}, {zero, revB, "refs/heads/main"}})
	if plan.Branch != "main" || plan.Deploy.New != revB || len(plan.Stored) != 1 {
		t.Fatalf("plan %+v", plan)
	}
}

func TestOtherBranchIsStoredNotDeployed(t *testing.T) {
	plan, err := PlanPush("main", []RefUpdate{{zero, revA, "refs/heads/feature"}})
	if err != nil || plan.Deploy != nil || len(plan.Stored) != 1 {
		t.Fatalf("plan %+v, %v", plan, err)
	}
	plan, _ = PlanPush("", []RefUpdate{{zero, revA, "refs/heads/feature"}})
	if plan.Deploy != nil || plan.Branch != "" {
		t.Fatalf("a feature branch became the deploy branch: %+v", plan)
	}
}

func TestMasterIsStoredOnceMainDeploys(t *testing.T) {
	plan, _ := PlanPush("main", []RefUpdate{{zero, revA, "refs/heads/master"}})
	if plan.Deploy != nil {
		t.Fatalf("master deployed on a main app: %+v", plan)
	}
}

func TestDeletingTheDeployBranchIsRefused(t *testing.T) {
	if _, err := PlanPush("main", []RefUpdate{{revA, zero, "refs/heads/main"}}); err == nil {
		t.Fatal("deleting the deploy branch was accepted")
	}
	if plan, err := PlanPush("main", []RefUpdate{{revA, zero, "refs/heads/old"}}); err != nil || plan.Deploy != nil {
		t.Fatalf("deleting another branch: %+v, %v", plan, err)
	}
}
